// EdgeLMServer: the endpoints.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Hummingbird
import Inference
import Logging
import NIOCore
import Synchronization
import Tasks
import Tokenizers

/// The route handlers, sharing the service and configuration.
struct Handlers: Sendable {
    let service: InferenceService
    let configuration: ServerConfiguration
    let logger: Logger

    func register(on router: Hummingbird.Router<ServerRequestContext>) {
        router.get("/health") { _, _ in health() }
        router.get("/v1/models") { _, _ in try models() }
        router.get("/v1/models/:id") { _, context in
            let id = context.parameters.get("id") ?? ""
            guard Self.names(id, service.modelID) else {
                throw APIError.notFound("the model '\(id.prefix(100))' does not exist; GET /v1/models lists the model served here",
                                        code: "model_not_found")
            }
            return json(.ok, modelObject())
        }
        router.post("/v1/chat/completions") { request, context in try await completion(request, context, chat: true) }
        router.post("/v1/completions") { request, context in try await completion(request, context, chat: false) }
        router.post("/v1/classify") { request, context in try await classify(request, context) }
        router.post("/v1/extract") { request, context in try await extract(request, context) }
        router.post("/v1/rewrite") { request, context in try await rewrite(request, context) }
        router.get("/metrics") { _, _ in
            service.metrics.update(service.statistics, maxSequences: service.maxSequences, isReady: service.phase == .ready)
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: ResponseBody(byteBuffer: ByteBuffer(bytes: service.metrics.exposition())))
        }
    }

    // MARK: - Health and models

    func health() -> Response {
        switch service.phase {
        case .ready: return json(.ok, .object([("status", .string("ok")), ("model", .string(service.modelID))]))
        case .loading: return json(.serviceUnavailable, .object([("status", .string("loading"))]), headers: [.retryAfter: "2"])
        case .draining: return json(.serviceUnavailable, .object([("status", .string("draining"))]))
        case .failed(let m): return json(.serviceUnavailable, .object([("status", .string("failed")), ("error", .string(m))]))
        }
    }

    func modelObject() -> JSONValue {
        .object([("id", .string(service.modelID)), ("object", .string("model")), ("created", .number(0)),
                 ("owned_by", .string("edgelm"))])
    }

    func models() throws -> Response {
        json(.ok, .object([("object", .string("list")), ("data", .array([modelObject()]))]))
    }

    /// Whether a request's `model` names the served model (its id, or the id with `.gguf`).
    static func names(_ requested: String, _ id: String) -> Bool { requested == id || requested == id + ".gguf" }

    func checkModel(_ requested: String?) throws {
        guard let requested, !requested.isEmpty else { return }   // omitted: the one model served here
        guard Self.names(requested, service.modelID) else {
            throw APIError.notFound("the model '\(requested.prefix(100))' does not exist; this server serves '\(service.modelID)'",
                                    code: "model_not_found")
        }
    }

    // MARK: - Bodies

    func body(_ request: Request) async throws -> [UInt8] {
        let limit = configuration.maxBodyBytes
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > limit {
            throw APIError.tooLarge(limit: limit)
        }
        var request = request
        do {
            var buffer = try await request.collectBody(upTo: limit)
            return buffer.readBytes(length: buffer.readableBytes) ?? []
        } catch is NIOTooManyBytesError {
            throw APIError.tooLarge(limit: limit)
        }
    }

    // MARK: - Completions

    func completion(_ request: Request, _ context: ServerRequestContext, chat: Bool) async throws -> Response {
        let start = ContinuousClock.now
        let loaded = try service.serving()
        let parsed = try CompletionRequest(body: try await body(request), chat: chat)
        try checkModel(parsed.model)
        var generation = parsed.generation(maxTokens: 1)
        let promptTokens: Int
        do {
            let tokens = try loaded.model.promptTokens(for: generation)
            generation.promptTokens = tokens   // tokenized once, here: the lane does not tokenize again
            promptTokens = tokens.count
        } catch let e as TokenizerError {
            if case .noChatTemplate = e {
                throw APIError.badRequest("this model has no chat template (a base model): use /v1/completions with a plain prompt",
                                          param: "messages", code: "no_chat_template")
            }
            throw APIError.badRequest("the prompt cannot be templated: \(e)", param: chat ? "messages" : "prompt")
        }
        let ctx = loaded.contextLength
        guard promptTokens < ctx else {
            throw APIError.badRequest("the prompt is \(promptTokens) tokens; this server's context holds \(ctx) tokens per request "
                                      + "(prompt + output): shorten the prompt", param: chat ? "messages" : "prompt",
                                      code: "context_length_exceeded")
        }
        if let m = parsed.maxTokens {
            guard promptTokens + m <= ctx else {
                throw APIError.badRequest("the prompt (\(promptTokens) tokens) plus max_tokens (\(m)) exceed the context of \(ctx) tokens: "
                                          + "lower max_tokens to at most \(ctx - promptTokens)", param: "max_tokens",
                                          code: "context_length_exceeded")
            }
            generation.maxTokens = m
        } else {
            generation.maxTokens = ctx - promptTokens
        }
        if case .json(let schema) = parsed.format {
            generation.constraint = JSONTokenConstraint(schema: schema, trie: service.tokenTrie(loaded.model))
        }
        let stream: AsyncThrowingStream<GenerationEvent, any Error>
        do {
            stream = try loaded.engine.startGeneration(generation)
        } catch let e as EngineError {
            throw refusal(e)
        }
        let pump = GenerationPump(stream, channel: context.channel, metrics: service.metrics)
        let meta = CompletionMeta(chat: chat, id: (chat ? "chatcmpl-" : "cmpl-") + Self.randomID(), created: Int(time(nil)),
                                  model: service.modelID, endpoint: chat ? "/v1/chat/completions" : "/v1/completions",
                                  start: start, includeUsage: parsed.includeUsage)
        if parsed.stream {
            return streamed(pump, meta)
        }
        var text = ""
        var result: GenerationResult?
        do {
            for try await event in pump.events {
                switch event {
                case .text(let t):
                    pump.firstText(since: start)
                    text += t
                case .done(let r): result = r
                }
            }
        } catch {
            throw Self.generationError(error)
        }
        guard let result else { throw APIError.cancelled }   // the client went away: nobody reads this answer
        pump.firstText(since: start)
        service.metrics.generation(promptTokens: result.promptTokens.count, completionTokens: result.tokens.count)
        service.metrics.duration(endpoint: meta.endpoint, seconds: Self.seconds(since: start))
        var choice: [(String, JSONValue)] = [("index", .number(0))]
        if chat {
            choice.append(("message", .object([("role", .string("assistant")), ("content", .string(text))])))
        } else {
            choice.append(("text", .string(text)))
        }
        choice.append(("logprobs", .null))
        choice.append(("finish_reason", .string(Self.finishReason(result.stopReason))))
        let doc: JSONValue = .object([
            ("id", .string(meta.id)), ("object", .string(chat ? "chat.completion" : "text_completion")),
            ("created", .number(Double(meta.created))), ("model", .string(meta.model)),
            ("choices", .array([.object(choice)])), ("usage", Self.usage(result)),
        ])
        return json(.ok, doc)
    }

    struct CompletionMeta: Sendable {
        let chat: Bool
        let id: String
        let created: Int
        let model: String
        let endpoint: String
        let start: ContinuousClock.Instant
        let includeUsage: Bool
    }

    /// The SSE answer: a first chunk with the assistant role (chat), a chunk per text piece, a last chunk with
    /// `finish_reason`, a usage chunk when `stream_options.include_usage`, then `data: [DONE]`.
    func streamed(_ pump: GenerationPump, _ meta: CompletionMeta) -> Response {
        let metrics = service.metrics
        let body = ResponseBody { writer in
            func chunk(_ delta: JSONValue?, text: String?, finish: String?, usage: JSONValue? = nil) -> ByteBuffer {
                var choice: [(String, JSONValue)] = [("index", .number(0))]
                if meta.chat { choice.append(("delta", delta ?? .object([]))) } else { choice.append(("text", .string(text ?? ""))) }
                choice.append(("logprobs", .null))
                choice.append(("finish_reason", finish.map { .string($0) } ?? .null))
                var doc: [(String, JSONValue)] = [
                    ("id", .string(meta.id)), ("object", .string(meta.chat ? "chat.completion.chunk" : "text_completion")),
                    ("created", .number(Double(meta.created))), ("model", .string(meta.model)),
                    ("choices", usage == nil ? .array([.object(choice)]) : .array([])),
                ]
                if let usage { doc.append(("usage", usage)) }
                return ByteBuffer(string: "data: " + JSONValue.object(doc).description + "\n\n")
            }
            do {
                if meta.chat {
                    try await writer.write(chunk(.object([("role", .string("assistant")), ("content", .string(""))]), text: nil, finish: nil))
                }
                var result: GenerationResult?
                do {
                    for try await event in pump.events {
                        switch event {
                        case .text(let t):
                            pump.firstText(since: meta.start)
                            do { try await writer.write(chunk(.object([("content", .string(t))]), text: t, finish: nil)) }
                            catch { throw GenerationPump.WriteFailure() }
                        case .done(let r): result = r
                        }
                    }
                } catch let e as GenerationPump.WriteFailure {
                    throw e
                } catch {
                    // A generation error after the 200 went out: an error event, then the end of the stream.
                    let apiError = Self.generationError(error)
                    try await writer.write(ByteBuffer(string: "data: " + apiError.body.description + "\n\n"))
                }
                if let result {
                    pump.firstText(since: meta.start)
                    metrics.generation(promptTokens: result.promptTokens.count, completionTokens: result.tokens.count)
                    try await writer.write(chunk(meta.chat ? .object([]) : nil, text: "", finish: Self.finishReason(result.stopReason)))
                    if meta.includeUsage { try await writer.write(chunk(nil, text: nil, finish: nil, usage: Self.usage(result))) }
                }
                try await writer.write(ByteBuffer(string: "data: [DONE]\n\n"))
                metrics.duration(endpoint: meta.endpoint, seconds: Self.seconds(since: meta.start))
            } catch {
                pump.cancel()   // the client is gone: stop the sequence now
                throw error
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"], body: body)
    }

    static func finishReason(_ r: StopReason) -> String {
        switch r {
        case .endOfGeneration, .stopString, .cancelled: return "stop"
        case .maxTokens, .contextFull: return "length"
        }
    }

    static func usage(_ r: GenerationResult) -> JSONValue {
        .object([("prompt_tokens", .number(Double(r.promptTokens.count))), ("completion_tokens", .number(Double(r.tokens.count))),
                 ("total_tokens", .number(Double(r.promptTokens.count + r.tokens.count)))])
    }

    /// An error from a running generation as the client's error.
    static func generationError(_ error: any Error) -> APIError {
        if let e = error as? APIError { return e }
        if let e = error as? InferenceError {
            if case .cancelled = e { return .cancelled }
            return APIError.badRequest("\(e)")
        }
        if error is CancellationError { return .cancelled }
        return APIError.server("generation failed: \(error)")
    }

    // MARK: - Helpers

    /// The engine's refusal as the client's error: 429 with `Retry-After` for a full queue, 503 while shutting down.
    func refusal(_ e: EngineError) -> APIError {
        switch e {
        case .queueFull(let limit):
            return .overloaded("the server is busy: \(limit) requests are already waiting; retry after a moment",
                               retryAfter: configuration.retryAfterSeconds)
        case .shutDown:
            return .unavailable("the server is shutting down", reason: "draining", retryAfter: nil)
        }
    }

    func json(_ status: HTTPResponse.Status, _ value: JSONValue, headers: HTTPFields = [:]) -> Response {
        var h = headers
        h[.contentType] = "application/json"
        return Response(status: status, headers: h, body: ResponseBody(byteBuffer: ByteBuffer(string: value.description + "\n")))
    }

    static func randomID() -> String {
        var g = SystemRandomNumberGenerator()
        let a = g.next() as UInt64, b = g.next() as UInt64
        return String(a, radix: 16) + String(b, radix: 16)
    }

    static func seconds(since start: ContinuousClock.Instant) -> Double {
        let d = ContinuousClock.now - start
        return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }
}

/// Forwards an engine generation to the handler and stops it when the client goes away: the connection
/// closing (seen by the event loop even while the request waits for a slot or prefills), or a failed write.
final class GenerationPump: Sendable {
    /// Writing to the client failed: it went away.
    struct WriteFailure: Error {}

    private final class Flags: Sendable {
        let finished = Atomic<Bool>(false)
        let counted = Atomic<Bool>(false)
        let sawFirst = Atomic<Bool>(false)
    }

    let events: AsyncThrowingStream<GenerationEvent, any Error>
    private let task: Task<Void, Never>
    private let flags = Flags()
    private let metrics: ServerMetrics

    init(_ source: AsyncThrowingStream<GenerationEvent, any Error>, channel: (any Channel)?, metrics: ServerMetrics) {
        self.metrics = metrics
        let (events, continuation) = AsyncThrowingStream<GenerationEvent, any Error>.makeStream()
        self.events = events
        let flags = self.flags
        let task = Task {
            do {
                for try await event in source { continuation.yield(event) }
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
            flags.finished.store(true, ordering: .releasing)
        }
        self.task = task
        let watch = ClientWatch(channel) {
            guard !flags.finished.load(ordering: .acquiring) else { return }
            if !flags.counted.exchange(true, ordering: .acquiringAndReleasing) { metrics.clientCancelled() }
            task.cancel()
        }
        continuation.onTermination = { _ in task.cancel(); watch.stop() }
    }

    /// Stops the generation (its sequence leaves the next step and frees its KV cache).
    func cancel() {
        if !flags.finished.load(ordering: .acquiring), !flags.counted.exchange(true, ordering: .acquiringAndReleasing) {
            metrics.clientCancelled()
        }
        task.cancel()
    }

    /// Records time to first text once.
    func firstText(since start: ContinuousClock.Instant) {
        guard !flags.sawFirst.exchange(true, ordering: .acquiringAndReleasing) else { return }
        metrics.firstToken(seconds: Handlers.seconds(since: start))
    }
}

/// Calls `onGone` once when the client of a connection goes away — it closes or shuts down its side (a
/// half-close counts: an HTTP client that stops sending has left), or the connection closes — until ``stop()``.
/// The server allows remote half-closure, so without this a hang-up is only seen at the next write.
final class ClientWatch: Sendable {
    private final class Watcher: ChannelInboundHandler, RemovableChannelHandler, @unchecked Sendable {
        typealias InboundIn = NIOAny
        let fire: @Sendable () -> Void
        init(_ fire: @escaping @Sendable () -> Void) { self.fire = fire }
        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if let e = event as? ChannelEvent, e == .inputClosed { fire() }
            context.fireUserInboundEventTriggered(event)
        }
        func channelInactive(context: ChannelHandlerContext) {
            fire()
            context.fireChannelInactive()
        }
    }

    private final class State: Sendable { let done = Atomic<Bool>(false) }
    private let channel: (any Channel)?
    private let watcher: Watcher
    private let state = State()

    init(_ channel: (any Channel)?, onGone: @escaping @Sendable () -> Void) {
        self.channel = channel
        let state = self.state
        watcher = Watcher {
            guard !state.done.exchange(true, ordering: .acquiringAndReleasing) else { return }
            onGone()
        }
        guard let channel else { return }
        channel.pipeline.addHandler(watcher, position: .first).whenFailure { _ in }
    }

    /// Stops watching (the request is over); removes the handler from the connection.
    func stop() {
        guard !state.done.exchange(true, ordering: .acquiringAndReleasing) else { return }
        if let channel { channel.pipeline.removeHandler(watcher).whenFailure { _ in } }
    }
}
