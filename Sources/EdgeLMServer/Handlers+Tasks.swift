// EdgeLMServer: the task endpoints — /v1/classify, /v1/extract, /v1/rewrite — with the documents
// `edgelm classify|extract|rewrite --json` prints (TaskDocument), the router's escalation decision included.

import Hummingbird
import Inference
import ModelLifecycle
import NIOCore
import Tasks

extension Handlers {
    /// Routing fields every task request may carry: `capability`, `risk`, `domain`, `threshold`.
    struct Routing: Sendable {
        var capability: Capability
        var risk: RiskLevel = .low
        var domain: RiskDomain = .general
        var threshold = 0.6

        init(_ r: FieldReader, default capability: Capability) throws {
            self.capability = capability
            if let c = try r.string("capability") {
                guard let v = Capability(rawValue: c) else {
                    throw APIError.badRequest("'capability' must be one of \(Capability.allCases.map(\.rawValue).joined(separator: ", "))", param: "capability")
                }
                self.capability = v
            }
            if let c = try r.string("risk") {
                guard let v = RiskLevel(rawValue: c) else { throw APIError.badRequest("'risk' must be low, medium or high", param: "risk") }
                risk = v
            }
            if let c = try r.string("domain") {
                guard let v = RiskDomain(rawValue: c) else {
                    throw APIError.badRequest("'domain' must be one of \(RiskDomain.allCases.map(\.rawValue).joined(separator: ", "))", param: "domain")
                }
                domain = v
            }
            threshold = try r.number("threshold", in: 0...1) ?? 0.6
        }

        func request(_ task: TaskInput) -> TaskRequest {
            TaskRequest(task: task, capability: capability, risk: risk, domain: domain)
        }
    }

    func requiredText(_ r: FieldReader) throws -> String {
        guard let text = try r.string("text") else { throw APIError.badRequest("'text' (a string) is required", param: "text") }
        return text
    }

    /// Runs `body` with a lane's task runner and a router over it (local first, the remote endpoint for
    /// escalation); the work stops if the client disconnects.
    func runTask(_ context: ServerRequestContext, options: TaskOptions, routing: Routing,
                 _ body: @escaping @Sendable (TaskRunner, Tasks.Router, Routing) throws -> (String, RoutedResult)) async throws -> Response {
        let start = ContinuousClock.now
        let loaded = try service.serving()
        let remote = service.remote
        let task = Task {
            try await loaded.engine.run { lane -> (String, String, String) in
                let runner = try lane.taskRunner(options)
                let router = Tasks.Router(local: runner, remote: remote, policy: RouterPolicy(confidenceThreshold: routing.threshold))
                let (doc, result) = try body(runner, router, routing)
                return (doc, result.origin.rawValue, result.reason.rawValue)
            }
        }
        let watch = ClientWatch(context.channel) { task.cancel() }
        defer { watch.stop() }
        let doc: String, origin: String, reason: String
        do {
            (doc, origin, reason) = try await withTaskCancellationHandler { try await task.value } onCancel: { task.cancel() }
        } catch EngineError.queueFull(let limit) {
            throw APIError.overloaded("the server is busy: \(limit) requests are already waiting; retry after a moment",
                                      retryAfter: configuration.retryAfterSeconds)
        } catch EngineError.shutDown {
            throw APIError.unavailable("the server is shutting down", reason: "draining", retryAfter: nil)
        } catch let e as TasksError {
            throw APIError.badRequest("\(e)")
        } catch let e as InferenceError {
            throw Self.generationError(e)
        } catch is CancellationError {
            throw Self.generationError(CancellationError())
        }
        service.metrics.duration(endpoint: "task", seconds: Self.seconds(since: start))
        _ = (origin, reason)
        return Response(status: .ok, headers: [.contentType: "application/json"],
                        body: ResponseBody(byteBuffer: ByteBuffer(string: doc + "\n")))
    }

    func classify(_ request: Request, _ context: ServerRequestContext) async throws -> Response {
        let loaded = try service.serving()
        let r = try FieldReader(try await body(request))
        let text = try requiredText(r)
        let set = try Self.labelSet(r)
        var options = loaded.taskOptions
        if let c = try r.string("calibration") {
            guard let v = CalibrationMode(rawValue: c) else { throw APIError.badRequest("'calibration' must be contextual or none", param: "calibration") }
            options.calibration = v
        }
        if let c = try r.string("scoring") {
            guard let v = ClassifierScoring(rawValue: c) else {
                throw APIError.badRequest("'scoring' must be combined, direct or channel", param: "scoring")
            }
            options.scoring = v
        }
        let routing = try Routing(r, default: .classify)
        let metrics = service.metrics
        return try await runTask(context, options: options, routing: routing) { _, router, routing in
            let result = try router.run(routing.request(TaskInput.classifyWith(text: text, labelSet: set)))
            guard case .classification(let c) = result.output else { throw APIError.server("unexpected output kind") }
            metrics.task(.classify, origin: result.origin.rawValue, reason: result.reason.rawValue)
            return (TaskDocument.text(TaskDocument.classification(result, c)), result)
        }
    }

