import ArgumentParser
import EdgeLM
import EdgeLMCommandSupport
import EdgeLMEssentials

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Evaluate a task on a labelled JSONL set: accuracy / validity, calibration error (ECE), latency.",
        discussion: """
        classify lines: {"text": …, "label": …, "labels": [..], "instruction"?: …, "split"?: "tune"|"heldout", "family"?: …}
          or, per family, one header line {"family": …, "labels": [{"label": …, "description": …}, …], "instruction"?: …}
          and items {"family": …, "text": …, "label": …, "split": …}; items of --examples-split are the family's
          few-shot examples (--shots per label).
        extract lines:  {"text": …, "expected": {…}, "schema"?: {…}, "split"?: …}  (or --schema FILE for all lines)

        classify reports accuracy, macro-F1 and ECE per family and overall, the reliability table and the \
        coverage/accuracy a confidence threshold gives; extract reports field accuracy, schema validity, values \
        of span fields not found in the text, and the masking cost per token.

        The per-example scores (classify: 1 if correct else 0; extract: the fraction of expected fields matched) \
        are recorded as local eval events: in telemetry (aggregated per task) and, when the model came from a \
        model store, in the active version's health counters — a mean below the last-known-good version's \
        rolls the store back (said on stderr).
        """)

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var memoryOptions: MemoryOptions
    @OptionGroup var telemetryOptions: TelemetryOptions
    @Option(name: .long, help: "classify or extract.") var task: String
    @Option(name: .long, help: "JSONL file of labelled examples.") var data: String
    @Option(name: .long, help: "Only lines whose \"split\" equals this.") var split: String?
    @Option(name: .long, help: "Schema file for extract lines without an inline schema.") var schema: String?
    @Option(name: .long, help: "Calibration for classify: contextual (default) or none.") var calibration = "contextual"
    @Option(name: .long, help: "Fit one softmax temperature on the lines of this split first (classify).") var fitSplit: String?
    @Option(name: .long, help: "Fixed softmax temperature (classify; default: the model's fitted default).") var temperature: Double?
    @Option(name: .long, help: "Lines of this split are few-shot examples of their family (classify).") var examplesSplit = "examples"
    @Option(name: .long, help: "Few-shot examples per label (classify; 0 for zero-shot).") var shots = LabelSet.defaultExamplesPerLabel
    @Flag(name: .long, help: "Leave label descriptions out of the prompt (classify).") var noDescriptions = false
    @Flag(name: .long, help: "Score labels verbatim, not as humanised words (classify).") var rawLabels = false
    @Option(name: .long, help: "Label score: mean (default) or sum of the token log-probabilities (classify).") var labelScore = "mean"
    @Option(name: .long, help: "Scoring: combined (default), direct or channel (classify).") var scoring = "combined"
    @Option(name: .long, help: ArgumentHelp("Combined scoring: skip the channel half when the direct half's confidence is at least P (off: never; tuned: the model's) (classify).", valueName: "P|off|tuned"))
    var channelSkip = TaskOptions.defaultChannelSkipArgument
    @Option(name: .long, help: ArgumentHelp("Combined scoring: evaluate the channel half only for the direct half's K best labels (all: every label; tuned: the model's) (classify).", valueName: "K|all|tuned"))
    var channelTopK = TaskOptions.defaultChannelTopKArgument
    @Option(name: .long, help: ArgumentHelp("Combined scoring: add labels to the K best until they hold at least P of the direct half's probability (off: exactly K; tuned: the model's) (classify).", valueName: "P|off|tuned"))
    var channelCoverage = TaskOptions.defaultChannelCoverageArgument
    @Flag(name: .long, help: "With --fit-split: also fit per-label biases per family on that split (classify).") var fitBias = false
    @Flag(name: .long, help: "Score labels one after another instead of all labels in shared steps (classify; same scores, for timing).")
    var sequentialLabels = false
    @Option(name: .long, help: "String fields copied from the text (extract): auto, marked or off.") var spans = "auto"
    @Option(name: .long, help: "Typed fields (extract): auto, schema or off.") var spanTypes = "auto"
    @Flag(name: .long, help: "Leave the two worked examples out of the extraction prompt (extract).") var noDemonstrations = false
    @Option(name: .long, help: "Context length (default: the --profile's, else 2048).") var ctx: Int?
    @Option(name: .long, help: "Content-free inputs for contextual calibration, separated by '|'.") var contentFree = "N/A|[MASK]|"
    @Flag(name: .long, help: "Do not score the end-of-turn token after each label.") var noEndOfTurn = false
    @Flag(name: .long, help: "Print one JSON object.") var json = false
    @Flag(name: .long, help: "Print each example's prediction to stderr.") var verbose = false

    func validate() throws {
        guard task == "classify" || task == "extract" else { throw ValidationError("--task must be classify or extract") }
        guard CalibrationMode(rawValue: calibration) != nil else { throw ValidationError("--calibration must be contextual or none") }
        if let ctx { try checkRange("--ctx", ctx, 64...maxContextOption) }
        if let temperature { try checkRange("--temperature", temperature, 0.01...100) }
        try checkRange("--shots", shots, 0...64)
        guard LabelScore(rawValue: labelScore) != nil else { throw ValidationError("--label-score must be mean or sum") }
        guard ClassifierScoring(rawValue: scoring) != nil else { throw ValidationError("--scoring must be combined, direct or channel") }
        try TaskOptions.checkChannelFlags(skip: channelSkip, topK: channelTopK, coverage: channelCoverage)
        if fitBias && fitSplit == nil { throw ValidationError("--fit-bias needs --fit-split") }
        guard SpanPolicy(rawValue: spans) != nil else { throw ValidationError("--spans must be auto, marked or off") }
        guard SpanTypePolicy(rawValue: spanTypes) != nil else { throw ValidationError("--span-types must be auto, schema or off") }
    }

    func loadLines() throws -> [JSONValue] {
        guard let d = FileManager.default.contents(atPath: data) else {
            throw CLIError("cannot read \(data)", hint: "pass a JSONL file with --data")
        }
        var out: [JSONValue] = []
        for (i, line) in String(decoding: d, as: UTF8.self).split(separator: "\n").enumerated() {
            let t = line.trimmingWhitespace()
            if t.isEmpty || t.hasPrefix("//") { continue }
            do { out.append(try JSONValue.parse(t)) } catch { throw CLIError("\(data):\(i + 1): \(error)") }
        }
        return out
    }

    func run() throws {
        let all = try loadLines()
        func inSplit(_ v: JSONValue, _ s: String?) -> Bool {
            guard let s else { return true }
            if case .string(let x)? = v["split"] { return x == s }
            return false
        }
        let lines = all.filter { inSplit($0, split) && $0["text"] != nil }
        guard !lines.isEmpty else { throw CLIError("no examples in \(data)\(split.map { " with split \($0)" } ?? "")") }
        let recorder = TelemetryRecorder(telemetryOptions, storeDirectory: modelOptions.store)
        let taskKind: TaskKind = task == "classify" ? .classify : .extract
        let loaded = try recorder.guarded(taskKind) { try modelOptions.load() }
        recorder.modelKey = loaded.key
        let model = loaded.model
        var opts = try recorder.guarded(taskKind) {
            try checkContext(ctx, model: model)
            return try memoryOptions.taskOptions(model: model, ctx: ctx, threads: modelOptions.threads, defaultContext: 2048)
        }
        opts.calibration = CalibrationMode(rawValue: calibration) ?? .contextual
        opts.contentFreeInputs = contentFree.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
        opts.scoreEndOfTurn = !noEndOfTurn
        opts.labelScore = LabelScore(rawValue: labelScore) ?? .mean
        opts.scoring = ClassifierScoring(rawValue: scoring) ?? .combined
        opts.temperature = temperature
        opts.channelSkip = TaskOptions.channelSkip(channelSkip) ?? .tuned   // checked in validate()
        opts.batchedLabels = !sequentialLabels
        opts.channelLabels = TaskOptions.channelLabels(channelTopK) ?? .tuned
        opts.channelCoverage = TaskOptions.channelCoverage(channelCoverage) ?? .tuned
        opts.spans = SpanPolicy(rawValue: spans) ?? .auto
        opts.spanTypes = SpanTypePolicy(rawValue: spanTypes) ?? .auto
        opts.extractDemonstrations = !noDemonstrations
        let runner = try TaskRunner(model: model, options: opts)
        var results: [(correct: Bool, score: Double)] = []
        let report = task == "classify"
            ? try evalClassify(runner, all: all, split: split, results: &results)
            : try evalExtract(runner, lines, results: &results)
        recorder.recordEvals(taskKind, results)
        if let store = loaded.store {
            let decision = try store.recordEvalScores(results.map(\.score),
                                                      thresholds: LifecycleHealth.thresholds(ProcessInfo.processInfo.environment))
            if decision != .healthy { LifecycleHealth.report(decision) }
        }
        if json { try printJSON(report) } else if task == "classify" {
            printClassifyReport(report)
        } else {
            for k in report.keys.sorted() { print("\(k): \(report[k]!)") }
        }
    }

    static func string(_ v: JSONValue?) -> String? { if case .string(let s)? = v { return s }; return nil }
    static func strings(_ v: JSONValue?) -> [String]? {
        guard case .array(let a)? = v else { return nil }
        return a.compactMap { string($0) }
    }

    /// The mean of `xs`, 0 when empty.
    static func mean(_ xs: [Double]) -> Double { xs.isEmpty ? 0 : xs.reduce(0, +) / Double(xs.count) }

    static func percentile(_ xs: [Double], _ p: Double) -> Double {
        let s = xs.sorted()
        guard !s.isEmpty else { return 0 }
        return s[min(s.count - 1, Int((p * Double(s.count - 1)).rounded()))]
    }

    /// The label set of each family and its items, from the lines: header lines (labels, no text) define a
    /// family's labels (with descriptions) and instruction; items name their family or carry inline labels;
    /// items of `--examples-split` become the family's few-shot examples.
    struct Family {
        var name: String
        var set: LabelSet
        var items: [(text: String, label: String, split: String?)] = []
    }

    static func labelSpecs(_ v: JSONValue?) -> [LabelSpec]? {
        guard case .array(let a)? = v else { return nil }
        var out: [LabelSpec] = []
        for item in a {
            switch item {
            case .string(let s): out.append(LabelSpec(s))
            case .object:
                guard let l = string(item["label"]) else { return nil }
                out.append(LabelSpec(l, description: string(item["description"]), words: string(item["words"])))
            default: return nil
            }
        }
        return out
    }

    func families(_ all: [JSONValue]) throws -> [Family] {
        var order: [String] = []
        var fams: [String: Family] = [:]
        for (i, v) in all.enumerated() {
            let inline = Self.labelSpecs(v["labels"])
            if v["labels"] != nil && inline == nil {
                throw CLIError("\(data): line \(i + 1): \"labels\" must be an array of strings or {\"label\", \"description\"} objects")
            }
            let name = Self.string(v["family"]) ?? inline.map { $0.map(\.label).joined(separator: ",") }
            guard let name else { throw CLIError("\(data): line \(i + 1) needs \"labels\" or a \"family\" with a header line") }
            if fams[name] == nil {
                guard var specs = inline else {
                    throw CLIError("\(data): line \(i + 1): family '\(name)' has no header line with its labels before it")
                }
                if noDescriptions { specs = specs.map { LabelSpec($0.label, words: $0.words) } }
                fams[name] = Family(name: name, set: LabelSet(labels: specs, examplesPerLabel: shots,
                                                              instruction: Self.string(v["instruction"]), humanise: !rawLabels))
                order.append(name)
            }
            guard let text = Self.string(v["text"]) else { continue }
            guard let label = Self.string(v["label"]) else { throw CLIError("\(data): line \(i + 1) needs a \"label\"") }
            let itemSplit = Self.string(v["split"])
            if itemSplit == examplesSplit {
                fams[name]!.set.examples.append(LabeledExample(text: text, label: label))
            } else {
                fams[name]!.items.append((text, label, itemSplit))
            }
        }
        return order.map { fams[$0]! }
    }

    func evalClassify(_ runner: TaskRunner, all: [JSONValue], split: String?,
                      results: inout [(correct: Bool, score: Double)]) throws -> [String: Any] {
        let fams = try families(all)
        for f in fams { try f.set.validate() }
        // Temperature: one for every family, fitted on --fit-split (at T = 1), else --temperature / the default.
        var fitted: Double? = nil
        var fittedBiases: [String: [Double]] = [:]
        if let fitSplit {
            var rows: [(scores: [Double], target: Int)] = []
            var familyRows: [[(scores: [Double], target: Int)]] = []
            for f in fams {
                runner.setTemperature(1, labelSet: f.set)
                runner.setBiases(nil, labelSet: f.set)
                let first = rows.count
                for item in f.items where item.split == fitSplit {
                    guard let target = f.set.names.firstIndex(of: item.label) else {
                        throw CLIError("family \(f.name): label '\(item.label)' is not one of \(f.set.names)")
                    }
                    let c = try runner.classify(item.text, labelSet: f.set)
                    rows.append((c.probabilities.map { log(max($0, 1e-300)) }, target))
                }
                familyRows.append(Array(rows[first...]))
            }
            let t = TemperatureScaling.fit(rows)
            for f in fams { runner.setTemperature(t, labelSet: f.set) }
            fitted = t
            if fitBias {
                // Per family, biases on its own fit-split rows at the fitted temperature (softmax is shift-invariant,
                // so the T = 1 log-probabilities divided by T are the scaled scores).
                for (f, r) in zip(fams, familyRows) {
                    let b = BiasCalibration.fit(r.map { (row: (scores: [Double], target: Int)) in (row.scores.map { $0 / t }, row.target) },
                                                count: f.set.labels.count)
                    runner.setBiases(b, labelSet: f.set)
                    fittedBiases[f.name] = b
                }
            }
        }
        var all: [ScoredPrediction] = []
        var latencies: [Double] = [], prefillTokens: [Double] = []
        // Items after the first of their family (the label set's prefixes and label words already evaluated, as for
        // an app classifying many inputs with one label set) and the first items (which may evaluate them again:
        // the prefix cache holds about one label set's prefixes).
        var warm: [Double] = [], firstItems: [Double] = []
        var channelSkipped = 0
        var channelLabelsSum = 0.0
        var perFamily: [String: Any] = [:]
        var familyOrder: [String] = []
        for f in fams {
            var preds: [ScoredPrediction] = []
            var first = true
            for item in f.items where split == nil || item.split == split {
                guard f.set.names.contains(item.label) else {
                    // An expected label outside the set is scored as wrong (the prediction cannot match it).
                    let c = try runner.classify(item.text, labelSet: f.set)
                    preds.append(ScoredPrediction(truth: item.label, predicted: c.label, confidence: c.confidence))
                    results.append((false, 0))
                    first = false
                    continue
                }
                let c = try runner.classify(item.text, labelSet: f.set)
                let p = ScoredPrediction(truth: item.label, predicted: c.label, confidence: c.confidence)
                preds.append(p)
                results.append((p.correct, p.correct ? 1 : 0))
                let ms = c.timings.totalSeconds * 1000
                latencies.append(ms)
                if first { firstItems.append(ms) } else { warm.append(ms) }
                first = false
                if c.channelSkipped { channelSkipped += 1 }
                channelLabelsSum += Double(c.channelLabels)
                prefillTokens.append(Double(c.timings.promptTokens))
                if verbose {
                    StandardStream.error.write(String(printf: "%@ %@ %@ → %@ (%.2f) %.0f ms, %d tokens, channel %d  %@\n",
                                                      p.correct ? "✓" : "✗", f.name, item.label, c.label, c.confidence,
                                                      c.timings.totalSeconds * 1000, c.timings.promptTokens + c.timings.generatedTokens,
                                                      c.channelLabels, String(item.text.prefix(60))))
                }
            }
            guard !preds.isEmpty else { continue }
            familyOrder.append(f.name)
            perFamily[f.name] = [
                "correct": preds.filter(\.correct).count, "total": preds.count,
                "accuracy": ClassificationMetrics.accuracy(preds),
                "macro_f1": ClassificationMetrics.macroF1(preds, labels: f.set.names),
                "ece": ClassificationMetrics.ece(preds), "labels": f.set.names, "words": f.set.words,
                "temperature": runner.temperature(for: f.set),
            ]
            all += preds
        }
        guard !all.isEmpty else { throw CLIError("no classify examples in \(data)\(split.map { " with split \($0)" } ?? "")") }
        let familyAccuracies = familyOrder.compactMap { (perFamily[$0] as? [String: Any])?["accuracy"] as? Double }
        let channel = runner.channelSetting(fewShot: shots > 0)
        let familyF1 = familyOrder.compactMap { (perFamily[$0] as? [String: Any])?["macro_f1"] as? Double }
        return [
            "task": "classify", "examples": all.count, "accuracy": ClassificationMetrics.accuracy(all),
            "macro_f1": Self.mean(familyF1),
            "family_mean_accuracy": Self.mean(familyAccuracies),
            "min_family_accuracy": familyAccuracies.min() ?? 0,
            "ece": ClassificationMetrics.ece(all), "latency_p50_ms": Self.percentile(latencies, 0.5),
            "latency_p95_ms": Self.percentile(latencies, 0.95), "prompt_tokens_p50": Self.percentile(prefillTokens, 0.5),
            "latency_mean_ms": Self.mean(latencies),
            "latency_warm_p50_ms": Self.percentile(warm, 0.5), "latency_warm_p95_ms": Self.percentile(warm, 0.95),
            "latency_warm_mean_ms": Self.mean(warm), "latency_first_item_mean_ms": Self.mean(firstItems),
            "channel_skipped": channelSkipped, "channel_skip": channel.skip.map { "\($0)" } ?? "off", "batched_labels": runner.options.batchedLabels, "fitted_biases": fittedBiases, "channel_top_k": channel.topK.map { "\($0)" } ?? "all", "channel_coverage": channel.coverage.map { "\($0)" } ?? "off", "channel_labels_mean": channelLabelsSum / Double(max(1, latencies.count)), "calibration": calibration, "label_score": labelScore, "scoring": scoring, "shots": shots, "descriptions": !noDescriptions,
            "humanised": !rawLabels, "temperature": fitted ?? temperature ?? runner.defaultTemperature(fewShot: shots > 0),
            "families": perFamily, "family_order": familyOrder,
            "reliability": ClassificationMetrics.reliability(all).map {
                ["lower": $0.lower, "upper": $0.upper, "count": $0.count, "accuracy": $0.accuracy, "mean_confidence": $0.meanConfidence]
            },
            "selective": ClassificationMetrics.selective(all).map {
                ["threshold": $0.threshold, "coverage": $0.coverage, "accuracy": $0.accuracy]
            },
        ]
    }

    /// The classify report as text: a per-family table, the reliability table and the threshold table.
    func printClassifyReport(_ r: [String: Any]) {
        func pct(_ x: Any?) -> String { String(printf: "%5.1f %%", 100 * ((x as? Double) ?? 0)) }
        func num(_ x: Any?) -> String { String(printf: "%.3f", (x as? Double) ?? 0) }
        func pad(_ s: String) -> String { s.count >= 20 ? s : s + String(repeating: " ", count: 20 - s.count) }
        print("classify: \(r["examples"] ?? 0) examples\(split.map { " (split \($0))" } ?? ""), scoring \(scoring), calibration \(calibration), temperature \(num(r["temperature"])), shots \(shots)\(noDescriptions ? ", no descriptions" : "")\(rawLabels ? ", raw labels" : "")")
        print("family                 n   accuracy  macro-F1    ECE")
        let fams = r["families"] as? [String: Any] ?? [:]
        for name in r["family_order"] as? [String] ?? [] {
            guard let f = fams[name] as? [String: Any] else { continue }
            print(pad(name) + String(printf: " %3d   ", (f["total"] as? Int) ?? 0) + pct(f["accuracy"]) + "    "
                  + num(f["macro_f1"]) + "   " + num(f["ece"]))
        }
        print(pad("overall") + String(printf: " %3d   ", (r["examples"] as? Int) ?? 0) + pct(r["accuracy"]) + "    "
              + num(r["macro_f1"]) + "   " + num(r["ece"]))
        print("reliability (confidence bin: predictions, accuracy, mean confidence):")
        for b in r["reliability"] as? [[String: Any]] ?? [] where (b["count"] as? Int ?? 0) > 0 {
            print(String(printf: "  %.1f–%.1f: %3d  ", (b["lower"] as? Double) ?? 0, (b["upper"] as? Double) ?? 0,
                         (b["count"] as? Int) ?? 0) + num(b["accuracy"]) + "  " + num(b["mean_confidence"]))
        }
        print("threshold (answers kept, their accuracy):")
        for s in r["selective"] as? [[String: Any]] ?? [] {
            print(String(printf: "  ≥ %.1f: ", (s["threshold"] as? Double) ?? 0) + pct(s["coverage"]) + " kept, " + pct(s["accuracy"]) + " right")
        }
        for k in ["accuracy", "macro_f1", "ece", "min_family_accuracy", "latency_p50_ms", "latency_p95_ms"] {
            print("\(k): \(r[k] ?? 0)")
        }
    }

    /// Field match: strings compared case-insensitively after trimming; numbers, booleans, null exactly;
    /// arrays element-wise.
    static func matches(_ a: JSONValue?, _ b: JSONValue) -> Bool {
        switch (a, b) {
        case (.string(let x)?, .string(let y)):
            return x.trimmingWhitespace().lowercased() == y.trimmingWhitespace().lowercased()
        case (nil, .null): return true
        case (.array(let x)?, .array(let y)): return x.count == y.count && zip(x, y).allSatisfy { matches($0, $1) }
        case (let x?, let y): return x == y
        default: return false
        }
    }

    /// String values of the span fields of `value` (top level, and strings inside arrays), under `policy`.
    static func spanValues(_ value: JSONValue, schema: JSONSchema, policy: SpanPolicy) -> [String] {
        guard case .object(let props) = schema.kind else { return [] }
        var out: [String] = []
        for p in props {
            switch (p.schema.kind, value[p.name]) {
            case (.string, .string(let s)?) where p.schema.isSpan(named: p.name, policy: policy): out.append(s)
            case (.array(let items, _), .array(let a)?) where items.isSpan(named: p.name, policy: policy):
                for case .string(let s) in a { out.append(s) }
            default: break
            }
        }
        return out
    }

    func evalExtract(_ runner: TaskRunner, _ lines: [JSONValue], results: inout [(correct: Bool, score: Double)]) throws -> [String: Any] {
        var shared: JSONSchema? = nil
        if let schema {
            guard let d = FileManager.default.contents(atPath: schema) else { throw CLIError("cannot read schema \(schema)") }
            shared = try JSONSchema(json: String(decoding: d, as: UTF8.self))
        }
        var valid = 0, fields = 0, fieldHits = 0, exact = 0, forced = 0, spanValues = 0, invented = 0
        var latencies: [Double] = [], perToken: [Double] = [], maskPerToken: [Double] = []
        var maskTotal = 0.0, decodeTotal = 0.0, tokensTotal = 0
        var calib: [ScoredPrediction] = []
        var perField: [String: (hits: Int, total: Int)] = [:]
        var perFamily: [String: (hits: Int, total: Int, items: Int)] = [:]
        var familyOrder: [String] = []
        for (i, v) in lines.enumerated() {
            guard let text = Self.string(v["text"]), case .object(let expected)? = v["expected"] else {
                throw CLIError("example \(i + 1) needs \"text\" and an \"expected\" object")
            }
            let s: JSONSchema
            if let inline = v["schema"] { s = try JSONSchema(value: inline) } else if let shared { s = shared } else {
                throw CLIError("example \(i + 1) has no \"schema\" and no --schema was given")
            }
            let e = try runner.extract(text, schema: s)
            // Independent checks: Foundation's JSON decoder parses it, and it validates.
            let parses = (try? JSONDecoder().decode(AnyJSON.self, from: Data(e.text.utf8))) != nil
            let validates = (try? s.validate(try JSONValue.parse(e.text))) != nil
            if parses && validates { valid += 1 }
            if e.forcedCompletion { forced += 1 }
            // Span fields: every value must be text of the input (checked here on the decoded strings).
            // With --spans off, the fields `auto` would constrain are checked (how many values were invented).
            let spans = Self.spanValues(e.value, schema: s, policy: runner.options.spans == .off ? .auto : runner.options.spans)
            spanValues += spans.count
            let bad = spans.filter { !text.contains($0) }
            invented += bad.count
            var hits = 0
            for (k, want) in expected {
                let ok = Self.matches(e.value[k], want)
                if ok { hits += 1 }
                perField[k, default: (0, 0)].hits += ok ? 1 : 0
                perField[k, default: (0, 0)].total += 1
            }
            let family = Self.string(v["family"]) ?? "all"
            if perFamily[family] == nil { familyOrder.append(family) }
            perFamily[family, default: (0, 0, 0)].hits += hits
            perFamily[family, default: (0, 0, 0)].total += expected.count
            perFamily[family, default: (0, 0, 0)].items += 1
            fields += expected.count; fieldHits += hits
            if hits == expected.count { exact += 1 }
            results.append((hits == expected.count, expected.isEmpty ? 1 : Double(hits) / Double(expected.count)))
            calib.append(ScoredPrediction(truth: "right", predicted: hits == expected.count ? "right" : "wrong", confidence: e.confidence))
            latencies.append(e.timings.totalSeconds * 1000)
            if e.timings.generatedTokens > 0 {
                perToken.append(e.timings.decodeSeconds * 1000 / Double(e.timings.generatedTokens))
                maskPerToken.append(e.timings.maskSeconds * 1000 / Double(e.timings.generatedTokens))
                maskTotal += e.timings.maskSeconds; decodeTotal += e.timings.decodeSeconds
                tokensTotal += e.timings.generatedTokens
            }
            if verbose {
                StandardStream.error.write("\(hits)/\(expected.count) \(e.text)\(bad.isEmpty ? "" : "  NOT IN TEXT: \(bad)")\n")
            }
        }
        let n = Double(lines.count)
        return [
            "task": "extract", "examples": lines.count, "schema_valid_rate": Double(valid) / n,
            "field_accuracy": fields > 0 ? Double(fieldHits) / Double(fields) : 0, "exact_match": Double(exact) / n,
            "fields": fields, "fields_right": fieldHits,
            "forced_completions": forced, "ece": ClassificationMetrics.ece(calib), "spans": runner.options.spans.rawValue,
            "span_values": spanValues, "span_values_not_in_text": invented,
            "per_field": perField.mapValues { ["right": $0.hits, "total": $0.total, "accuracy": Double($0.hits) / Double(max($0.total, 1))] },
            "families": perFamily.mapValues { ["fields_right": $0.hits, "fields": $0.total, "examples": $0.items,
                                                "field_accuracy": Double($0.hits) / Double(max($0.total, 1))] },
            "latency_p50_ms": Self.percentile(latencies, 0.5), "latency_p95_ms": Self.percentile(latencies, 0.95),
            "decode_ms_per_token_p50": Self.percentile(perToken, 0.5),
            "mask_ms_per_token_p50": Self.percentile(maskPerToken, 0.5),
            "mask_ms_per_token_mean": tokensTotal > 0 ? maskTotal * 1000 / Double(tokensTotal) : 0,
            "mask_share_of_decode": decodeTotal > 0 ? maskTotal / decodeTotal : 0,
        ]
    }
}

/// Any JSON value, decoded by Foundation's `JSONDecoder`: the parser `eval` checks extraction output with,
/// independent of ``JSONValue``'s.
private struct AnyJSON: Decodable {
    init(from decoder: any Decoder) throws {
        if var array = try? decoder.unkeyedContainer() {
            while !array.isAtEnd { _ = try array.decode(AnyJSON.self) }
            return
        }
        if let object = try? decoder.container(keyedBy: AnyKey.self) {
            for key in object.allKeys { _ = try object.decode(AnyJSON.self, forKey: key) }
            return
        }
        let value = try decoder.singleValueContainer()
        if value.decodeNil() { return }
        if (try? value.decode(Bool.self)) != nil { return }
        if (try? value.decode(Double.self)) != nil { return }
        _ = try value.decode(String.self)
    }

    private struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }
}
