// KV cache on SmolLM2: quantized-KV fidelity against the f16 run, paged memory growth, prefix-cache
// exactness, generation past the context under each policy. Skipped when the weights are absent.
import EdgeLM
import Foundation
import Testing

private let smol = RealModel.path(RealModel.smolLM)

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
        let s = try Session(model: model, options: options)
        #expect(s.kvResidentBytes == 0)
        let r = try s.generate(GenerationRequest(prompt: prompts[1], maxTokens: 40))
        // Measured on the reservation itself (mincore), not the process RSS: other tests run in parallel.
        let resident = s.kvResidentBytes
        print("ctx 8192: KV reserved \(reserved >> 20) MiB; \(resident >> 10) KiB resident after \(s.position) tokens")
        #expect(r.tokens.count > 0 && s.position < 256)
        #expect(reserved > 150 << 20)
        // One 256-position page of all 30 layers is 1/32 of the reservation (5.6 MiB); fewer than 256
        // positions touch (part of) the first page only.
        let onePage = reserved / (8192 / 256)
        #expect(resident > 0 && resident <= onePage, "resident \(resident) bytes, one page \(onePage)")
        s.reset(); s.releaseUnusedMemory()
        #expect(s.kvResidentBytes == 0)
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
