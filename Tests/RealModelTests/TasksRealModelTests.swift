// Tasks on the real SmolLM2-135M: held-out classification accuracy and extraction validity on the sets in
// docs/data/. Skipped when weights/ is absent. Slow in debug builds: run with `-c release`.

import EdgeLM
@testable import Tasks
import Foundation
import Testing

private func repoFile(_ relative: String, from file: String = #filePath) -> String? {
    var dir = URL(fileURLWithPath: file).resolvingSymlinksInPath().deletingLastPathComponent()
    while dir.path != "/" {
        let p = dir.appendingPathComponent(relative).path
        if FileManager.default.fileExists(atPath: p) { return p }
        dir = dir.deletingLastPathComponent()
    }
    return nil
}

private func lines(_ path: String) throws -> [JSONValue] {
    try String(decoding: FileManager.default.contents(atPath: path) ?? Data(), as: UTF8.self)
        .split(separator: "\n").map { try JSONValue.parse(String($0)) }
}

private func str(_ v: JSONValue?) -> String? { if case .string(let s)? = v { return s }; return nil }

@Suite("Tasks on SmolLM2", .serialized)
struct TasksRealModelTests {
    /// Held-out 28 items (14 sentiment, 14 intent), contextual calibration (the default path).
    /// Measured 0.786 (22/28: sentiment 12/14, intent 10/14) in release; uncalibrated 0.429. The bar asserted
    /// is the issue's: ≥ 0.75.
    @Test func heldOutClassificationAccuracy() throws {
        guard let model = repoFile("weights/smollm2-135m-instruct-q4_1.gguf"),
              let data = repoFile("docs/data/classify.jsonl") else {
            print("skipping: weights/smollm2-135m-instruct-q4_1.gguf absent"); return
        }
        let runner = try TaskRunner(model: try Model(path: model))
        var correct = 0, total = 0
        for v in try lines(data) where str(v["split"]) == "heldout" {
            guard case .array(let ls)? = v["labels"] else { continue }
            let labels = ls.compactMap(str)
            let c = try runner.classify(str(v["text"])!, labels: labels, instruction: str(v["instruction"]))
            if c.label == str(v["label"]) { correct += 1 }
            total += 1
            #expect(abs(c.probabilities.reduce(0, +) - 1) < 1e-9)
        }
        #expect(total == 28)
        #expect(Double(correct) / Double(total) >= 0.75, "held-out accuracy \(correct)/\(total)")
    }

    /// Every extraction parses (with Foundation too) and validates, and most fields are right.
    @Test func extractionIsValidOnEveryInput() throws {
        guard let model = repoFile("weights/smollm2-135m-instruct-q4_1.gguf"),
              let data = repoFile("docs/data/extract.jsonl"),
              let schemaPath = repoFile("docs/data/contact.schema.json") else {
            print("skipping: weights/smollm2-135m-instruct-q4_1.gguf absent"); return
        }
        let schema = try JSONSchema(json: String(decoding: FileManager.default.contents(atPath: schemaPath)!, as: UTF8.self))
        let runner = try TaskRunner(model: try Model(path: model))
        var names = 0
        for v in try lines(data) {
            let e = try runner.extract(str(v["text"])!, schema: schema)
            try schema.validate(try JSONValue.parse(e.text))
            #expect((try? JSONSerialization.jsonObject(with: Data(e.text.utf8))) != nil, "\(e.text)")
            if e.value["name"] == v["expected"]?["name"] { names += 1 }
        }
        #expect(names >= 10, "names right: \(names)/12")
    }
}

/// The task runner's label scoring on the real model (shared prefix in the prefix cache, labels continued
/// from the prompt's KV state and truncated away, the channel prompt per label) equals scoring every sequence
/// from scratch in a fresh session, and answers end with the template's turn end (`<|im_end|>`).
@Suite("Task scoring on SmolLM2 equals from-scratch evaluation", .serialized)
struct TaskScoringRealModelTests {
    @Test func directAndChannelScoresMatchFreshSessions() throws {
        guard let path = RealModel.path(RealModel.smolLM) else { print("skipping: \(RealModel.smolLM) absent"); return }
        let model = try Model(path: path)
        let set = LabelSet(labels: [LabelSpec("URGENT", description: "needs action right now"), LabelSpec("NORMAL"),
                                    LabelSpec("LOW_PRIORITY", description: "no time pressure")],
                           examples: [LabeledExample(text: "The server is down!", label: "URGENT"),
                                      LabeledExample(text: "Please review this by Thursday.", label: "NORMAL"),
                                      LabeledExample(text: "No rush, maybe someday.", label: "LOW_PRIORITY")])
        let text = "The site is down and we're losing orders every minute!"
        try check(model, set, text)
        // The urgency family of docs/data/classify-families.jsonl as the CLI reads it (labels file, examples file).
        if let root = RealModel.repositoryRoot {
            let labels = try LabelSet.parseLabelsFile(try Data(contentsOf: root.appendingPathComponent("docs/data/labels/urgency.labels.json")))
            let examples = try LabelSet.parseExamples(try Data(contentsOf: root.appendingPathComponent("docs/data/labels/urgency.examples.jsonl")))
            try check(model, LabelSet(labels: labels, examples: examples), text)
        }
    }

    func check(_ model: Model, _ set: LabelSet, _ text: String) throws {
        var opts = TaskOptions(contextLength: 1024, threads: 2)
        opts.calibration = .none
        let fresh = try Session(model: model, options: SessionOptions(contextLength: 1024, threads: 2))
        func score(_ head: [Int32], _ tail: [Int32]) throws -> [Double] {
            fresh.reset()
            let all = head + tail
            var lp: [Double] = []
            try fresh.evaluateAll(all) { pos, logits in
                if pos >= head.count - 1 && pos < all.count - 1 {
                    var m = -Float.infinity
                    for v in logits where v > m { m = v }
                    var s = 0.0
                    for v in logits { s += Double(expf(v - m)) }
                    lp.append(Double(logits[Int(all[pos + 1])]) - (Double(m) + log(s)))
                }
            }
            return lp
        }
        for scoring in [ClassifierScoring.direct, .channel] {
            opts.scoring = scoring
            let runner = try TaskRunner(model: model, options: opts)
            #expect(runner.answerEnd == model.tokenizer.encode("<|im_end|>", parseSpecial: true).first)
            let c = try runner.classify(text, labelSet: set)
            for i in 0..<3 {
                let want: Double
                if scoring == .direct {
                    let p = runner.classificationPrompt(set)
                    let lp = try score(runner.classificationTokens(p, text: text), p.labelTokens[i])
                    want = lp.reduce(0, +) / Double(lp.count)
                } else {
                    let p = runner.channelPrompt(set)
                    let body = model.tokenizer.encode(" " + text, parseSpecial: false) + [runner.answerEnd!]
                    want = try score(p.prefix + p.mids[i], body).reduce(0, +)
                }
                // Not bit-identical: the runner evaluates the prefix, the rest and the label in separate batches
                // (rounding differs by up to a few hundredths of a nat); a wrong token or position is off by far more.
                #expect(abs(c.rawScores[i] - want) < 0.05, "\(scoring) label \(i): \(c.rawScores[i]) vs \(want)")
            }
        }
    }
}
