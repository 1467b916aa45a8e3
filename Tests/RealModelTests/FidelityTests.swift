// The acceptance bar of the runtime: EdgeLM on SmolLM2-135M-Instruct Q4_1 and Gemma 3 270M Q4_K_M reproduces
// llama.cpp's outputs (Tests/RealModelTests/Reference/*.json, produced by llama.cpp through llama-cpp-python
// 0.3.36): greedy continuations identical (a divergence only after a near-tie < 0.05 of the top two logits),
// top-20 last-position logits within 0.05, perplexity within 0.5%. Each model's suite runs when its file
// was fetched.
import EdgeLM
import Foundation
import Testing

private let logitTolerance: Float = 0.05
private let nearTie: Float = 0.05

struct LogitsCase: Codable, Sendable, CustomTestStringConvertible {
    struct Entry: Codable, Sendable { var id: Int; var logit: Float }
    var prompt: String
    var prompt_ids: [Int32]
    var top: [Entry]
    var testDescription: String { prompt.debugDescription }
}

struct GreedyCase: Codable, Sendable, CustomTestStringConvertible {
    var prompt: String
    var prompt_ids: [Int32]
    var ids: [Int32]
    var testDescription: String { prompt.debugDescription }
}

struct PerplexityCase: Codable, Sendable, CustomTestStringConvertible {
    var file: String
    var ctx: Int
    var max_tokens: Int
    var scored_tokens: Int
    var ppl: Double
    var testDescription: String { "\(file) ctx \(ctx)" }
}

struct ReferenceFile: Codable, Sendable {
    var logits: [LogitsCase]
    var greedy: [GreedyCase]
    var perplexity: [PerplexityCase]
}

/// One reference case of one model.
struct ModelCase<C: Sendable>: Sendable, CustomTestStringConvertible where C: CustomTestStringConvertible {
    var model: String
    var c: C
    var testDescription: String { "\(model.prefix { $0 != "-" }): \(c.testDescription)" }
}

private func reference(_ model: String) -> ReferenceFile? {
    guard let url = Bundle.module.url(forResource: (model as NSString).deletingPathExtension, withExtension: "json", subdirectory: "Reference"),
        let data = try? Data(contentsOf: url)
    else { return nil }
    return try? JSONDecoder().decode(ReferenceFile.self, from: data)
}

/// The models whose file is present, with their reference cases.
private let models = [RealModel.smolLM, RealModel.gemma].filter { RealModel.path($0) != nil }
private func cases<C>(_ pick: (ReferenceFile) -> [C]) -> [ModelCase<C>] {
    models.flatMap { m in (reference(m).map(pick) ?? []).map { ModelCase(model: m, c: $0) } }
}

@Suite("Fidelity vs llama.cpp (SmolLM2-135M Q4_1, Gemma 3 270M Q4_K_M)", .enabled(if: !models.isEmpty, "weights/ is empty: run weights/fetch.sh"),
       .serialized)
struct FidelityTests {
    @Test("top-20 last-position logits within 0.05 of llama.cpp", arguments: cases(\.logits))
    func logits(_ mc: ModelCase<LogitsCase>) throws {
        let c = mc.c
        let model = try #require(try RealModel.model(mc.model))
        let session = try Session(model: model, options: SessionOptions(contextLength: 512, threads: 2))
        let prompt = c.prompt
        let ids = try session.promptTokens(for: GenerationRequest(prompt: prompt))
        #expect(ids == c.prompt_ids, "tokenization of \(prompt.debugDescription)")
        let logits = try session.prefill(ids)
        var worst: Float = 0
        for entry in c.top { worst = max(worst, abs(logits[entry.id] - entry.logit)) }
        withExtendedLifetime(session) {}
        print("\(mc.testDescription): max |Δlogit| over llama.cpp's top 20 = \(worst)")
        #expect(worst <= logitTolerance, "max |Δlogit| over llama.cpp's top 20 = \(worst) for \(prompt.debugDescription)")
    }

    @Test("greedy continuations identical to llama.cpp (up to a near-tie)", arguments: cases(\.greedy))
    func greedy(_ mc: ModelCase<GreedyCase>) throws {
        let c = mc.c
        let model = try #require(try RealModel.model(mc.model))
        let session = try Session(model: model, options: SessionOptions(contextLength: 512, threads: 2))
        let prompt = c.prompt
        let promptIDs = try session.promptTokens(for: GenerationRequest(prompt: prompt))
        #expect(promptIDs == c.prompt_ids)
        let want = c.ids
        var logits = try session.prefill(promptIDs)
        for (i, expected) in want.enumerated() {
            // argmax and runner-up
            var best = 0, second = -1
            for j in 1..<logits.count where logits[j] > logits[best] { best = j }
            for j in 0..<logits.count where j != best && (second < 0 || logits[j] > logits[second]) { second = j }
            if Int32(best) != expected {
                let gap = logits[best] - logits[Int(expected)]
                #expect(gap < nearTie,
                        "\(prompt.debugDescription): token \(i) is \(best), llama.cpp chose \(expected); gap \(gap) is not a near-tie")
                return   // after an explained divergence the rest cannot be compared
            }
            if model.tokenizer.isEndOfGeneration(expected) { break }
            logits = try session.decode(expected)
        }
    }

    @Test("perplexity within 0.5% of llama.cpp", arguments: cases(\.perplexity))
    func perplexity(_ mc: ModelCase<PerplexityCase>) throws {
        let c = mc.c
        let model = try #require(try RealModel.model(mc.model))
        let ctx = c.ctx
        let maxTokens = c.max_tokens
        let file = try #require(RealModel.referenceFile(c.file))
        let text = try String(contentsOfFile: file, encoding: .utf8)
        let session = try Session(model: model, options: SessionOptions(contextLength: ctx, threads: 2))
        let r = try session.perplexity(text: text, ctx: ctx, maxTokens: maxTokens)
        let want = c.ppl
        #expect(r.scoredTokens == c.scored_tokens)
        print("\(mc.testDescription): perplexity \(r.perplexity) vs llama.cpp \(want)")
        #expect(abs(r.perplexity - want) / want < 0.005, "ppl \(r.perplexity) vs llama.cpp \(want)")
    }
}
