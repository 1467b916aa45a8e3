// KV cache on SmolLM2: quantized-KV fidelity against the f16 run, paged memory growth, prefix-cache
// exactness, generation past the context under each policy. Skipped when the weights are absent.
import EdgeLM
import Foundation
import Testing

private let smol = RealModel.path(RealModel.smolLM)

/// VmRSS of this process in bytes.
private func residentBytes() -> Int {
    guard let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
    for line in s.split(separator: "\n") where line.hasPrefix("VmRSS:") {
        return (line.split(separator: " ").compactMap { Int($0) }.first ?? 0) * 1024
    }
    return 0
}

private let prompts = ["The capital of France is", "Once upon a time", "def fibonacci(n):"]

@Suite("KV cache on SmolLM2", .serialized, .enabled(if: smol != nil, "needs weights/\(RealModel.smolLM)"))
struct KVCacheRealModelTests {
    /// Stated tolerances (max |Δlogit| over the prefill logits and 16 teacher-forced decode steps of the three
    /// reference prompts, against the f16 cache, and greedy top-1 agreement): q8_0 ≤ 2.0 and ≥ 44/48 (measured
    /// 1.33, 46/48; llama.cpp's own q8_0 cache differs from its f16 one by up to 1.34 on the same prefill
    /// logits: SmolLM2's keys have outlier channels). q4_0 does not hold fidelity (measured 10.9, 41/48;
    /// llama.cpp 4.4 on prefill alone): the bound below only records it, and conformance rejects it.
    @Test("quantized KV stays within the stated logit tolerance of the f16 cache",
          arguments: [(KVCacheType.q8_0, Float(2.0), 44), (.q4_0, 16, 36)])
    func quantizedFidelity(type: KVCacheType, tolerance: Float, minAgree: Int) throws {
        let model = try Model(path: smol!)
        let f = try Session(model: model, options: SessionOptions(contextLength: 128, threads: 2))
        let q = try Session(model: model, options: SessionOptions(contextLength: 128, threads: 2, kvType: type))
        var worst: Float = 0, top1Agree = 0, steps = 0
        func argmax(_ l: [Float]) -> Int { l.indices.max { l[$0] < l[$1] }! }
        for p in prompts {
            f.reset(); q.reset()
            let ids = try f.promptTokens(for: GenerationRequest(prompt: p))
            var lf = Array(try f.prefill(ids)), lq = Array(try q.prefill(ids))
            for _ in 0..<16 {
                worst = max(worst, zip(lf, lq).map { abs($0 - $1) }.max()!)
                steps += 1
                if argmax(lf) == argmax(lq) { top1Agree += 1 }
                let next = Int32(argmax(lf))           // teacher-forced with the f16 choice
                lf = Array(try f.decode(next)); lq = Array(try q.decode(next))
            }
        }
        print("KV \(type.rawValue): max |Δlogit| \(worst), top-1 agreement \(top1Agree)/\(steps)")
        #expect(worst <= tolerance, "max |Δlogit| \(worst)")
        #expect(worst > 0)
        #expect(top1Agree >= minAgree && steps == 48)
    }

    @Test("paged KV: a short conversation in an 8192-token context touches only a few pages")
    func pagedMemoryGrowsWithUse() throws {
        let model = try Model(path: smol!)
        let options = SessionOptions(contextLength: 8192, batchSize: 32, threads: 2)
        let reserved = try Session.memoryRequirement(model: model, options: options).kvCache
        // Warm the weights first so their pages do not count.
        let warm = try Session(model: model, options: SessionOptions(contextLength: 64, batchSize: 32, threads: 2))
        _ = try warm.prefill(try warm.promptTokens(for: GenerationRequest(prompt: prompts[1])))
        let before = residentBytes()
        let s = try Session(model: model, options: options)
        let r = try s.generate(GenerationRequest(prompt: prompts[1], maxTokens: 40))
        let grown = residentBytes() - before
        print("ctx 8192: KV reserved \(reserved >> 20) MiB; RSS grew \(grown >> 10) KiB after \(s.position) tokens")
        #expect(r.tokens.count > 0)
        #expect(reserved > 150 << 20)
        // One 256-position page of 30 layers is 5.6 MiB; scratch for batch 32 is ~8 MiB.
        #expect(grown < 20 << 20, "RSS grew \(grown) bytes")
    }

    @Test("prefix cache: restored KV gives bit-identical logits to re-prefilling the instruction")
    func prefixCacheExact() throws {
        let model = try Model(path: smol!)
        let s = try Session(model: model, options: SessionOptions(contextLength: 256, threads: 2))
        let instruction = try s.promptTokens(for: GenerationRequest(prompt: "Classify the sentiment of the text as positive or negative.\nText:"))
        let cache = PrefixCache(capacityBytes: 64 << 20)
        for input in [" I loved this film.", " The service was terribly slow."] {
            let rest = model.tokenizer.encode(input, parseSpecial: false)
            s.reset()
            let got = Array(try s.prefill(instruction + rest, reusingPrefix: instruction.count, from: cache))
            let fresh = try Session(model: model, options: SessionOptions(contextLength: 256, threads: 2))
            _ = try fresh.prefill(instruction)
            let want = Array(try fresh.prefill(rest))
            #expect(got == want)
        }
        #expect(cache.hits == 1 && cache.misses == 1)
    }

    @Test("a generation past the context runs to completion under each policy",
          arguments: [KVCachePolicy.slidingWindow(sinks: 4), .contextShift(keep: 4)])
    func pastTheContext(policy: KVCachePolicy) throws {
        let model = try Model(path: smol!)
        let s = try Session(model: model, options: SessionOptions(contextLength: 64, batchSize: 16, threads: 2, kvPolicy: policy))
        var r = GenerationRequest(prompt: prompts[1], maxTokens: 150)
        r.stopStrings = []
        let out = try s.generate(r)
        #expect(out.stopReason == .maxTokens || out.stopReason == .endOfGeneration)
        if out.stopReason == .maxTokens { #expect(s.discardedTokens > 0 && s.position <= 64) }
        print("\(policy): \(out.tokens.count) tokens, \(s.discardedTokens) discarded: \(out.text.prefix(200))")
    }
}
