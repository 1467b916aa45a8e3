// The acceptance bar of the runtime: EdgeLM on SmolLM2-135M-Instruct Q4_1 reproduces llama.cpp's outputs
// (Tests/RealModelTests/Reference/*.json, produced by llama.cpp through llama-cpp-python 0.3.36):
// greedy continuations identical (a divergence only after a near-tie < 0.05 of the top two logits),
// top-20 last-position logits within 0.05, perplexity within 0.5%.
import EdgeLM
import Foundation
import Testing

private let smol = RealModel.smolLM
private let available = RealModel.path(smol) != nil
private let logitTolerance: Float = 0.05
private let nearTie: Float = 0.05

private func cases(_ key: String) -> [[String: Any]] {
    ((try? RealModel.reference(smol))?[key] as? [[String: Any]]) ?? []
}

private func ints(_ v: Any?) -> [Int32] { ((v as? [Any]) ?? []).map { Int32(($0 as! NSNumber).intValue) } }

@Suite("Fidelity vs llama.cpp (SmolLM2-135M Q4_1)", .enabled(if: available, "weights/\(smol) is absent: run weights/fetch.sh"),
       .serialized)
struct FidelityTests {
    @Test("top-20 last-position logits within 0.05 of llama.cpp", arguments: cases("logits"))
    func logits(_ c: [String: Any]) throws {
        let model = try #require(try RealModel.model(smol))
        let session = try Session(model: model, options: SessionOptions(contextLength: 512, threads: 2))
        let prompt = c["prompt"] as! String
        let ids = try session.promptTokens(for: GenerationRequest(prompt: prompt))
        #expect(ids == ints(c["prompt_ids"]), "tokenization of \(prompt.debugDescription)")
        let logits = try session.prefill(ids)
        var worst: Float = 0
        for entry in c["top"] as! [[String: Any]] {
            let id = (entry["id"] as! NSNumber).intValue
            let want = (entry["logit"] as! NSNumber).floatValue
            worst = max(worst, abs(logits[id] - want))
        }
        #expect(worst <= logitTolerance, "max |Δlogit| over llama.cpp's top 20 = \(worst) for \(prompt.debugDescription)")
    }

    @Test("greedy continuations identical to llama.cpp (up to a near-tie)", arguments: cases("greedy"))
    func greedy(_ c: [String: Any]) throws {
        let model = try #require(try RealModel.model(smol))
        let session = try Session(model: model, options: SessionOptions(contextLength: 512, threads: 2))
        let prompt = c["prompt"] as! String
        let promptIDs = try session.promptTokens(for: GenerationRequest(prompt: prompt))
        #expect(promptIDs == ints(c["prompt_ids"]))
        let want = ints(c["ids"])
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

    @Test("perplexity within 0.5% of llama.cpp", arguments: cases("perplexity"))
    func perplexity(_ c: [String: Any]) throws {
        let model = try #require(try RealModel.model(smol))
        let ctx = (c["ctx"] as! NSNumber).intValue
        let maxTokens = (c["max_tokens"] as! NSNumber).intValue
        let file = try #require(RealModel.referenceFile(c["file"] as! String))
        let text = try String(contentsOfFile: file, encoding: .utf8)
        let session = try Session(model: model, options: SessionOptions(contextLength: ctx, threads: 2))
        let r = try session.perplexity(text: text, ctx: ctx, maxTokens: maxTokens)
        let want = (c["ppl"] as! NSNumber).doubleValue
        #expect(r.scoredTokens == (c["scored_tokens"] as! NSNumber).intValue)
        #expect(abs(r.perplexity - want) / want < 0.005, "ppl \(r.perplexity) vs llama.cpp \(want)")
    }
}
