import ArgumentParser
import EdgeLM
import EdgeLMCommandSupport
import EdgeLMEssentials

/// Runs one extraction through `router` and records its telemetry event: the per-input step of `extract`.
func extractOne(_ text: String, schema: JSONSchema, router: Router, local: TimedLocalHandler,
                request: (TaskInput) -> TaskRequest, recorder: TelemetryRecorder) throws -> (RoutedResult, JSONValue) {
    let start = DispatchTime.now().uptimeNanoseconds
    let result = try router.run(request(.extract(text: text, schema: schema)))
    guard case .extraction(let value) = result.output else { throw CLIError("unexpected output kind") }
    recorder.recordLocked(TelemetryEvent(task: .extract, latencyMs: TelemetryRecorder.elapsedMs(since: start),
                                   tokens: local.lastTokens, escalation: TelemetryRecorder.escalation(result)))
    return (result, value)
}

struct ExtractCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "extract",
        abstract: "Extract a JSON object matching a JSON Schema from text (constrained decoding: always valid).")

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var memoryOptions: MemoryOptions
    @OptionGroup var taskOptions: TaskCLIOptions
    @OptionGroup var telemetryOptions: TelemetryOptions
    @Option(name: .long, help: "JSON Schema file (object, properties, required, string/number/integer/boolean/enum/arrays).")
    var schema: String
    @Option(name: .long, help: "The text to extract from.") var text: String?
    @Option(name: .long, help: "Cap on generated tokens (the JSON is closed when reached; at most the profile's max output tokens).") var maxTokens = 192
    @Option(name: .long, help: ArgumentHelp("String fields copied from the text: auto (every string not marked \"x-edgelm-source\": \"free\" nor named like generated text, e.g. summary), marked (only \"x-edgelm-source\": \"span\"), off.", valueName: "policy"))
    var spans = "auto"
    @Option(name: .long, help: ArgumentHelp("Typed fields, whose value must be a span of its type (an email address, a phone number, a date, a number of the text, …; null when the text has none): auto (the schema's format/pattern/x-edgelm-type, else the type the field name suggests), schema (only what the schema says), off.", valueName: "policy"))
    var spanTypes = "auto"
    @Flag(name: .long, help: "Print timings and routing to stderr.") var verbose = false
    @OptionGroup var batch: BatchOptions

    func validate() throws {
        try checkRange("--max-tokens", maxTokens, 1...100_000)
        try checkTextOrInput(text, batch)
        guard SpanPolicy(rawValue: spans) != nil else { throw ValidationError("--spans must be auto, marked or off") }
        guard SpanTypePolicy(rawValue: spanTypes) != nil else { throw ValidationError("--span-types must be auto, schema or off") }
    }

    func run() throws {
        guard let data = FileManager.default.contents(atPath: schema) else {
            throw CLIError("cannot read schema file \(schema)", hint: "pass a JSON Schema file with --schema")
        }
        let recorder = TelemetryRecorder(telemetryOptions, storeDirectory: modelOptions.store)
        if let input = batch.input {
            try recorder.guarded(.extract) {
                let parsed = try JSONSchema(json: String(decoding: data, as: UTF8.self))   // unsupported features fail here
                var (model, opts) = try taskOptions.prepare(modelOptions, memoryOptions, recorder)
                opts.maxExtractTokens = try memoryOptions.resolvedProfile().map { min(maxTokens, $0.maxOutputTokens) } ?? maxTokens
                opts.spans = SpanPolicy(rawValue: spans) ?? .auto
                opts.spanTypes = SpanTypePolicy(rawValue: spanTypes) ?? .auto
                let command = UncheckedBox((self, recorder, parsed))
                try BatchRunner.run(path: input, parallel: batch.parallel, command: "extract", model: model, options: opts) { runner, item in
                    let (cmd, recorder, parsed) = command.value
                    let local = TimedLocalHandler(runner)
                    return try extractOne(item.text, schema: parsed, router: cmd.taskOptions.router(local: local), local: local,
                                          request: { cmd.taskOptions.request($0, defaultCapability: .prefill) },
                                          recorder: recorder).1.description
                }
            }
            return
        }
        let text = self.text ?? ""
        let (result, value) = try recorder.guarded(.extract) { () throws -> (RoutedResult, JSONValue) in
            let parsed = try JSONSchema(json: String(decoding: data, as: UTF8.self))   // unsupported features fail here
            var (model, opts) = try taskOptions.prepare(modelOptions, memoryOptions, recorder)
            opts.maxExtractTokens = try memoryOptions.resolvedProfile().map { min(maxTokens, $0.maxOutputTokens) } ?? maxTokens
            opts.spans = SpanPolicy(rawValue: spans) ?? .auto
                opts.spanTypes = SpanTypePolicy(rawValue: spanTypes) ?? .auto
            let local = TimedLocalHandler(try TaskRunner(model: model, options: opts))
            return try extractOne(text, schema: parsed, router: taskOptions.router(local: local), local: local,
                                  request: { taskOptions.request($0, defaultCapability: .prefill) }, recorder: recorder)
        }
        writeStdout(value.description + "\n")
        if verbose {
            StandardStream.error.write("[\(result.origin.rawValue), \(result.reason.rawValue)]\n")
        }
    }
}
