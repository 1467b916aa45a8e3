import ArgumentParser
import EdgeLM
import Foundation

/// Options shared by the task commands: context, calibration and the remote endpoint for escalation.
struct TaskCLIOptions: ParsableArguments {
    @Option(name: .long, help: "Context length of the task session (default: the --profile's, else 2048).") var ctx: Int?
    @Option(name: .long, help: "Remote OpenAI-compatible chat-completions URL for escalation (default: $EDGELM_REMOTE_URL).")
    var remoteURL: String?
    @Option(name: .long, help: "Model name sent to the remote endpoint.") var remoteModel = "gpt-4o-mini"
    @Option(name: .long, help: "Seconds before the remote call gives up.") var remoteTimeout: Double = 20
    @Option(name: .long, help: "Escalate when the local confidence is below this.") var threshold: Double = 0.6
    @Option(name: .long, help: "What the request is for: suggest, draft, classify, prefill, decide.") var capability = "classify"
    @Option(name: .long, help: "Risk level: low, medium, high.") var risk = "low"
    @Option(name: .long, help: "Domain: general, money, medical, legal, policy (all but general are high risk).") var domain = "general"
    @Flag(name: .long, help: "Fail with remoteUnavailable instead of returning the local result when escalation fails.")
    var strictRemote = false

