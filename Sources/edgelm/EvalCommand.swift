import ArgumentParser
import EdgeLM
import Foundation

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Evaluate a task on a labelled JSONL set: accuracy / validity, calibration error (ECE), latency.",
        discussion: """
        classify lines: {"text": …, "label": …, "labels": [..], "instruction"?: …, "split"?: "tune"|"heldout"}
        extract lines:  {"text": …, "expected": {…}, "schema"?: {…}, "split"?: …}  (or --schema FILE for all lines)

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
    @Option(name: .long, help: "Fit a softmax temperature on the lines of this split first (classify).") var fitSplit: String?
    @Option(name: .long, help: "Context length (default: the --profile's, else 2048).") var ctx: Int?
    @Option(name: .long, help: "Content-free inputs for contextual calibration, separated by '|'.") var contentFree = "N/A|[MASK]|"
    @Flag(name: .long, help: "Do not score the end-of-turn token after each label.") var noEndOfTurn = false
    @Flag(name: .long, help: "Print one JSON object.") var json = false
    @Flag(name: .long, help: "Print each example's prediction to stderr.") var verbose = false

    func validate() throws {
        guard task == "classify" || task == "extract" else { throw ValidationError("--task must be classify or extract") }
        guard CalibrationMode(rawValue: calibration) != nil else { throw ValidationError("--calibration must be contextual or none") }
        if let ctx { try checkRange("--ctx", ctx, 64...maxContextOption) }
    }

    func loadLines() throws -> [JSONValue] {
        guard let d = FileManager.default.contents(atPath: data) else {
            throw CLIError("cannot read \(data)", hint: "pass a JSONL file with --data")
        }
        var out: [JSONValue] = []
        for (i, line) in String(decoding: d, as: UTF8.self).split(separator: "\n").enumerated() {
            let t = line.trimmingCharacters(in: .whitespaces)
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
        let lines = all.filter { inSplit($0, split) }
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
        let runner = try TaskRunner(model: model, options: opts)
        var results: [(correct: Bool, score: Double)] = []
        let report = task == "classify"
            ? try evalClassify(runner, lines, fitLines: fitSplit.map { s in all.filter { inSplit($0, s) } }, results: &results)
            : try evalExtract(runner, lines, results: &results)
        recorder.recordEvals(taskKind, results)
        if let store = loaded.store {
            let decision = try store.recordEvalScores(results.map(\.score),
                                                      thresholds: LifecycleHealth.thresholds(ProcessInfo.processInfo.environment))
            if decision != .healthy { LifecycleHealth.report(decision) }
        }
        if json { try printJSON(report) } else {
            for k in report.keys.sorted() { print("\(k): \(report[k]!)") }
        }
    }

    static func string(_ v: JSONValue?) -> String? { if case .string(let s)? = v { return s }; return nil }
    static func strings(_ v: JSONValue?) -> [String]? {
        guard case .array(let a)? = v else { return nil }
        return a.compactMap { string($0) }
    }

    static func percentile(_ xs: [Double], _ p: Double) -> Double {
        let s = xs.sorted()
        guard !s.isEmpty else { return 0 }
        return s[min(s.count - 1, Int((p * Double(s.count - 1)).rounded()))]
    }

    /// Expected calibration error over 10 equal-width confidence bins.
    static func ece(_ items: [(confidence: Double, correct: Bool)]) -> Double {
        guard !items.isEmpty else { return 0 }
        var total = 0.0
        for b in 0..<10 {
            let lo = Double(b) / 10, hi = Double(b + 1) / 10
            let bin = items.filter { $0.confidence > lo && $0.confidence <= hi || (b == 0 && $0.confidence == 0) }
            guard !bin.isEmpty else { continue }
            let acc = Double(bin.filter(\.correct).count) / Double(bin.count)
            let conf = bin.map(\.confidence).reduce(0, +) / Double(bin.count)
            total += Double(bin.count) / Double(items.count) * abs(acc - conf)
        }
        return total
    }

    func evalClassify(_ runner: TaskRunner, _ lines: [JSONValue], fitLines: [JSONValue]?,
                      results: inout [(correct: Bool, score: Double)]) throws -> [String: Any] {
        func example(_ v: JSONValue, _ i: Int) throws -> (String, String, [String], String?) {
            guard let text = Self.string(v["text"]), let label = Self.string(v["label"]),
                  let labels = Self.strings(v["labels"]) else {
                throw CLIError("example \(i + 1) needs \"text\", \"label\" and \"labels\"")
            }
            return (text, label, labels, Self.string(v["instruction"]))
        }
        var temperatures: [String: Double] = [:]
        if let fitLines, !fitLines.isEmpty {
            // Group by (labels, instruction) and fit one temperature per label set.
            var groups: [String: (labels: [String], instruction: String?, rows: [(text: String, label: String)])] = [:]
            for (i, v) in fitLines.enumerated() {
                let (text, label, labels, instruction) = try example(v, i)
                let key = labels.joined(separator: ",") + "|" + (instruction ?? "")
                groups[key, default: (labels, instruction, [])].rows.append((text, label))
            }
            for (key, g) in groups {
                temperatures[key] = try runner.calibrateTemperature(examples: g.rows, labels: g.labels, instruction: g.instruction)
            }
        }
        var correct = 0
        var latencies: [Double] = []
        var calib: [(confidence: Double, correct: Bool)] = []
        var perSet: [String: (Int, Int)] = [:]
        for (i, v) in lines.enumerated() {
            let (text, label, labels, instruction) = try example(v, i)
            let c = try runner.classify(text, labels: labels, instruction: instruction)
            let ok = c.label == label
            if ok { correct += 1 }
            results.append((ok, ok ? 1 : 0))
            let setName = labels.joined(separator: ",")
            perSet[setName, default: (0, 0)].0 += ok ? 1 : 0
            perSet[setName, default: (0, 0)].1 += 1
            latencies.append(c.timings.totalSeconds * 1000)
            calib.append((c.confidence, ok))
            if verbose {
                FileHandle.standardError.write(Data(String(format: "%@ %@ → %@ (%.2f)  %@\n", ok ? "✓" : "✗", label, c.label,
                                                           c.confidence, String(text.prefix(60))).utf8))
            }
        }
        return [
            "task": "classify", "examples": lines.count, "accuracy": Double(correct) / Double(lines.count),
            "ece": Self.ece(calib), "latency_p50_ms": Self.percentile(latencies, 0.5),
            "latency_p95_ms": Self.percentile(latencies, 0.95), "calibration": calibration,
            "per_label_set": perSet.mapValues { ["correct": $0.0, "total": $0.1, "accuracy": Double($0.0) / Double($0.1)] },
            "temperatures": temperatures,
        ]
    }

    /// Field match: strings compared case-insensitively after trimming; numbers, booleans, null exactly;
    /// arrays element-wise.
    static func matches(_ a: JSONValue?, _ b: JSONValue) -> Bool {
        switch (a, b) {
        case (.string(let x)?, .string(let y)):
            return x.trimmingCharacters(in: .whitespaces).lowercased() == y.trimmingCharacters(in: .whitespaces).lowercased()
        case (nil, .null): return true
        case (.array(let x)?, .array(let y)): return x.count == y.count && zip(x, y).allSatisfy { matches($0, $1) }
        case (let x?, let y): return x == y
        default: return false
        }
    }

    func evalExtract(_ runner: TaskRunner, _ lines: [JSONValue], results: inout [(correct: Bool, score: Double)]) throws -> [String: Any] {
        var shared: JSONSchema? = nil
        if let schema {
            guard let d = FileManager.default.contents(atPath: schema) else { throw CLIError("cannot read schema \(schema)") }
            shared = try JSONSchema(json: String(decoding: d, as: UTF8.self))
        }
        var valid = 0, fields = 0, fieldHits = 0, exact = 0, forced = 0
        var latencies: [Double] = [], perToken: [Double] = [], maskPerToken: [Double] = []
        var calib: [(confidence: Double, correct: Bool)] = []
        for (i, v) in lines.enumerated() {
            guard let text = Self.string(v["text"]), case .object(let expected)? = v["expected"] else {
                throw CLIError("example \(i + 1) needs \"text\" and an \"expected\" object")
            }
            let s: JSONSchema
            if let inline = v["schema"] { s = try JSONSchema(value: inline) } else if let shared { s = shared } else {
                throw CLIError("example \(i + 1) has no \"schema\" and no --schema was given")
            }
            let e = try runner.extract(text, schema: s)
            // Independent checks: Foundation parses it, and it validates.
            let parses = (try? JSONSerialization.jsonObject(with: Data(e.text.utf8))) != nil
            let validates = (try? s.validate(try JSONValue.parse(e.text))) != nil
            if parses && validates { valid += 1 }
            if e.forcedCompletion { forced += 1 }
            var hits = 0
            for (k, want) in expected { if Self.matches(e.value[k], want) { hits += 1 } }
            fields += expected.count; fieldHits += hits
            if hits == expected.count { exact += 1 }
            results.append((hits == expected.count, expected.isEmpty ? 1 : Double(hits) / Double(expected.count)))
            calib.append((e.confidence, hits == expected.count))
            latencies.append(e.timings.totalSeconds * 1000)
            if e.timings.generatedTokens > 0 {
                perToken.append(e.timings.decodeSeconds * 1000 / Double(e.timings.generatedTokens))
                maskPerToken.append(e.timings.maskSeconds * 1000 / Double(e.timings.generatedTokens))
            }
            if verbose {
                FileHandle.standardError.write(Data("\(hits)/\(expected.count) \(e.text)\n".utf8))
            }
        }
        let n = Double(lines.count)
        return [
            "task": "extract", "examples": lines.count, "schema_valid_rate": Double(valid) / n,
            "field_accuracy": fields > 0 ? Double(fieldHits) / Double(fields) : 0, "exact_match": Double(exact) / n,
            "forced_completions": forced, "ece": Self.ece(calib),
            "latency_p50_ms": Self.percentile(latencies, 0.5), "latency_p95_ms": Self.percentile(latencies, 0.95),
            "decode_ms_per_token_p50": Self.percentile(perToken, 0.5),
            "mask_ms_per_token_p50": Self.percentile(maskPerToken, 0.5),
        ]
    }
}
