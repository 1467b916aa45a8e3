import ArgumentParser
import EdgeLM

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
        ]
    )
}
