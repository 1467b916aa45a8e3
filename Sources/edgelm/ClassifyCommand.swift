import ArgumentParser
import EdgeLM
import EdgeLMCommandSupport
import EdgeLMEssentials

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
        let remote = remoteEndpoint(remoteURL).map { OpenAICompatibleHandler(url: $0, model: remoteModel, timeout: remoteTimeout,
                                                                             transport: SubprocessTransport.beside) }
        return Router(local: local, remote: remote,
                      policy: RouterPolicy(confidenceThreshold: threshold, offline: strictRemote ? .fail : .localLowConfidence))
    }

    func request(_ task: TaskInput, defaultCapability: Capability) -> TaskRequest {
        TaskRequest(task: task, capability: Capability(rawValue: capability) ?? defaultCapability,
                    risk: RiskLevel(rawValue: risk) ?? .low, domain: RiskDomain(rawValue: domain) ?? .general)
    }
}

func routingFields(_ r: RoutedResult) -> [String: Any] { TaskDocument.routing(r) }

func timingFields(_ t: TaskTimings) -> [String: Any] { TaskDocument.timings(t) }

/// Reads a file named by a command option, or fails with a one-line error naming the option.
func readOptionFile(_ path: String, option: String, what: String) throws -> Data {
    guard let d = FileManager.default.contents(atPath: path) else {
        throw CLIError("cannot read \(what) \(SafeText.quote(path, limit: 200))", hint: "pass a readable file with \(option)")
    }
    return d
}

/// The label set of `classify` from its flags: `--labels a,b` or `--labels-file FILE.json` (labels with
/// descriptions), plus `--examples FILE.jsonl` (k per label) and `--instruction`.
/// - Throws: `CLIError` for unreadable files, ``TasksError`` for bad contents.
func makeLabelSet(labels: String?, labelsFile: String?, examples: String?, shots: Int, instruction: String?,
                  rawLabels: Bool) throws -> LabelSet {
    var specs: [LabelSpec]
    if let labelsFile {
        specs = try LabelSet.parseLabelsFile(try readOptionFile(labelsFile, option: "--labels-file", what: "labels file"))
    } else {
        specs = try parseLabels(labels ?? "").map { LabelSpec($0) }
    }
    var set = LabelSet(labels: specs, examplesPerLabel: shots, instruction: instruction, humanise: !rawLabels)
    if let examples {
        set.examples = try LabelSet.parseExamples(try readOptionFile(examples, option: "--examples", what: "examples file"))
    }
    try set.validate()
    return set
}

/// Flags that define a classification's label set (shared by `classify` and the batch mode).
struct LabelSetOptions: ParsableArguments {
    @Option(name: .long, help: "Comma-separated labels, any case style (set_alarm, technical-issue, cancelSubscription, NOT_SPAM).")
    var labels: String?
    @Option(name: .long, help: ArgumentHelp("JSON labels file: [{\"label\": \"billing\", \"description\": \"charges, invoices, refunds\"}, …] (instead of --labels).", valueName: "file"))
    var labelsFile: String?
    @Option(name: .long, help: ArgumentHelp("Few-shot examples, JSON Lines {\"text\": …, \"label\": …}; --shots per label go into the prompt.", valueName: "file"))
    var examples: String?
    @Option(name: .long, help: "Examples per label taken from --examples.") var shots = LabelSet.defaultExamplesPerLabel
    @Option(name: .long, help: "Instruction replacing \"Classify the text.\"") var instruction: String?
    @Flag(name: .long, help: "Score the labels verbatim instead of as words (set_alarm is read as \"set alarm\" by default).")
    var rawLabels = false

    func validate() throws {
        switch (labels, labelsFile) {
        case (nil, nil): throw ValidationError("give the labels with --labels a,b,c or --labels-file FILE.json")
        case (_?, _?): throw ValidationError("give either --labels or --labels-file, not both")
        case (let l?, nil): _ = try parseLabels(l)
        default: break
        }
        try checkRange("--shots", shots, 0...64)
    }

    /// The label set (files are read here). - Throws: `CLIError`, ``TasksError``.
    func labelSet() throws -> LabelSet {
        try makeLabelSet(labels: labels, labelsFile: labelsFile, examples: examples, shots: shots,
                         instruction: instruction, rawLabels: rawLabels)
    }
}

