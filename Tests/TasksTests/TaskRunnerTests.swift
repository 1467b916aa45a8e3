import Foundation
import Testing
import Inference
import InferenceTestSupport
@testable import Tasks

/// Tasks on tiny random models: the outputs are nonsense, but the machinery must hold.
@Suite(.serialized) struct TaskRunnerTests {
    static func runner(seed: UInt64 = 42, options: TaskOptions = TaskOptions(contextLength: 512, threads: 1)) throws -> TaskRunner {
        // ChatML specials plus one merge ("a b") at a 512-token context: the real BPE tokenizer and chat template work.
        var tiny = TinyModel(context: 512, merges: ["a b"])
        tiny.seed = seed
        let (path, _) = try tiny.write()
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try TaskRunner(model: try Model(path: path), options: options)
    }

    /// Constrained decoding from random models over several schemas: the output always parses (also with
    /// Foundation) and validates, whether it closed by itself or the budget forced the completion.
    @Test(arguments: [1, 2, 3, 4, 5, 6] as [UInt64])
    func extractionIsAlwaysValidFromRandomModels(seed: UInt64) throws {
        var opts = TaskOptions(contextLength: 512, threads: 1)
        opts.maxExtractTokens = 24 + Int(seed % 3) * 40
        let r = try Self.runner(seed: seed, options: opts)
        for schemaText in Schemas.all {
            let schema = try JSONSchema(json: schemaText)
            var partials = 0
            let e = try r.extract("Ann Lee, ann@x.io, 42 years", schema: schema) { _ in partials += 1; return true }
            try schema.validate(try JSONValue.parse(e.text))
            #expect((try? JSONSerialization.jsonObject(with: Data(e.text.utf8))) != nil, "\(e.text)")
            #expect(e.timings.generatedTokens <= opts.maxExtractTokens)
            #expect(partials == e.timings.generatedTokens)
        }
    }

    /// The shared-prompt scoring (one prefill, labels continue from its KV state, truncated back) equals
    /// scoring each label from scratch in a fresh session.
    @Test func labelScoresMatchFromScratchScoring() throws {
        var opts = TaskOptions(contextLength: 512, threads: 1)
        opts.calibration = .none
        opts.scoring = .direct
        let r = try Self.runner(options: opts)
        let labels = ["yes", "no", "maybe so"]
        let c = try r.classify("is it?", labels: labels)
        let p = r.classificationPrompt(LabelSet(labels))
        let prompt = r.classificationTokens(p, text: "is it?")
        let fresh = try Session(model: r.model, options: SessionOptions(contextLength: 512, threads: 1))
        for (i, label) in labels.enumerated() {
            var ids = r.tokenizer.encode(" " + LabelWords.capitalised(label), parseSpecial: false)
            ids.append(r.endOfTurn!)
            #expect(ids == p.labelTokens[i])
            fresh.reset()
            let all = prompt + ids
            var sum = 0.0
            try fresh.evaluateAll(all) { pos, logits in
                if pos >= prompt.count - 1 && pos < all.count - 1 {
                    sum += Double(logits[Int(all[pos + 1])]) - TaskRunner.logSumExp(logits)
                }
            }
            #expect(abs(c.rawScores[i] - sum / Double(ids.count)) < 1e-3, "label \(label)")
        }
        #expect(abs(c.probabilities.reduce(0, +) - 1) < 1e-9)
        #expect(c.label == labels[c.probabilities.indices.max { c.probabilities[$0] < c.probabilities[$1] }!])
    }

    @Test func contextualCalibrationShiftsScoresAndIsCached() throws {
        let r = try Self.runner()
        let labels = ["red", "green"]
        let a = try r.classify("apple", labels: labels)
        let b = try r.classify("apple", labels: labels)
        #expect(a.probabilities == b.probabilities)
        #expect(b.timings.promptTokens < a.timings.promptTokens)   // no content-free scoring, prefix reused
        #expect(throws: TasksError.self) { try r.classify("x", labels: ["one"]) }
        #expect(throws: TasksError.self) { try r.classify("x", labels: ["a", "a"]) }
        #expect(throws: TasksError.self) { try r.classify("x", labels: ["yes", "Yes"]) }   // same verbaliser
    }

    /// Labels are scored as ` Label` (leading space, capitalised first letter of the humanised words) after
    /// the `Label:` answer prefix.
    @Test(arguments: [("positive", " Positive"), ("Cancel", " Cancel"), ("maybe so", " Maybe so"), ("é", " É"),
                      ("set_alarm", " Set alarm"), ("NOT_SPAM", " Not spam")])
    func verbaliserCapitalisesWithLeadingSpace(label: String, spelled: String) throws {
        let r = try Self.runner()
        let p = r.classificationPrompt(LabelSet([label, "zz"]))
        #expect(p.spelled[0] == spelled)
        #expect(Array(p.labelTokens[0].dropLast()) == r.tokenizer.encode(spelled, parseSpecial: false))
        let prompt = r.tokenizer.decode(r.classificationTokens(r.classificationPrompt(LabelSet(["a", "b"])), text: "hi"))
        #expect(prompt.hasSuffix("Label:"))
        #expect(prompt.contains("Text: hi"))
    }

    @Test func rewriteIsCappedAndRefusesLongInput() throws {
        let r = try Self.runner(options: TaskOptions(contextLength: 256, threads: 1))
        let w = try r.rewrite("hello there", instruction: "shorter", maxTokens: 5)
        #expect(w.timings.generatedTokens <= 5)
        let long = String(repeating: "word ", count: 200)
        #expect(throws: TasksError.self) { try r.rewrite(long, instruction: "shorter", maxTokens: 5) }
        #expect(throws: TasksError.self) { try r.rewrite("x", instruction: "y", maxTokens: 0) }
        #expect(!r.fits(.rewrite(text: long, instruction: "s", maxTokens: 5)))
        #expect(throws: TasksError.self) { try r.extract(long, schema: try JSONSchema(json: Schemas.contact)) }
    }
}
