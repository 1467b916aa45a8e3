// EdgeLMServer: the HTTP application — routes, middleware, and its life (listen, load, drain, stop).

import Hummingbird
import Inference
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization
import Tasks

/// The request context of every route: Hummingbird's core storage plus the connection, so a request whose
/// client goes away is cancelled (its sequence stops and its KV cache is freed).
public struct ServerRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The connection the request came on (nil in some in-process tests).
    let channel: (any Channel)?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}

/// `edgelm serve`: an OpenAI-compatible HTTP server on one model, with continuous batching (every request is a
/// sequence of one ``Engine``), admission control (a bounded queue; 429 beyond it), optional bearer auth, a
/// body-size limit, Prometheus metrics, and graceful shutdown on SIGTERM/SIGINT.
///
/// Endpoints: `GET /health`, `GET /v1/models`, `POST /v1/chat/completions`, `POST /v1/completions`,
/// `POST /v1/classify`, `POST /v1/extract`, `POST /v1/rewrite`, `GET /metrics` (docs/serving.md).
public struct EdgeLMServer: Sendable {
    public let configuration: ServerConfiguration
    public let service: InferenceService
    let logger: Logger

    public init(configuration: ServerConfiguration, service: InferenceService, logger: Logger? = nil) {
        self.configuration = configuration
        self.service = service
        self.logger = logger ?? Logger(label: "edgelm.serve")
    }

    /// The router with every endpoint and middleware (also what in-process tests drive).
    public func router() -> Hummingbird.Router<ServerRequestContext> {
        let router = Hummingbird.Router(context: ServerRequestContext.self)
        router.middlewares.add(MetricsMiddleware(metrics: service.metrics, logger: configuration.logRequests ? logger : nil))
        if let key = configuration.apiKey { router.middlewares.add(BearerAuthMiddleware(key: key)) }
        let handlers = Handlers(service: service, configuration: configuration, logger: logger)
        handlers.register(on: router)
        return router
    }

    /// The Hummingbird application (not yet running).
    public func application(onListening: @escaping @Sendable (Int) async -> Void = { _ in }) -> some ApplicationProtocol {
        var quiet = logger
        quiet.logLevel = max(logger.logLevel, .notice)   // Hummingbird's per-connection logs stay off
        return Application(
            router: router(),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "edgelm"),
            onServerRunning: { channel in await onListening(channel.localAddress?.port ?? 0) },
            logger: quiet)
    }

    /// Serves until SIGTERM/SIGINT: listens first (`/health` says 503 "loading"), runs `load` off the event
    /// loop and serves the engine it returns; on a signal stops accepting, lets in-flight requests finish for up
    /// to ``ServerConfiguration/drainSeconds``, and returns.
    /// - Parameter load: builds the engine (loads the model); its error is reported by `/health` and logged.
    public func run(load: @escaping @Sendable () throws -> (Engine, TaskOptions),
                    onListening: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        let service = self.service
        let logger = self.logger
        let app = application { port in
            await onListening(port)
            // Load on a thread of its own: the model's mmap and the engine's lanes are blocking work.
            Background.detach {
                do {
                    let (engine, taskOptions) = try load()
                    service.ready(engine: engine, taskOptions: taskOptions)
                    logger.notice("model ready", metadata: ["model": .string(service.modelID),
                                                            "sequences": .stringConvertible(engine.maxSequences)])
                } catch {
                    service.failed("\(error)")
                    logger.error("model failed to load: \(error)")
                }
            }
        }
        var config = ServiceGroupConfiguration(services: [
            .init(service: app),
            // Returns once it has marked the service draining; the group goes on shutting the server down.
            .init(service: DrainOnShutdown(service: service, logger: logger), successTerminationBehavior: .ignore),
        ], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        config.maximumGracefulShutdownDuration = .milliseconds(Int64(configuration.drainSeconds * 1000))
        config.maximumCancellationDuration = .seconds(2)
        let group = ServiceGroup(configuration: config)
        do {
            try await group.run()
        } catch {
            // The drain deadline passed with requests still running: they were cancelled.
            logger.warning("shutdown: \(error)")
        }
    }
}

/// Marks the service draining as soon as a graceful shutdown begins (it is the last service, so the first the
/// group tells), so `/health` says 503 and new model requests are refused while in-flight ones finish.
struct DrainOnShutdown: Service {
    let service: InferenceService
    let logger: Logger

    func run() async throws {
        try? await gracefulShutdown()
        service.drain()
        logger.notice("draining: no new requests; in-flight ones finish")
    }
}

/// Short blocking work off the event loops.
enum Background {
    static func detach(_ body: @escaping @Sendable () -> Void) {
        let t = Task.detached(priority: .userInitiated) { body() }
        _ = t
    }
}
