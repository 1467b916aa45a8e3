import ArgumentParser
import EdgeLM
import EdgeLMCommandSupport
import EdgeLMEssentials

/// Runs one rewrite through `router` and records its telemetry event: the per-input step of `rewrite` (non-streaming).
func rewriteOne(_ text: String, instruction: String, maxTokens: Int, router: Router, local: TimedLocalHandler,
                request: (TaskInput) -> TaskRequest, recorder: TelemetryRecorder) throws -> (RoutedResult, String) {
    let start = DispatchTime.now().uptimeNanoseconds
    let result = try router.run(request(.rewrite(text: text, instruction: instruction, maxTokens: maxTokens)))
    guard case .rewrite(let s) = result.output else { throw CLIError("unexpected output kind") }
    recorder.recordLocked(TelemetryEvent(task: .rewrite, latencyMs: TelemetryRecorder.elapsedMs(since: start),
                                   tokens: local.lastTokens, escalation: TelemetryRecorder.escalation(result)))
    return (result, s)
}

struct RewriteCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rewrite",
        abstract: "Rewrite text as instructed (short, capped; refuses inputs that do not fit the context).")

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var memoryOptions: MemoryOptions
    @OptionGroup var taskOptions: TaskCLIOptions
    @OptionGroup var telemetryOptions: TelemetryOptions
    @Option(name: .long, help: "What to do, e.g. \"make it polite\".") var instruction: String
    @Option(name: .long, help: "The text to rewrite.") var text: String?
    @Option(name: .long, help: "Cap on generated tokens (at most the profile's max output tokens).") var maxTokens = 128
    @Flag(name: .long, help: "Print one JSON object instead of streaming.") var json = false
    @OptionGroup var batch: BatchOptions

    func validate() throws {
        try checkRange("--max-tokens", maxTokens, 1...100_000)
        try checkTextOrInput(text, batch)
        guard !instruction.isEmpty else { throw ValidationError("--instruction must not be empty") }
    }

    func run() throws {
        let recorder = TelemetryRecorder(telemetryOptions, storeDirectory: modelOptions.store)
        try recorder.guarded(.rewrite) { try run(recorder) }
    }

    /// The `--json` document of one rewrite (also each line of `--input`).
    static func document(_ result: RoutedResult, _ s: String) -> [String: Any] { TaskDocument.rewrite(result, s) }

    private func run(_ recorder: TelemetryRecorder) throws {
        let (model, opts) = try taskOptions.prepare(modelOptions, memoryOptions, recorder)
        let maxTokens = try memoryOptions.resolvedProfile().map { min(self.maxTokens, $0.maxOutputTokens) } ?? self.maxTokens
        if let input = batch.input {
            let command = UncheckedBox((self, recorder))
            try BatchRunner.run(path: input, parallel: batch.parallel, command: "rewrite", model: model, options: opts) { runner, item in
                let (cmd, recorder) = command.value
                let local = TimedLocalHandler(runner)
                let (result, s) = try rewriteOne(item.text, instruction: try item.string("instruction") ?? cmd.instruction,
                                                 maxTokens: maxTokens, router: cmd.taskOptions.router(local: local), local: local,
                                                 request: { cmd.taskOptions.request($0, defaultCapability: .draft) }, recorder: recorder)
                return jsonLine(Self.document(result, s))
            }
            return
        }
        let text = self.text ?? ""
        let runner = try TaskRunner(model: model, options: opts)
        let start = DispatchTime.now().uptimeNanoseconds
        if json || taskOptions.remoteURL != nil || ProcessInfo.processInfo.environment["EDGELM_REMOTE_URL"] != nil {
            let local = TimedLocalHandler(runner)
            let (result, s) = try rewriteOne(text, instruction: instruction, maxTokens: maxTokens,
                                             router: taskOptions.router(local: local), local: local,
                                             request: { taskOptions.request($0, defaultCapability: .draft) }, recorder: recorder)
            if json {
                try printJSON(Self.document(result, s))
            } else {
                print(s)
            }
            return
        }
        // Local streaming path.
        let r = try runner.rewrite(text, instruction: instruction, maxTokens: maxTokens) { chunk in
            writeStdout(chunk); return true
        }
        recorder.record(TelemetryEvent(task: .rewrite, latencyMs: TelemetryRecorder.elapsedMs(since: start),
                                       tokens: r.timings.promptTokens + r.timings.generatedTokens))
        writeStdout("\n")
        StandardStream.error.write(String(
            printf: "[%d prompt tokens, %d generated, %.0f ms, %@]\n", r.timings.promptTokens, r.timings.generatedTokens,
            r.timings.totalSeconds * 1000, r.finished ? "end of turn" : "max tokens"))
    }
}
