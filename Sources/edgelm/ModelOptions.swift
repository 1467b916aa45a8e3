import ArgumentParser
import EdgeLM
import Foundation

/// `--model` and `--threads`, shared by every command that runs a model.
struct ModelOptions: ParsableArguments {
    static let defaultModelPath = "weights/smollm2-135m-instruct-q4_1.gguf"

    @Option(name: .long, help: ArgumentHelp(
        "Path of a GGUF model.",
        discussion: "Default: $EDGELM_MODEL, else \(defaultModelPath) (fetch it with weights/fetch.sh).",
        valueName: "path"))
    var model: String?

    @Option(name: .long, help: "Compute threads (default: all cores).")
    var threads: Int?

    var modelPath: String {
        model ?? ProcessInfo.processInfo.environment["EDGELM_MODEL"] ?? Self.defaultModelPath
    }

    var threadCount: Int { threads ?? ProcessInfo.processInfo.activeProcessorCount }

    func validate() throws {
        if let threads, threads < 1 || threads > 256 {
            throw ValidationError("--threads must be between 1 and 256, got \(threads)")
        }
    }

    /// Loads the model, turning a missing default file into a hint on how to fetch it.
    func loadModel() throws -> Model {
        let path = modelPath
        guard FileManager.default.fileExists(atPath: path) else {
            throw CLIError("model file not found: \(path)",
                           hint: model == nil ? "run weights/fetch.sh to download the default model, or pass --model PATH"
                                              : "check the path given to --model")
        }
        return try Model(path: path)
    }
}

/// An error the CLI reports as one line on stderr (with a hint) and a non-zero exit code.
struct CLIError: Error, CustomStringConvertible {
    let message: String
    let hint: String?
    init(_ message: String, hint: String? = nil) { self.message = message; self.hint = hint }
    var description: String { hint.map { "\(message) (hint: \($0))" } ?? message }
}

/// Writes exactly one JSON document to stdout.
func printJSON(_ object: Any) throws {
    let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
    FileHandle.standardOutput.write(data)
    FileHandle.standardOutput.write(Data("\n".utf8))
}

/// Unbuffered text output for streaming.
func writeStdout(_ s: String) {
    FileHandle.standardOutput.write(Data(s.utf8))
}