    func extract(_ request: Request, _ context: ServerRequestContext) async throws -> Response {
        let loaded = try service.serving()
        let r = try FieldReader(try await body(request))
        let text = try requiredText(r)
        guard let schemaValue = r.body["schema"], case .object = schemaValue else {
            throw APIError.badRequest("'schema' (a JSON Schema object) is required", param: "schema")
        }
        let schema: JSONSchema
        do { schema = try JSONSchema(json: schemaValue.description) } catch {
            throw APIError.badRequest("unsupported JSON schema: \(error)", param: "schema", code: "unsupported_schema")
        }
        var options = loaded.taskOptions
        if let s = try r.string("spans") {
            guard let v = SpanPolicy(rawValue: s) else { throw APIError.badRequest("'spans' must be auto, marked or off", param: "spans") }
            options.spans = v
        }
        let maxTokens = try r.integer("max_tokens", in: 1...options.maxExtractTokens)
        let routing = try Routing(r, default: .prefill)
        let metrics = service.metrics
        return try await runTask(context, options: options, routing: routing) { runner, router, routing in
            // A per-request token cap: the runner closes the document with its shortest completion when told to stop.
            let local = CappedExtraction(runner: runner, maxTokens: maxTokens)
            let capped = Tasks.Router(local: local, remote: router.remote, policy: router.policy)
            let result = try capped.run(routing.request(TaskInput.extract(text: text, schema: schema)))
            guard case .extraction(let value) = result.output else { throw APIError.server("unexpected output kind") }
            metrics.task(.extract, origin: result.origin.rawValue, reason: result.reason.rawValue)
            var doc: [String: Any] = ["value": value.foundationObject]
            doc.merge(TaskDocument.routing(result)) { a, _ in a }
            return (TaskDocument.text(doc), result)
        }
    }

    func rewrite(_ request: Request, _ context: ServerRequestContext) async throws -> Response {
        _ = try service.serving()
        let r = try FieldReader(try await body(request))
        let text = try requiredText(r)
        guard let instruction = try r.string("instruction"), !instruction.isEmpty else {
            throw APIError.badRequest("'instruction' (a non-empty string) is required", param: "instruction")
        }
        let maxTokens = try r.integer("max_tokens", in: 1...100_000) ?? 128
        let routing = try Routing(r, default: .draft)
        let metrics = service.metrics
        return try await runTask(context, options: try service.serving().taskOptions, routing: routing) { _, router, routing in
            let result = try router.run(routing.request(TaskInput.rewrite(text: text, instruction: instruction, maxTokens: maxTokens)))
            guard case .rewrite(let s) = result.output else { throw APIError.server("unexpected output kind") }
            metrics.task(.rewrite, origin: result.origin.rawValue, reason: result.reason.rawValue)
            return (TaskDocument.text(TaskDocument.rewrite(result, s)), result)
        }
    }

    /// The label set of a classify body: `labels` (array of names or `{label, description}`, or "a,b,c"),
    /// optional `examples` [{text, label}], `shots`, `instruction`, `raw_labels`.
    static func labelSet(_ r: FieldReader) throws -> LabelSet {
        var specs: [LabelSpec] = []
        switch r.body["labels"] {
        case .string(let s)?:
            specs = s.split(separator: ",").map { LabelSpec(String($0.drop(while: { $0 == " " }).reversed().drop(while: { $0 == " " }).reversed())) }
        case .array(let items)?:
            for (i, item) in items.enumerated() {
                switch item {
                case .string(let s): specs.append(LabelSpec(s))
                case .object:
                    guard case .string(let l)? = item["label"] else {
                        throw APIError.badRequest("labels[\(i)] must have a string 'label'", param: "labels")
                    }
                    var description: String? = nil
                    if case .string(let d)? = item["description"] { description = d }
                    specs.append(LabelSpec(l, description: description))
                default: throw APIError.badRequest("labels[\(i)] must be a string or {label, description}", param: "labels")
                }
            }
        default:
            throw APIError.badRequest("'labels' is required: an array of labels (or {label, description}) or \"a,b,c\"", param: "labels")
        }
        let shots = try r.integer("shots", in: 0...64) ?? LabelSet.defaultExamplesPerLabel
        var set = LabelSet(labels: specs, examplesPerLabel: shots, instruction: try r.string("instruction"),
                           humanise: !(try r.bool("raw_labels") ?? false))
        if case .array(let items)? = r.body["examples"] {
            set.examples = try items.enumerated().map { i, item in
                guard case .string(let t)? = item["text"], case .string(let l)? = item["label"] else {
                    throw APIError.badRequest("examples[\(i)] must be {\"text\": …, \"label\": …}", param: "examples")
                }
                return LabeledExample(text: t, label: l)
            }
        } else if r.has("examples") {
            throw APIError.badRequest("'examples' must be an array of {text, label}", param: "examples")
        }
        do { try set.validate() } catch { throw APIError.badRequest("\(error)", param: "labels") }
        return set
    }
}

/// A local handler that runs extractions with a token cap (the document is closed by its shortest completion
/// when the cap is reached) and every other task as the runner does.
final class CappedExtraction: LocalTaskHandler {
    let runner: TaskRunner
    let maxTokens: Int?
    init(runner: TaskRunner, maxTokens: Int?) { self.runner = runner; self.maxTokens = maxTokens }

    func run(_ task: TaskInput) throws -> (output: TaskOutput, confidence: Double?) {
        guard case .extract(let text, let schema) = task, let maxTokens else { return try runner.run(task) }
        var tokens = 0
        let e = try runner.extract(text, schema: schema) { _ in tokens += 1; return tokens < maxTokens }
        return (.extraction(e.value), nil)
    }

    func fits(_ task: TaskInput) -> Bool { runner.fits(task) }
    func contextNeed(_ task: TaskInput) -> (tokens: Int, contextLength: Int)? { runner.contextNeed(task) }
}
