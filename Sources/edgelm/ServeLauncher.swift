import ArgumentParser
import EdgeLM
import EdgeLMCommandSupport
import EdgeLMEssentials

/// `edgelm serve …`: runs the `edgelm-server` executable beside this one with the same arguments (it replaces
/// this process). The HTTP stack lives only there, so the other commands do not load it (≈ 2.3 MB of peak RSS).
struct ServeLauncher: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the model over HTTP: OpenAI-compatible chat/completions, task endpoints, /health, /metrics (docs/serving.md).",
        discussion: "Runs edgelm-server (built beside edgelm); `edgelm serve --help` lists its options.")

    @Argument(parsing: .captureForPassthrough, help: "The server's options (see `edgelm serve --help`).")
    var arguments: [String] = []

    /// The `edgelm-server` executable next to this process's executable.
    static func serverPath() -> String? { siblingExecutable("edgelm-server") }

    func run() throws {
        guard let path = Self.serverPath() else {
            throw CLIError("edgelm-server is not next to the edgelm executable",
                           hint: "build it: swift build -c release (or --product edgelm-server)")
        }
        let argv = [path] + arguments
        var cargs = argv.map { strdup($0) } + [nil]
        execv(path, &cargs)
        throw CLIError("cannot run \(path): \(String(cString: strerror(errno)))", hint: "check the file's permissions")
    }
}
