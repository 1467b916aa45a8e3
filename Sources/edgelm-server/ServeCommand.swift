import ArgumentParser
import EdgeLM
import EdgeLMNetworking
import EdgeLMCommandSupport
import EdgeLMServer
import Foundation

/// `edgelm serve` (this executable, which `edgelm serve` runs): the OpenAI-compatible edge server
/// (Sources/EdgeLMServer; docs/serving.md). Errors: one line on stderr, as every `edgelm` command.
@main
struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "edgelm serve",
        abstract: "Serve the model over HTTP: OpenAI-compatible chat/completions, task endpoints, /health, /metrics.",
        discussion: """
        Concurrent requests run as sequences of one engine, batched into shared steps (continuous batching). \
        At most --max-sessions run at once, each with a KV cache of --ctx tokens that must fit the memory cap \
        (--profile / --memory-cap); up to --max-queue more wait, beyond that 429 with Retry-After. Binds to \
        loopback unless --host says otherwise. SIGTERM/SIGINT: stop accepting, finish in-flight requests \
        (up to --drain-seconds), exit 0.
        """)

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var memoryOptions: MemoryOptions
    @Option(name: .long, help: "Address to bind (default loopback; 0.0.0.0 for every interface).") var host = "127.0.0.1"
    @Option(name: .long, help: "TCP port (0: any free port, printed at start).") var port = 8080
    @Option(name: .long, help: "Tokens per sequence, prompt and output (default: the --profile's, else 2048).") var ctx: Int?
    @Option(name: .customLong("max-sessions"), help: "Sequences evaluated concurrently (default: the --profile's concurrent sessions, else 4; at most as many as fit the memory cap).")
    var maxSessions: Int?
    @Option(name: .customLong("max-queue"), help: "Requests that may wait for a sequence; beyond it 429.") var maxQueue = 64
    @Option(name: .customLong("api-key-env"), help: ArgumentHelp("Environment variable holding the bearer key every endpoint but /health requires.", valueName: "VAR"))
    var apiKeyEnv: String?
    @Option(name: .customLong("max-body-bytes"), help: "Largest request body (bigger ones get 413).") var maxBodyBytes = 4 << 20
    @Option(name: .customLong("drain-seconds"), help: "Seconds in-flight requests may finish after SIGTERM/SIGINT.") var drainSeconds = 30.0
    @Flag(name: .customLong("log-requests"), help: "Log method, path, status and duration of each request (never content).")
    var logRequests = false

    func validate() throws {
        try checkRange("--port", port, 0...65535)
        if let ctx { try checkRange("--ctx", ctx, 64...maxContextOption) }
        if let maxSessions { try checkRange("--max-sessions", maxSessions, 1...256) }
        try checkRange("--max-queue", maxQueue, 0...100_000)
        try checkRange("--max-body-bytes", maxBodyBytes, 1024...(1 << 30))
        try checkRange("--drain-seconds", drainSeconds, 0...3600)
        if let v = apiKeyEnv {
            guard let key = ProcessInfo.processInfo.environment[v], !key.isEmpty else {
                throw ValidationError("--api-key-env \(v): the environment variable \(v) is not set or empty")
            }
        }
        guard !host.isEmpty else { throw ValidationError("--host must not be empty") }
    }

    /// The id clients use: the file name without `.gguf`, or a store's model id.
    func modelID() throws -> String {
        switch try modelOptions.location() {
        case .file(let path, let explicit):
            try ModelOptions.requireFile(path, explicit: explicit)
            let name = (path as NSString).lastPathComponent
            return name.hasSuffix(".gguf") ? String(name.dropLast(5)) : name
        case .store(let s):
            return s.active.map { String($0.split(separator: "@").first ?? Substring($0)) } ?? "model"
        }
    }

    /// Loads the model and starts the engine: lanes = --max-sessions, or as many as the cap allows (≤ 4).
    func makeEngine() throws -> (Engine, TaskOptions) {
        let model = try modelOptions.loadModel()
        try checkContext(ctx, model: model)
        var session = try memoryOptions.sessionOptions(model: model, ctx: ctx, threads: modelOptions.threads)
        if session.contextLength == nil { session.contextLength = min(2048, model.config.contextLength) }
        // Sequences: --max-sessions, else the profile's concurrent sessions, else 4 — without an explicit
        // --max-sessions, no more than the memory cap holds (an explicit one that does not fit is refused).
        let profile = try memoryOptions.resolvedProfile()
        let wanted = maxSessions ?? profile?.concurrentSessions ?? 4
        var options = EngineOptions(session: session, maxSequences: wanted, maxQueue: maxQueue)
        if maxSessions == nil, let budget = session.memoryBudget {
            let fit = Engine.maxSequencesFitting(model: model, options: options, budget: budget)
            if fit >= 1 { options.maxSequences = min(wanted, fit) }
        }
        let engine = try Engine(model: model, options: options)
        var tasks = TaskOptions(contextLength: session.contextLength ?? 2048, batchSize: session.batchSize,
                                threads: session.threads)
        tasks.prefixCacheBytes = 8 << 20   // per lane and option set; the server may hold several
        if let p = profile { tasks.maxExtractTokens = min(tasks.maxExtractTokens, p.maxOutputTokens) }
        return (engine, tasks)
    }

    func run() throws {
        var configuration = ServerConfiguration(modelID: try modelID())
        configuration.host = host
        configuration.port = port
        configuration.apiKey = apiKeyEnv.flatMap { ProcessInfo.processInfo.environment[$0] }
        configuration.maxBodyBytes = maxBodyBytes
        configuration.drainSeconds = drainSeconds
        configuration.logRequests = logRequests
        _ = try memoryOptions.resolvedProfile()   // a bad --profile fails here, before listening
        // The task endpoints' escalation target: $EDGELM_REMOTE_URL, as the task commands use it.
        let remote = remoteEndpoint(nil).map { OpenAICompatibleHandler(url: $0, transport: URLSessionTransport()) as any RemoteTaskHandler }
        let service = InferenceService(modelID: configuration.modelID, remote: remote)
        let server = EdgeLMServer(configuration: configuration, service: service)
        let command = UncheckedBox(self)
        let host = self.host
        let done = DispatchSemaphore(value: 0)
        let modelID = configuration.modelID
        let failure = UncheckedBox<(any Error)?>(nil)   // read after `done` is signalled
        Task {
            do {
                try await server.run(load: {
                    do { return try command.value.makeEngine() } catch {
                        // A server whose model cannot run is of no use: one error line, exit ≠ 0.
                        let line = CLIMain.errorLine(error, message: ServeCommand.message(for: error), commandPath: ["serve"])
                        FileHandle.standardError.write(Data((line + "\n").utf8))
                        Foundation.exit(1)
                    }
                }, onListening: { port in
                    FileHandle.standardOutput.write(Data("edgelm serve: listening on http://\(host):\(port) (model \(modelID) loading)\n".utf8))
                })
            } catch {
                failure.value = error
            }
            done.signal()
        }
        done.wait()
        if let error = failure.value { throw CLIError("the server stopped: \(error)", hint: "is the port free? (--port)") }
    }
}

extension ServeCommand {
    /// Entry point: ``CLIMain/main(_:commandPath:)``, as every `edgelm` command.
    static func main() {
        CLIMain.main(Self.self) { _ in ["serve"] }
    }
}
