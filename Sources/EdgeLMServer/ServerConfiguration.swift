// EdgeLMServer: what `edgelm serve` is configured with.

import Inference

/// How an ``EdgeLMServer`` listens and guards its endpoints.
public struct ServerConfiguration: Sendable {
    /// Address to bind: loopback unless the operator says otherwise.
    public var host: String = "127.0.0.1"
    /// TCP port (0: any free port; ``EdgeLMServer/run(onListening:)`` reports the one bound).
    public var port: Int = 8080
    /// The bearer key every endpoint but `/health` requires (nil: no authentication).
    public var apiKey: String?
    /// Largest request body accepted; larger ones get 413 before they are read.
    public var maxBodyBytes: Int = 4 << 20
    /// Seconds in-flight requests may run after SIGTERM/SIGINT before the process gives up on them.
    public var drainSeconds: Double = 30
    /// Seconds a refused client is told to wait (`Retry-After`).
    public var retryAfterSeconds: Int = 1
    /// The id `/v1/models` lists and requests name (a request may also omit `model`).
    public var modelID: String
    /// Log each request's method, path, status and duration (never its content).
    public var logRequests = false

    public init(modelID: String) { self.modelID = modelID }
}
