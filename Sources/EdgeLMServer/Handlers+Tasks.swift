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

    /// Runs `task` on a lane: through a router over the lane's task runner (local first, the remote endpoint for
    /// escalation), counted by task and routing decision, answered with `document(result)`. The work stops if
    /// the client disconnects.
    /// - Parameter local: the local handler over the lane's runner (default: the runner itself).
    func runTask(_ kind: TaskKind, _ task: TaskInput, loaded: InferenceService.Loaded, options: TaskOptions, routing: Routing,
                 context: ServerRequestContext,
                 local: @escaping @Sendable (TaskRunner) -> any LocalTaskHandler = { $0 },
                 document: @escaping @Sendable (RoutedResult) throws -> String) async throws -> Response {
        let start = ContinuousClock.now
        let remote = service.remote
        let metrics = service.metrics
        let work = Task {
            try await loaded.engine.run { lane -> String in
                let router = Tasks.Router(local: local(try lane.taskRunner(options)), remote: remote,
                                          policy: RouterPolicy(confidenceThreshold: routing.threshold))
                let result = try router.run(routing.request(task))
                metrics.task(kind, origin: result.origin.rawValue, reason: result.reason.rawValue)
                return try document(result)
            }
        }
        let watch = ClientWatch(context.channel) { work.cancel() }
        defer { watch.stop() }
        let doc: String
        do {
            doc = try await withTaskCancellationHandler { try await work.value } onCancel: { work.cancel() }
        } catch let e as EngineError {
            throw refusal(e)
        } catch let e as TasksError {
            throw APIError.badRequest("\(e)")
        } catch let e as InferenceError {
            throw Self.generationError(e)
        } catch is CancellationError {
            throw APIError.cancelled
        }
        metrics.duration(endpoint: "task", seconds: Self.seconds(since: start))
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
        return try await runTask(.classify, .classifyWith(text: text, labelSet: set), loaded: loaded, options: options,
                                 routing: try Routing(r, default: .classify), context: context) { result in
            guard case .classification(let c) = result.output else { throw APIError.server("unexpected output kind") }
            return TaskDocument.text(TaskDocument.classification(result, c))
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
        if let s = try r.string("span_types") {
            guard let v = SpanTypePolicy(rawValue: s) else {
                throw APIError.badRequest("'span_types' must be auto, schema or off", param: "span_types")
            }
            options.spanTypes = v
        }
        let maxTokens = try r.integer("max_tokens", in: 1...options.maxExtractTokens)
        // A per-request token cap: the runner closes the document with its shortest completion when told to stop.
        return try await runTask(.extract, .extract(text: text, schema: schema), loaded: loaded, options: options,
                                 routing: try Routing(r, default: .prefill), context: context,
                                 local: { CappedExtraction(runner: $0, maxTokens: maxTokens) }) { result in
            guard case .extraction(let value) = result.output else { throw APIError.server("unexpected output kind") }
            var doc: [String: Any] = ["value": value]
            doc.merge(TaskDocument.routing(result)) { a, _ in a }
            return TaskDocument.text(doc)
        }
    }

    func rewrite(_ request: Request, _ context: ServerRequestContext) async throws -> Response {
        let loaded = try service.serving()
        let r = try FieldReader(try await body(request))
        let text = try requiredText(r)
        guard let instruction = try r.string("instruction"), !instruction.isEmpty else {
            throw APIError.badRequest("'instruction' (a non-empty string) is required", param: "instruction")
        }
        let maxTokens = try r.integer("max_tokens", in: 1...100_000) ?? 128
        return try await runTask(.rewrite, .rewrite(text: text, instruction: instruction, maxTokens: maxTokens), loaded: loaded,
                                 options: loaded.taskOptions, routing: try Routing(r, default: .draft), context: context) { result in
            guard case .rewrite(let s) = result.output else { throw APIError.server("unexpected output kind") }
            return TaskDocument.text(TaskDocument.rewrite(result, s))
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