/// The JSON document of one classification (what `classify --json` prints for an input).
func classificationDocument(_ result: RoutedResult, _ c: Classification) -> [String: Any] {
    TaskDocument.classification(result, c)
}

/// Runs one classification through `router` and records its telemetry event: the per-input step of `classify`.
func classifyOne(_ text: String, labelSet: LabelSet, router: Router, local: TimedLocalHandler,
                 request: (TaskInput) -> TaskRequest, recorder: TelemetryRecorder) throws -> (RoutedResult, Classification) {
    let start = DispatchTime.now().uptimeNanoseconds
    let result = try router.run(request(.classifyWith(text: text, labelSet: labelSet)))
    guard case .classification(let c) = result.output else { throw CLIError("unexpected output kind") }
    recorder.recordLocked(TelemetryEvent(task: .classify, latencyMs: TelemetryRecorder.elapsedMs(since: start),
                                   tokens: local.lastTokens, escalation: TelemetryRecorder.escalation(result)))
    return (result, c)
}

struct ClassifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "classify",
        abstract: "Classify text into one of the given labels (label likelihood, calibrated confidence).",
        discussion: """
        Labels may be written in any case style; the model scores them as words (set_alarm → "set alarm", \
        NOT_SPAM → "not spam", en,fr → English, French) and the answer names them as given. Descriptions \
        (--labels-file) and few-shot examples (--examples) go into the prompt prefix, evaluated once per label set.
        """)

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var memoryOptions: MemoryOptions
    @OptionGroup var taskOptions: TaskCLIOptions
    @OptionGroup var telemetryOptions: TelemetryOptions
    @OptionGroup var labelOptions: LabelSetOptions
    @Option(name: .long, help: "The text to classify.") var text: String?
    @Option(name: .long, help: "Calibration: contextual (default) or none.") var calibration = "contextual"
    @Option(name: .long, help: "Scoring: combined (default: answer and text likelihood), direct (answer) or channel (text).")
    var scoring = "combined"
    @Option(name: .long, help: ArgumentHelp("Combined scoring: skip the channel half when the direct half's confidence is at least P (off: never; tuned: the model's, chosen on the tune split).", valueName: "P|off|tuned"))
    var channelSkip = TaskOptions.defaultChannelSkipArgument
    @Option(name: .long, help: ArgumentHelp("Combined scoring: evaluate the channel half only for the direct half's K best labels (all: every label; tuned: the model's, chosen on the tune split).", valueName: "K|all|tuned"))
    var channelTopK = TaskOptions.defaultChannelTopKArgument
    @Option(name: .long, help: ArgumentHelp("Combined scoring: add labels to the K best until they hold at least P of the direct half's probability (off: exactly K; tuned: the model's, chosen on the tune split).", valueName: "P|off|tuned"))
    var channelCoverage = TaskOptions.defaultChannelCoverageArgument
    @Flag(name: .long, help: "Print one JSON object.") var json = false
    @OptionGroup var batch: BatchOptions

    func validate() throws {
        try checkTextOrInput(text, batch)
        guard ClassifierScoring(rawValue: scoring) != nil else { throw ValidationError("--scoring must be combined, direct or channel") }
        guard CalibrationMode(rawValue: calibration) != nil else { throw ValidationError("--calibration must be contextual or none") }
        try TaskOptions.checkChannelFlags(skip: channelSkip, topK: channelTopK, coverage: channelCoverage)
    }

    /// The scoring flags applied to the prepared options.
    func applyScoring(_ opts: inout TaskOptions) {
        opts.calibration = CalibrationMode(rawValue: calibration) ?? .contextual
        opts.scoring = ClassifierScoring(rawValue: scoring) ?? .combined
        opts.channelSkip = TaskOptions.channelSkip(channelSkip) ?? .tuned   // checked in validate()
        opts.channelLabels = TaskOptions.channelLabels(channelTopK) ?? .tuned
        opts.channelCoverage = TaskOptions.channelCoverage(channelCoverage) ?? .tuned
    }

    func run() throws {
        let recorder = TelemetryRecorder(telemetryOptions, storeDirectory: modelOptions.store)
        if let input = batch.input {
            try recorder.guarded(.classify) {
                let set = try labelOptions.labelSet()
                var (model, opts) = try taskOptions.prepare(modelOptions, memoryOptions, recorder)
                applyScoring(&opts)
                let command = UncheckedBox((self, recorder, set))
                try BatchRunner.run(path: input, parallel: batch.parallel, command: "classify", model: model, options: opts) { runner, item in
                    let (cmd, recorder, commandSet) = command.value
                    // Per-line labels / instruction replace the command's (its examples and shots still apply).
                    var set = commandSet
                    if let labels = try item.labels() {
                        let o = cmd.labelOptions
                        set = try makeLabelSet(labels: labels.joined(separator: ","), labelsFile: nil, examples: o.examples,
                                               shots: o.shots, instruction: o.instruction, rawLabels: o.rawLabels)
                    }
                    if let instruction = try item.string("instruction") { set.instruction = instruction }
                    let local = TimedLocalHandler(runner)
                    let (result, c) = try classifyOne(item.text, labelSet: set, router: cmd.taskOptions.router(local: local), local: local,
                                                      request: { cmd.taskOptions.request($0, defaultCapability: .classify) },
                                                      recorder: recorder)
                    return jsonLine(classificationDocument(result, c))
                }
            }
            return
        }
        let text = self.text ?? ""
        let (result, c) = try recorder.guarded(.classify) { () throws -> (RoutedResult, Classification) in
            let set = try labelOptions.labelSet()
            var (model, opts) = try taskOptions.prepare(modelOptions, memoryOptions, recorder)
            applyScoring(&opts)
            let local = TimedLocalHandler(try TaskRunner(model: model, options: opts))
            return try classifyOne(text, labelSet: set, router: taskOptions.router(local: local), local: local,
                                   request: { taskOptions.request($0, defaultCapability: .classify) }, recorder: recorder)
        }
        if json {
            try printJSON(classificationDocument(result, c))
        } else {
            print(c.label)
            let probs = zip(c.labels, c.probabilities).map { String(printf: "%@ %.3f", $0, $1) }.joined(separator: ", ")
            StandardStream.error.write(
                "[\(probs); confidence \(String(printf: "%.3f", c.confidence)); \(result.origin.rawValue), \(result.reason.rawValue)\(result.lowConfidence ? ", low confidence" : "")]\n")
        }
    }
}

