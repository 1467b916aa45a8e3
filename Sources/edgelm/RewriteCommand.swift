import ArgumentParser
import EdgeLM
import Foundation

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

    /// Rewrites one text on `runner` through the router; records its telemetry event. Returns the `--json`
    /// document (also each line of `--input`).
    func rewriteOne(_ runner: TaskRunner, text: String, instruction: String, maxTokens: Int,
                    recorder: TelemetryRecorder) throws -> (String, [String: Any]) {
        let start = DispatchTime.now().uptimeNanoseconds
        let local = TimedLocalHandler(runner)
        let result = try taskOptions.router(local: local)
            .run(taskOptions.request(.rewrite(text: text, instruction: instruction, maxTokens: maxTokens),
                                     defaultCapability: .draft))
        guard case .rewrite(let s) = result.output else { throw CLIError("unexpected output kind") }
        recorder.recordLocked(TelemetryEvent(task: .rewrite, latencyMs: TelemetryRecorder.elapsedMs(since: start),
                                             tokens: local.lastTokens, escalation: TelemetryRecorder.escalation(result)))
        var obj: [String: Any] = ["text": s]
        obj.merge(routingFields(result)) { a, _ in a }
        return (s, obj)
    }

    private func run(_ recorder: TelemetryRecorder) throws {
        let (model, opts) = try taskOptions.prepare(modelOptions, memoryOptions, recorder)
        let maxTokens = try memoryOptions.resolvedProfile().map { min(self.maxTokens, $0.maxOutputTokens) } ?? self.maxTokens
        if let input = batch.input {
            let command = UncheckedBox((self, recorder))
            try BatchRunner.run(path: input, parallel: batch.parallel, command: "rewrite", model: model, options: opts) { runner, item in
                let (cmd, recorder) = command.value
                return jsonLine(try cmd.rewriteOne(runner, text: item.text, instruction: try item.string("instruction") ?? cmd.instruction,
                                                   maxTokens: maxTokens, recorder: recorder).1)
            }
            return
        }
        let text = self.text ?? ""
        let runner = try TaskRunner(model: model, options: opts)
        let start = DispatchTime.now().uptimeNanoseconds
        if json || taskOptions.remoteURL != nil || ProcessInfo.processInfo.environment["EDGELM_REMOTE_URL"] != nil {
            let (s, obj) = try rewriteOne(runner, text: text, instruction: instruction, maxTokens: maxTokens, recorder: recorder)
            if json {
                try printJSON(obj)
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
        FileHandle.standardError.write(Data(String(
            format: "[%d prompt tokens, %d generated, %.0f ms, %@]\n", r.timings.promptTokens, r.timings.generatedTokens,
            r.timings.totalSeconds * 1000, r.finished ? "end of turn" : "max tokens").utf8))
    }
}
