import ArgumentParser
import EdgeLM
import EdgeLMCommandSupport
import EdgeLMEssentials

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
            ServeLauncher.self,
        ]
    )

    /// Entry point: ``CLIMain/main(_:commandPath:)`` (one-line errors, negative numbers as option values).
    static func main() {
        CLIMain.main(Self.self) { CLIMain.commandPath($0, root: Self.self) }
    }
}
