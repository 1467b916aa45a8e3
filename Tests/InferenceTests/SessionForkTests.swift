import Foundation
import InferenceTestSupport
import Testing

@testable import Inference

/// Siblings forked from one evaluated prefix (`copyState(from:)`) and evaluated together
/// (`Session.evaluateAll(_:_:)`): every part's logits must be bit-identical to a fresh session that evaluated
/// the prefix and then its input alone, on a Llama model with int8 kernels and a Gemma 3 model whose
/// sliding-window rings (window 8) wrap within the prompt.
@Suite("Session forks")
struct SessionForkTests {
    /// The logits after every token of `input`, evaluated after `prefix` and `text` (prefilled in that order)
    /// in a fresh session on its own context.
    static func alone(_ model: Model, _ options: SessionOptions, prefix: [Int32], text: [Int32], input: [Int32]) throws -> [[UInt32]] {
        var o = options; o.context = ExecutionContext(threads: 2)
        let s = try Session(model: model, options: o)
        try s.prefill(prefix)
        try s.prefill(text)
        var out: [[UInt32]] = []
        try s.evaluateAll(input) { _, logits in out.append(logits.map(\.bitPattern)) }
        return out
    }

    @Test("Forked siblings evaluated together equal each input alone", arguments: BatchedStepTests.Kind.allCases)
    func forksTogetherBitIdentical(kind: BatchedStepTests.Kind) throws {
        let model = try BatchedStepTests.model(kind)
        let vocab = model.config.vocabularySize
        var rng = SplitMix(seed: 23)
        let options = SessionOptions(contextLength: 96, batchSize: 16, threads: 2)
        let context = ExecutionContext(threads: 2)
        var o = options; o.context = context
        let main = try Session(model: model, options: o)
        let siblings = try (0..<3).map { _ in try main.makeSibling() }
        #expect(siblings.allSatisfy { $0.context === context && $0.contextLength == main.contextLength })
        // Two rounds with different prefixes and texts: a sibling keeps what it shares with the source, copies
        // the rest, and drops what it evaluated after the shared part last time.
        for round in 0..<2 {
            let prefix = BatchedStepTests.randomTokens(round == 0 ? 21 : 13, vocab: vocab, &rng)
            let text = BatchedStepTests.randomTokens(round == 0 ? 7 : 30, vocab: vocab, &rng)
            main.reset()
            try main.prefill(prefix)
            try main.prefill(text)
            for s in siblings { try s.copyState(from: main) }
            #expect(siblings.allSatisfy { $0.tokens == main.tokens })
            // Inputs of 1, 3, 5 and 20 tokens (two chunks of the 16-token batch).
            let inputs = [1, 3, 5, 20].map { BatchedStepTests.randomTokens($0, vocab: vocab, &rng) }
            let sessions = [main] + siblings
            let steps = context.statistics.steps
            var together = inputs.map { _ in [[UInt32]]() }
            try Session.evaluateAll(Array(zip(sessions, inputs))) { part, i, logits in
                #expect(i == together[part].count)
                together[part].append(logits.map(\.bitPattern))
            }
            // 1 + 3 + 5 + 16 rows do not fit one 16-row step: chunks are packed, never split.
            #expect(context.statistics.steps - steps < inputs.count + 1)
            for (i, input) in inputs.enumerated() {
                let want = try Self.alone(model, options, prefix: prefix, text: text, input: input)
                let same = together[i] == want   // (not inside #expect: a failure would print every logit)
                #expect(same, "\(kind) round \(round): part \(i) differs from its evaluation alone")
                #expect(sessions[i].tokens == prefix + text + input)
            }
        }
    }

    @Test("Short inputs of several siblings share one step", arguments: BatchedStepTests.Kind.allCases)
    func shortInputsShareOneStep(kind: BatchedStepTests.Kind) throws {
        let model = try BatchedStepTests.model(kind)
        var rng = SplitMix(seed: 3)
        let context = ExecutionContext(threads: 2)
        let main = try Session(model: model, options: SessionOptions(contextLength: 64, batchSize: 16, threads: 2, context: context))
        try main.prefill(BatchedStepTests.randomTokens(10, vocab: model.config.vocabularySize, &rng))
        let forks = try (0..<4).map { _ in try main.makeSibling() }
        for f in forks { try f.copyState(from: main) }
        let steps = context.statistics.steps
        var seen = 0
        try Session.evaluateAll(forks.map { ($0, BatchedStepTests.randomTokens(3, vocab: model.config.vocabularySize, &rng)) }) { _, _, _ in
            seen += 1
        }
        #expect(seen == 12)
        #expect(context.statistics.steps - steps == 1)
        // Misuse is refused before anything is evaluated.
        #expect(throws: InferenceError.self) { try Session.evaluateAll([(forks[0], [5]), (forks[0], [6])]) { _, _, _ in } }
        #expect(throws: InferenceError.self) { try Session.evaluateAll([(forks[0], Array(repeating: 5, count: 64))]) { _, _, _ in } }
        #expect(forks[0].tokens.count == 13)
    }
}
