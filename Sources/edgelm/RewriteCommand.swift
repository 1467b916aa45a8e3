import ArgumentParser
import EdgeLM
import Foundation

struct RewriteCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rewrite",
        abstract: "Rewrite text as instructed (short, capped; refuses inputs that do not fit the context).")

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var taskOptions: TaskCLIOptions
    @Option(name: .long, help: "What to do, e.g. \"make it polite\".") var instruction: String
    @Option(name: .long, help: "The text to rewrite.") var text: String
    @Option(name: .long, help: "Cap on generated tokens.") var maxTokens = 128
    @Flag(name: .long, help: "Print one JSON object instead of streaming.") var json = false

    func validate() throws {
        guard maxTokens >= 1 else { throw ValidationError("--max-tokens must be ≥ 1") }
        guard !text.isEmpty else { throw ValidationError("--text must not be empty") }
        guard !instruction.isEmpty else { throw ValidationError("--instruction must not be empty") }
    }

    func run() throws {
        let runner = try taskOptions.runner(modelOptions)
        if json || taskOptions.remoteURL != nil || ProcessInfo.processInfo.environment["EDGELM_REMOTE_URL"] != nil {
            let result = try taskOptions.router(local: runner)
                .run(taskOptions.request(.rewrite(text: text, instruction: instruction, maxTokens: maxTokens),
                                         defaultCapability: .draft))
            guard case .rewrite(let s) = result.output else { throw CLIError("unexpected output kind") }
            if json {
                var obj: [String: Any] = ["text": s]
                obj.merge(routingFields(result)) { a, _ in a }
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
        writeStdout("\n")
        FileHandle.standardError.write(Data(String(
            format: "[%d prompt tokens, %d generated, %.0f ms, %@]\n", r.timings.promptTokens, r.timings.generatedTokens,
            r.timings.totalSeconds * 1000, r.finished ? "end of turn" : "max tokens").utf8))
    }
}
