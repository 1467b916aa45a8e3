import ArgumentParser
import EdgeLM
import Foundation

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
    @Flag(name: .long, help: "Print timings and routing to stderr.") var verbose = false
    @OptionGroup var batch: BatchOptions

    func validate() throws {
        try checkRange("--max-tokens", maxTokens, 1...100_000)
        try checkTextOrInput(text, batch)
    }

    /// Extracts from one text on `runner` through the router; records its telemetry event.
    func extractOne(_ runner: TaskRunner, text: String, schema parsed: JSONSchema,
                    recorder: TelemetryRecorder) throws -> (RoutedResult, JSONValue) {
        let local = TimedLocalHandler(runner)
        let start = DispatchTime.now().uptimeNanoseconds
        let result = try taskOptions.router(local: local)
            .run(taskOptions.request(.extract(text: text, schema: parsed), defaultCapability: .prefill))
        guard case .extraction(let value) = result.output else { throw CLIError("unexpected output kind") }
        recorder.recordLocked(TelemetryEvent(task: .extract, latencyMs: TelemetryRecorder.elapsedMs(since: start),
                                             tokens: local.lastTokens, escalation: TelemetryRecorder.escalation(result)))
        return (result, value)
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
                let command = UncheckedBox((self, recorder, parsed))
                try BatchRunner.run(path: input, parallel: batch.parallel, command: "extract", model: model, options: opts) { runner, item in
                    let (cmd, recorder, parsed) = command.value
                    return try cmd.extractOne(runner, text: item.text, schema: parsed, recorder: recorder).1.description
                }
            }
            return
        }
        let text = self.text ?? ""
        let (result, value) = try recorder.guarded(.extract) { () throws -> (RoutedResult, JSONValue) in
            let parsed = try JSONSchema(json: String(decoding: data, as: UTF8.self))   // unsupported features fail here
            var (model, opts) = try taskOptions.prepare(modelOptions, memoryOptions, recorder)
            opts.maxExtractTokens = try memoryOptions.resolvedProfile().map { min(maxTokens, $0.maxOutputTokens) } ?? maxTokens
            return try extractOne(try TaskRunner(model: model, options: opts), text: text, schema: parsed, recorder: recorder)
        }
        writeStdout(value.description + "\n")
        if verbose {
            FileHandle.standardError.write(Data("[\(result.origin.rawValue), \(result.reason.rawValue)]\n".utf8))
        }
    }
}
