import ArgumentParser
import EdgeLM
import Foundation

@main
struct EdgeLMCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "edgelm",
        abstract: "EdgeLM: pure-Swift quantized LLM inference for edge and on-device serving.",
        subcommands: [
            InspectCommand.self, TokenizeCommand.self, GenerateCommand.self, LogitsCommand.self, PerplexityCommand.self,
            BenchCommand.self,
            ManifestCommand.self, ModelsCommand.self, TelemetryCommand.self,
            ClassifyCommand.self, ExtractCommand.self, RewriteCommand.self, EvalCommand.self,
            ConformanceCommand.self, ConformanceWorkloadCommand.self,
            ServeCommand.self,
        ]
    )

    /// Entry point: ArgumentParser's, except that negative numbers are accepted as option values (so their
    /// range check can name the option) and every error is one line on stderr — `Error: <what>; hint: <how>`,
    /// control characters escaped, at most 1 KiB — instead of the Error/Usage/See block.
    static func main() {
        let args = CLIMain.normalize(Array(CommandLine.arguments.dropFirst()))
        do {
            var command = try parseAsRoot(args)
            try command.run()
        } catch let code as ExitCode {
            Foundation.exit(code.rawValue)
        } catch {
            let code = exitCode(for: error)
            if code == .success { exit(withError: error) }  // --help, --version: ArgumentParser's output
            let line = CLIMain.errorLine(error, message: message(for: error),
                                         commandPath: CLIMain.commandPath(args, root: Self.self))
            FileHandle.standardError.write(Data((line + "\n").utf8))
            Foundation.exit(code.rawValue)
        }
    }
}