extension TaskOptions {
    /// `--channel-skip`'s default, from the library's (one place for the value).
    static var defaultChannelSkipArgument: String { TaskOptions().channelSkip.description }
    /// `--channel-top-k`'s default, from the library's.
    static var defaultChannelTopKArgument: String { TaskOptions().channelLabels.description }
    /// `--channel-coverage`'s default, from the library's.
    static var defaultChannelCoverageArgument: String { TaskOptions().channelCoverage.description }

    /// `--channel-skip P|off|tuned`, nil when it is none of them (P in (0, 1]).
    static func channelSkip(_ argument: String) -> ChannelSkip? {
        switch argument {
        case "tuned": .tuned
        case "off": .never
        default: probability(argument).map { .atConfidence($0) }
        }
    }

    /// `--channel-top-k K|all|tuned`, nil when it is none of them (K ≥ 1).
    static func channelLabels(_ argument: String) -> ChannelLabels? {
        switch argument {
        case "tuned": .tuned
        case "all": .all
        default: Int(argument).flatMap { $0 >= 1 ? .top($0) : nil }
        }
    }

    /// `--channel-coverage P|off|tuned`, nil when it is none of them (P in (0, 1]).
    static func channelCoverage(_ argument: String) -> ChannelCoverage? {
        switch argument {
        case "tuned": .tuned
        case "off": .off
        default: probability(argument).map { .share($0) }
        }
    }

    /// A probability in (0, 1] spelled as a number, else nil.
    private static func probability(_ argument: String) -> Double? {
        Double(argument).flatMap { $0 > 0 && $0 <= 1 ? $0 : nil }
    }

    /// Checks `--channel-skip`, `--channel-top-k` and `--channel-coverage` (classify and eval) with the parsers above.
    static func checkChannelFlags(skip: String, topK: String, coverage: String) throws {
        guard channelSkip(skip) != nil else {
            throw ValidationError("--channel-skip must be a probability in (0, 1], off or tuned")
        }
        guard channelLabels(topK) != nil else {
            throw ValidationError("--channel-top-k must be a number of labels ≥ 1, all or tuned")
        }
        guard channelCoverage(coverage) != nil else {
            throw ValidationError("--channel-coverage must be a probability in (0, 1], off or tuned")
        }
    }
}