    func validate() throws {
        if let ctx { try checkRange("--ctx", ctx, 64...maxContextOption) }
        try checkRange("--threshold", threshold, 0...1)
        try checkRange("--remote-timeout", remoteTimeout, 0.001...3600)
        guard Capability(rawValue: capability) != nil else {
            throw ValidationError("--capability must be one of \(Capability.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard RiskLevel(rawValue: risk) != nil else { throw ValidationError("--risk must be low, medium or high") }
        guard RiskDomain(rawValue: domain) != nil else {
            throw ValidationError("--domain must be one of \(RiskDomain.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        if let u = remoteURL { try checkHTTPURL("--remote-url", u) }
    }

    /// Loads the model (recording its version in `recorder`) and the task options under the memory options.
    /// - Throws: load errors, `MemoryBudgetError` when the session would not fit the cap.
    func prepare(_ modelOptions: ModelOptions, _ memoryOptions: MemoryOptions,
                 _ recorder: TelemetryRecorder) throws -> (Model, TaskOptions) {
        let loaded = try modelOptions.load()
        recorder.modelKey = loaded.key
        try checkContext(ctx, model: loaded.model)
        let opts = try memoryOptions.taskOptions(model: loaded.model, ctx: ctx, threads: modelOptions.threads,
                                                 defaultContext: 2048)
        return (loaded.model, opts)
    }

    func router(local: LocalTaskHandler?) -> Router {
        // $EDGELM_REMOTE_URL is held to the same rule as --remote-url: http(s) only, else no remote.
        let text = remoteURL ?? ProcessInfo.processInfo.environment["EDGELM_REMOTE_URL"]
        let url = text.flatMap { (try? checkHTTPURL("--remote-url", $0)) != nil ? URL(string: $0) : nil }
        let remote = url.map { OpenAICompatibleHandler(url: $0, model: remoteModel, timeout: remoteTimeout) }
        return Router(local: local, remote: remote,
                      policy: RouterPolicy(confidenceThreshold: threshold, offline: strictRemote ? .fail : .localLowConfidence))
    }

    func request(_ task: TaskInput, defaultCapability: Capability) -> TaskRequest {
        TaskRequest(task: task, capability: Capability(rawValue: capability) ?? defaultCapability,
                    risk: RiskLevel(rawValue: risk) ?? .low, domain: RiskDomain(rawValue: domain) ?? .general)
    }
}

func routingFields(_ r: RoutedResult) -> [String: Any] {
    ["escalated": r.escalated, "origin": r.origin.rawValue, "reason": r.reason.rawValue,
     "low_confidence": r.lowConfidence, "detail": r.detail]
}

func timingFields(_ t: TaskTimings) -> [String: Any] {
    ["prompt_tokens": t.promptTokens, "generated_tokens": t.generatedTokens, "prefill_ms": t.prefillSeconds * 1000,
     "decode_ms": t.decodeSeconds * 1000, "mask_ms": t.maskSeconds * 1000, "total_ms": t.totalSeconds * 1000]
}

struct ClassifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "classify",
        abstract: "Classify text into one of the given labels (label likelihood, calibrated confidence).")

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var memoryOptions: MemoryOptions
    @OptionGroup var taskOptions: TaskCLIOptions
    @OptionGroup var telemetryOptions: TelemetryOptions
    @Option(name: .long, help: "Comma-separated labels, e.g. positive,negative.") var labels: String
    @Option(name: .long, help: "Instruction replacing \"Classify the text.\"") var instruction: String?
    @Option(name: .long, help: "The text to classify.") var text: String?
    @Option(name: .long, help: "Calibration: contextual (default) or none.") var calibration = "contextual"
    @Flag(name: .long, help: "Print one JSON object.") var json = false
    @OptionGroup var batch: BatchOptions

    var labelList: [String] { (try? parseLabels(labels)) ?? [] }

    func validate() throws {
        _ = try parseLabels(labels)
        try checkTextOrInput(text, batch)
        guard CalibrationMode(rawValue: calibration) != nil else { throw ValidationError("--calibration must be contextual or none") }
    }

    /// Classifies one text on `runner` through the router; records its telemetry event.
    func classifyOne(_ runner: TaskRunner, text: String, labels: [String], instruction: String?,
                     recorder: TelemetryRecorder) throws -> (RoutedResult, Classification) {
        let local = TimedLocalHandler(runner)
        let start = DispatchTime.now().uptimeNanoseconds
        let result = try taskOptions.router(local: local)
            .run(taskOptions.request(.classify(text: text, labels: labels, instruction: instruction),
                                     defaultCapability: .classify))
        guard case .classification(let c) = result.output else { throw CLIError("unexpected output kind") }
        recorder.recordLocked(TelemetryEvent(task: .classify, latencyMs: TelemetryRecorder.elapsedMs(since: start),
                                             tokens: local.lastTokens, escalation: TelemetryRecorder.escalation(result)))
        return (result, c)
    }

    /// The `--json` document of one result (also each line of `--input`).
    static func document(_ result: RoutedResult, _ c: Classification) -> [String: Any] {
        var obj: [String: Any] = [
            "label": c.label,
            "probabilities": Dictionary(uniqueKeysWithValues: zip(c.labels, c.probabilities)),
            "confidence": c.confidence,
            "timings": timingFields(c.timings),
        ]
        obj.merge(routingFields(result)) { a, _ in a }
        return obj
    }

    func run() throws {
        let recorder = TelemetryRecorder(telemetryOptions, storeDirectory: modelOptions.store)
        if let input = batch.input {
            try recorder.guarded(.classify) {
                var (model, opts) = try taskOptions.prepare(modelOptions, memoryOptions, recorder)
                opts.calibration = CalibrationMode(rawValue: calibration) ?? .contextual
                let command = UncheckedBox((self, recorder))
                try BatchRunner.run(path: input, parallel: batch.parallel, command: "classify", model: model, options: opts) { runner, item in
                    let (cmd, recorder) = command.value
                    let (result, c) = try cmd.classifyOne(runner, text: item.text, labels: try item.labels() ?? cmd.labelList,
                                                          instruction: try item.string("instruction") ?? cmd.instruction,
                                                          recorder: recorder)
                    return jsonLine(Self.document(result, c))
                }
            }
            return
        }
        let text = self.text ?? ""
        let (result, c) = try recorder.guarded(.classify) { () throws -> (RoutedResult, Classification) in
            var (model, opts) = try taskOptions.prepare(modelOptions, memoryOptions, recorder)
            opts.calibration = CalibrationMode(rawValue: calibration) ?? .contextual
            return try classifyOne(try TaskRunner(model: model, options: opts), text: text, labels: labelList,
                                   instruction: instruction, recorder: recorder)
        }
        if json {
            try printJSON(Self.document(result, c))
        } else {
            print(c.label)
            let probs = zip(c.labels, c.probabilities).map { String(format: "%@ %.3f", $0, $1) }.joined(separator: ", ")
            FileHandle.standardError.write(Data(
                "[\(probs); confidence \(String(format: "%.3f", c.confidence)); \(result.origin.rawValue), \(result.reason.rawValue)\(result.lowConfidence ? ", low confidence" : "")]\n".utf8))
        }
    }
}
