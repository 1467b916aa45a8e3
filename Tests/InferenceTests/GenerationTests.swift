import InferenceTestSupport
import Foundation
import Inference
import Testing

@Suite("Generation on a tiny model")
struct GenerationTests {
    @Test("greedy generation is deterministic and respects max tokens; text streams in order")
    func greedyDeterministic() throws {
        let (path, _) = try TinyModel().write()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let session = try Session(model: try Model(path: path), options: SessionOptions(contextLength: 64, threads: 2))
        var streamed = ""
        let a = try session.generate(GenerationRequest(prompt: "Hello", maxTokens: 10)) { streamed += $0; return true }
        session.reset()
        let b = try session.generate(GenerationRequest(prompt: "Hello", maxTokens: 10))
        #expect(a.tokens == b.tokens)
        #expect(a.text == b.text)
        #expect(streamed == a.text)
        #expect(a.tokens.count <= 10)
        if a.stopReason == .maxTokens { #expect(a.tokens.count == 10) }
        #expect(a.promptTokens == [72, 101, 108, 108, 111])   // "He": no merge for an uppercase H
        #expect(try session.promptTokens(for: GenerationRequest(prompt: "hello")) == [256, 108, 108, 111])
    }

    @Test("seeded sampling reproduces; different seeds eventually differ")
    func seeds() throws {
        let (path, _) = try TinyModel().write()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let session = try Session(model: try Model(path: path), options: SessionOptions(contextLength: 64, threads: 2))
        func run(_ seed: UInt64) throws -> [Int32] {
            session.reset()
            return try session.generate(GenerationRequest(prompt: "Hi", maxTokens: 20,
                sampling: SamplingParameters(temperature: 1.5, topK: 0, topP: 1, minP: 0, seed: seed))).tokens
        }
        #expect(try run(1) == run(1))
        let others = try (2..<6).map { try run(UInt64($0)) }
        #expect(others.contains { $0 != (try? run(1)) })
    }

    @Test("a stop string ends generation and is cut from the text")
    func stopString() throws {
        let (path, _) = try TinyModel().write()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let session = try Session(model: try Model(path: path), options: SessionOptions(contextLength: 64, threads: 2))
        let free = try session.generate(GenerationRequest(prompt: "Hello", maxTokens: 12))
        guard free.text.count >= 4 else { return }
        let stop = String(free.text.dropFirst(2).prefix(2))
        session.reset()
        var streamed = ""
        let cut = try session.generate(GenerationRequest(prompt: "Hello", maxTokens: 12, stopStrings: [stop])) {
            streamed += $0; return true
        }
        #expect(cut.stopReason == .stopString)
        #expect(!cut.text.contains(stop))
        #expect(free.text.hasPrefix(cut.text))
        #expect(streamed == cut.text, "streaming never emits text of a stop string")
    }

    @Test("a full context stops generation with contextFull")
    func contextFull() throws {
        let (path, _) = try TinyModel().write()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let session = try Session(model: try Model(path: path), options: SessionOptions(contextLength: 8, threads: 1))
        let r = try session.generate(GenerationRequest(prompt: "Hello", maxTokens: 50, sampling: .greedy))
        if r.stopReason != .endOfGeneration {
            #expect(r.stopReason == .contextFull)
            #expect(session.position == 8)
        }
    }

    @Test("perplexity over windows scores the second half of each")
    func perplexity() throws {
        let (path, _) = try TinyModel().write()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let session = try Session(model: try Model(path: path), options: SessionOptions(contextLength: 32, threads: 2))
        let text = String(repeating: "The quick brown fox jumps over the lazy dog. ", count: 3)
        let r = try session.perplexity(text: text, ctx: 16)
        let tokenCount = session.model.tokenizer.encode(text, parseSpecial: false).count
        #expect(r.windows == tokenCount / 16)
        #expect(r.scoredTokens == r.windows * 7)
        #expect(r.perplexity.isFinite && r.perplexity > 1)
        #expect(throws: InferenceError.self) { _ = try session.perplexity(text: "short", ctx: 16) }
    }
}
