import Foundation
import Testing
import Inference
import InferenceTestSupport
@testable import Tasks

/// Batched label scoring (``TaskOptions/batchedLabels``: every label's continuation on its own sibling session,
/// all in shared steps) gives exactly the scores of scoring one label after another.
@Suite(.serialized) struct BatchedLabelsTests {
    /// The tiny Llama (ChatML template) and the tiny Gemma 3 (no template: plain-text prompts; sliding-window
    /// layers of window 8, so the rings wrap inside every prompt).
    static func model(gemma: Bool) throws -> Model {
        let path: String
        if gemma {
            (path, _) = try TinyGemma(dim: 96, ffn: 128, context: 512, matrixType: .q8_0, embeddingType: .q8_0).write()
        } else {
            var tiny = TinyModel(context: 512, merges: ["a b"])
            tiny.seed = 7
            (path, _) = try tiny.write()
        }
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try Model(path: path)
    }

    @Test(arguments: [false, true])
    func batchedScoresEqualSequential(gemma: Bool) throws {
        let model = try Self.model(gemma: gemma)
        // Labels of different token lengths (one of a single word), descriptions, examples, two label sets used
        // alternately, and texts of different lengths: forks keep or copy different parts each time.
        let sets = [
            LabelSet(labels: [LabelSpec("set_alarm", description: "alarms and timers"), LabelSpec("weather"),
                              LabelSpec("play_music_now"), LabelSpec("book-a-flight")],
                     examples: [.init(text: "wake me at 7", label: "set_alarm"), .init(text: "rain today?", label: "weather")]),
            LabelSet(["SPAM", "NOT_SPAM", "maybe"]),
        ]
        let texts = ["a b", "Book a one-way flight to Paris for two adults.", "b", "is it going to snow in Oslo this weekend, or not?"]
        for scoring in [ClassifierScoring.direct, .channel, .combined] {
            var opts = TaskOptions(contextLength: 512, threads: 1)
            opts.scoring = scoring
            opts.channelSkip = .never
            opts.channelLabels = .all   // the channel half for every label (4 in the first set)
            var sequentialOptions = opts
            sequentialOptions.batchedLabels = false
            let batched = try TaskRunner(model: model, options: opts)
            let sequential = try TaskRunner(model: model, options: sequentialOptions)
            for (k, text) in texts.enumerated() {
                for set in sets {
                    let b = try batched.classify(text, labelSet: set)
                    let s = try sequential.classify(text, labelSet: set)
                    #expect(b.rawScores == s.rawScores, "\(scoring) gemma=\(gemma) input \(k): \(b.rawScores) vs \(s.rawScores)")
                    #expect(b.probabilities == s.probabilities && b.label == s.label)
                    #expect(b.timings.promptTokens + b.timings.generatedTokens > 0)
                }
            }
            // The batched runner really scored on siblings (and the sequential one never made any).
            #expect(batched.directForks.isEmpty == (scoring == .channel))
            #expect(batched.channelForks.count == (scoring == .direct ? 0 : 4))
            #expect(sequential.directForks.isEmpty && sequential.channelForks.isEmpty)
        }
        // The top 3 of 4 labels: the channel half on 3 siblings, the same scores as one at a time.
        var top = TaskOptions(contextLength: 512, threads: 1)
        top.channelSkip = .never
        top.channelLabels = .top(3)
        var topSequential = top
        topSequential.batchedLabels = false
        let b = try TaskRunner(model: model, options: top), s = try TaskRunner(model: model, options: topSequential)
        for text in texts {
            let cb = try b.classify(text, labelSet: sets[0]), cs = try s.classify(text, labelSet: sets[0])
            #expect(cb.rawScores == cs.rawScores && cb.channelLabels == 3)
        }
        // One sibling per label scored (3), each keeping the prefix and a label's words with the logits after them:
        // a label scored on the previous input too evaluates only the text.
        #expect(b.channelForks.count == 3 && b.channelMids.compactMap { $0 }.count == 3)
        for (f, mid) in b.channelMids.enumerated() {
            guard let mid else { continue }
            #expect(b.channelForks[f].tokens == mid.tokens && mid.logits.count == model.config.vocabularySize)
        }
        // Another label set takes the siblings; back on the first set, its words are evaluated again once, then
        // reused: the repeat evaluates the direct half's rows and the text once per channel label, nothing else.
        _ = try b.classify(texts[1], labelSet: sets[1])
        let cold = try b.classify(texts[3], labelSet: sets[0]), warm = try b.classify(texts[3], labelSet: sets[0])
        let dp = b.classificationPrompt(sets[0])
        let directRows = b.classificationTokens(dp, text: texts[3]).count - dp.prefix.count
        let textRows = b.tokenizer.encode(" " + texts[3], parseSpecial: false).count   // + end − the last token
        #expect(warm.rawScores == cold.rawScores && warm.channelLabels == 3)
        #expect(warm.timings.promptTokens == directRows + 3 * textRows, "\(warm.timings.promptTokens) vs \(directRows) + 3 × \(textRows)")
        #expect(cold.timings.promptTokens > warm.timings.promptTokens)
    }

    /// A label whose words any sibling of the pool holds (scored on an earlier call, not only the last one's
    /// first k) costs only the text: after all three labels, scoring the last two evaluates no words, with the
    /// same scores.
    @Test(arguments: [false, true])
    func channelSiblingsReuseThePool(gemma: Bool) throws {
        let model = try Self.model(gemma: gemma)
        let r = try TaskRunner(model: model, options: TaskOptions(contextLength: 512, threads: 1))
        let set = LabelSet(labels: [LabelSpec("red"), LabelSpec("blue", description: "sky and sea"), LabelSpec("green")],
                           examples: [.init(text: "fire", label: "red"), .init(text: "grass", label: "green")])
        let p = r.channelPrompt(set)
        var first = TaskTimings(), again = TaskTimings()
        let all = try r.channelScores(p, labels: [0, 1, 2], text: "a b a", timings: &first)
        let two = try r.channelScores(p, labels: [1, 2], text: "a b a", timings: &again)
        #expect(two == [all[1], all[2]])
        let body = r.tokenizer.encode(" a b a", parseSpecial: false).count + (r.answerEnd == nil ? 0 : 1)
        #expect(again.promptTokens == 2 * (body - 1), "\(again.promptTokens) vs 2 × \(body - 1)")
        #expect(r.channelForks.count == 3)
    }

    /// With a memory budget the runner keeps to its one session (the budget counts only that).
    @Test func memoryBudgetKeepsOneSession() throws {
        let model = try Self.model(gemma: false)
        var opts = TaskOptions(contextLength: 512, threads: 1)
        opts.channelSkip = .never
        opts.memoryBudget = MemoryBudget(cap: 1 << 40)
        let r = try TaskRunner(model: model, options: opts)
        _ = try r.classify("a b", labelSet: LabelSet(["red", "green", "blue"]))
        #expect(r.directForks.isEmpty && r.channelForks.isEmpty)
    }
}
