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

    /// Every extraction parses (with Foundation too) and validates, every string value is text of its input
    /// (span fields), at least 10 of the 12 names are right (the original bar of this test) and the measured
    /// share of fields is right: 47/48 with the default prompt (typed spans, worked examples) — docs/tasks.md;
    /// two fields of room for kernel rounding changes.
    @Test func extractionIsValidOnEveryInput() throws {
        guard let model = repoFile("weights/smollm2-135m-instruct-q4_1.gguf"),
              let data = repoFile("docs/data/extract.jsonl"),
              let schemaPath = repoFile("docs/data/contact.schema.json") else {
            print("skipping: weights/smollm2-135m-instruct-q4_1.gguf absent"); return
        }
        let schema = try JSONSchema(json: String(decoding: FileManager.default.contents(atPath: schemaPath)!, as: UTF8.self))
        let runner = try TaskRunner(model: try Model(path: model))
        var right = 0, names = 0
        for v in try lines(data) {
            let text = str(v["text"])!
            let e = try runner.extract(text, schema: schema)
            if e.value["name"] == v["expected"]?["name"] { names += 1 }
            try schema.validate(try JSONValue.parse(e.text))
            #expect((try? JSONSerialization.jsonObject(with: Data(e.text.utf8))) != nil, "\(e.text)")
            for k in ["name", "email", "phone", "company"] {
                if case .string(let s)? = e.value[k] { #expect(text.contains(s), "\(k): '\(s)' is not in '\(text)'") }
                switch (e.value[k] ?? .null, v["expected"]?[k] ?? .null) {   // as `eval` compares: strings ignoring case
                case (.string(let a), .string(let b)) where a.lowercased() == b.lowercased(): right += 1
                case (.null, .null): right += 1
                default: break
                }
            }
        }
        #expect(names >= 10, "names right: \(names)/12")
        #expect(right >= 45, "fields right: \(right)/48")
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

/// Label families of docs/data/classify-families.jsonl on SmolLM2: labels as users write them (snake_case
/// intents, ISO language codes), descriptions and 4 examples per label in the prefix, combined scoring with the
/// model's fitted temperature — against the pre-issue path (labels verbatim, zero-shot, answer likelihood only).
@Suite("Label families on SmolLM2", .serialized)
struct LabelFamiliesRealModelTests {
    static func family(_ name: String, _ path: String) throws -> (LabelSet, [(String, String)]) {
        var set: LabelSet? = nil
        var items: [(String, String)] = []
        for v in try lines(path) where str(v["family"]) == name {
            if case .array(let ls)? = v["labels"] {
                set = LabelSet(labels: ls.compactMap { l in str(l["label"]).map { LabelSpec($0, description: str(l["description"])) } })
                continue
            }
            switch str(v["split"]) {
            case "examples": set!.examples.append(LabeledExample(text: str(v["text"])!, label: str(v["label"])!))
            case "heldout": items.append((str(v["text"])!, str(v["label"])!))
            default: break
            }
        }
        return (set!, items)
    }

    /// The issue's probes, labels alone (zero-shot, the default model and options): measured `set_alarm` 0.996,
    /// `book_flight` 1.000, `negative` 0.988. With the channel half for the direct half's best 3 only, the flight
    /// answered `weather` (0.46): the zero-shot direct half ranked `book_flight` last.
    @Test func issueProbesZeroShot() throws {
        guard let model = repoFile("weights/smollm2-135m-instruct-q4_1.gguf") else {
            print("skipping: weights/smollm2-135m-instruct-q4_1.gguf absent"); return
        }
        let runner = try TaskRunner(model: try Model(path: model))
        let intents = ["set_alarm", "weather", "play_music", "book_flight"]
        for (text, labels, expected) in [("Wake me up at 6:30 tomorrow morning.", intents, "set_alarm"),
                                         ("Book a one-way flight to Paris for two adults.", intents, "book_flight"),
                                         ("The food was cold.", ["positive", "negative"], "negative")] {
            let c = try runner.classify(text, labels: labels)
            #expect(c.label == expected && c.confidence > 0.9, "\(text): \(c.label) \(c.confidence)")
        }
    }

    /// One example per label: the direct half is flat (0.24, 0.23, 0.28, 0.26), and its top 2 left `billing` out
    /// of the channel half, which then answered `account_access` at 0.88. The channel coverage widens the channel
    /// half to the labels holding 0.7 of the direct half's probability: `billing` (measured 0.97, 3 channel labels).
    @Test func flatDirectHalfKeepsTheRightLabel() throws {
        guard let model = repoFile("weights/smollm2-135m-instruct-q4_1.gguf") else {
            print("skipping: weights/smollm2-135m-instruct-q4_1.gguf absent"); return
        }
        let set = LabelSet(labels: [LabelSpec("billing", description: "charges, invoices, refunds"),
                                    LabelSpec("technical-issue", description: "bugs, errors, crashes"),
                                    LabelSpec("account_access", description: "login, password, 2FA"),
                                    LabelSpec("cancelSubscription")],
                           examples: [.init(text: "I was charged twice this month.", label: "billing"),
                                      .init(text: "The app crashes when I open settings.", label: "technical-issue"),
                                      .init(text: "I can't log in, my password reset email never arrives.", label: "account_access"),
                                      .init(text: "Please stop my plan at the end of the month.", label: "cancelSubscription")])
        let m = try Model(path: model)
        let c = try TaskRunner(model: m).classify("My invoice shows the wrong amount.", labelSet: set)
        #expect(c.label == "billing" && c.confidence > 0.5, "\(c.label) \(c.confidence)")
        #expect(c.channelLabels >= 3)
        var top2 = TaskOptions()
        top2.channelCoverage = .off
        let narrow = try TaskRunner(model: m, options: top2).classify("My invoice shows the wrong amount.", labelSet: set)
        #expect(narrow.channelLabels == 2)
    }

    @Test(arguments: [("intents", 24), ("language", 25)])
    func heldOutFamily(name: String, measured: Int) throws {
        guard let model = repoFile("weights/smollm2-135m-instruct-q4_1.gguf"),
              let data = repoFile("docs/data/classify-families.jsonl") else {
            print("skipping: weights/smollm2-135m-instruct-q4_1.gguf absent"); return
        }
        let m = try Model(path: model)
        let (set, items) = try Self.family(name, data)
        #expect(items.count == 25)
        let runner = try TaskRunner(model: m)
        var before = TaskOptions()
        before.scoring = .direct
        let old = try TaskRunner(model: m, options: before)
        var raw = LabelSet(set.names)
        raw.humanise = false
        var right = 0, rightBefore = 0
        var calibration: [ScoredPrediction] = []
        for (text, label) in items {
            let c = try runner.classify(text, labelSet: set)
            #expect(c.labels == set.names)   // labels come back as written
            if c.label == label { right += 1 }
            calibration.append(ScoredPrediction(truth: label, predicted: c.label, confidence: c.confidence))
            if try old.classify(text, labelSet: raw).label == label { rightBefore += 1 }
        }
        // Measured (docs/tasks.md): intents 24/25 (before 10/25), language 25/25 (before 3/25); the bar leaves
        // two items of room for kernel rounding changes.
        #expect(right >= measured - 2, "\(name): \(right)/25")
        #expect(right >= rightBefore + 8, "\(name): \(right) vs \(rightBefore) before")
        #expect(ClassificationMetrics.ece(calibration) <= 0.2, "\(name): ECE \(ClassificationMetrics.ece(calibration))")
    }
}

/// Extraction that copies, on the held-out contact / order / event set: every output schema-valid, no span
/// value that is not in its input, and the measured share of fields right.
@Suite("Span extraction on SmolLM2", .serialized)
struct SpanExtractionRealModelTests {
    @Test func heldOutExtractionCopies() throws {
        guard let model = repoFile("weights/smollm2-135m-instruct-q4_1.gguf"),
              let data = repoFile("docs/data/extract-heldout.jsonl") else {
            print("skipping: weights/smollm2-135m-instruct-q4_1.gguf absent"); return
        }
        let runner = try TaskRunner(model: try Model(path: model))
        var fields = 0, right = 0, spans = 0
        for v in try lines(data) {
            let text = str(v["text"])!
            let schema = try JSONSchema(value: v["schema"]!)
            let e = try runner.extract(text, schema: schema)
            try schema.validate(try JSONValue.parse(e.text))
            #expect((try? JSONSerialization.jsonObject(with: Data(e.text.utf8))) != nil, "\(e.text)")
            guard case .object(let props) = schema.kind, case .object(let expected)? = v["expected"] else { continue }
            for p in props {
                if case .string(let s)? = e.value[p.name], p.schema.isSpan(named: p.name, policy: .auto) {
                    spans += 1
                    #expect(text.contains(s), "\(p.name): '\(s)' is not in '\(text)'")
                }
            }
            for (k, want) in expected {
                fields += 1
                let got = e.value[k] ?? .null
                switch (got, want) {
                case (.string(let a), .string(let b)) where a.lowercased() == b.lowercased(): right += 1
                case (.number(let a), .number(let b)) where a == b: right += 1
                case (.null, .null): right += 1
                default: break
                }
            }
        }
        #expect(spans > 0)
        #expect(fields == 144)
        // Measured 125/144 (docs/tasks.md); four fields of room for kernel rounding changes. The issue's bar is 80 %.
        #expect(right >= 121, "fields right: \(right)/\(fields)")
        #expect(Double(right) / Double(fields) >= 0.8, "fields right: \(right)/\(fields)")
    }

    /// The issue's probe: "Hi, I'm Bob Lee, bob@x.io" gave `john@x.io` before spans and `x.io` in every field
    /// with untyped spans; with typed spans the email is the address and the rest is null.
    @Test func bobLee() throws {
        guard let model = repoFile("weights/smollm2-135m-instruct-q4_1.gguf"),
              let schemaPath = repoFile("docs/data/contact.schema.json") else {
            print("skipping: weights/smollm2-135m-instruct-q4_1.gguf absent"); return
        }
        let schema = try JSONSchema(json: String(decoding: FileManager.default.contents(atPath: schemaPath)!, as: UTF8.self))
        let e = try TaskRunner(model: try Model(path: model)).extract("Hi, I'm Bob Lee, bob@x.io", schema: schema)
        #expect(e.value["name"] == .string("Bob Lee"), "\(e.text)")
        #expect(e.value["email"] == .string("bob@x.io"), "\(e.text)")
        #expect(e.value["phone"] == .null && e.value["company"] == .null, "\(e.text)")
    }
}
