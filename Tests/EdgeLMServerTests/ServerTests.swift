import Foundation
import Hummingbird
import HummingbirdTesting
import Inference
import InferenceTestSupport
import Synchronization
import Testing
import Tasks
import Tokenizers
@testable import EdgeLMServer

extension JSONValue {
    /// Array element (tests only).
    subscript(index: Int) -> JSONValue? {
        if case .array(let a) = self, index >= 0, index < a.count { return a[index] }
        return nil
    }
}

/// Holds one of an engine's lanes busy until released (so requests queue or are refused deterministically).
final class LaneBlocker: Sendable {
    private final class Flag: Sendable { let value = Atomic<Bool>(false) }
    private let released = Flag()
    private let task: Task<Void, any Error>

    init(_ engine: Engine) async throws {
        let started = Flag(), released = self.released
        task = Task { try await engine.run { _ in
            started.value.store(true, ordering: .releasing)
            while !released.value.load(ordering: .acquiring) { usleep(1000) }
        } }
        while !started.value.load(ordering: .acquiring) { try await Task.sleep(for: .milliseconds(2)) }
    }

    /// Frees the lane and waits until the blocking call has returned.
    func release() async throws {
        released.value.store(true, ordering: .releasing)
        try await task.value
    }
}

/// The HTTP server on tiny random models, in process: every endpoint, streaming, errors, admission, auth,
/// cancellation on disconnect, and no cross-talk between concurrent requests.
@Suite(.serialized) struct ServerTests {
    /// A tiny ChatML model (random weights: the text is nonsense, the machinery is real).
    static let modelPath: String = {
        let (path, _) = try! TinyModel(context: 512, merges: ["a b", "\u{120} t"]).write()
        return path
    }()

    static func server(sessions: Int = 4, queue: Int = 16, apiKey: String? = nil, maxBody: Int = 1 << 20,
                       context: Int = 512, path: String = modelPath, ready: Bool = true) throws -> (EdgeLMServer, Engine) {
        let model = try Model(path: path)
        let engine = try Engine(model: model, options: EngineOptions(
            session: SessionOptions(contextLength: context, batchSize: 32, threads: 1), maxSequences: sessions, maxQueue: queue))
        var config = ServerConfiguration(modelID: "tiny")
        config.apiKey = apiKey
        config.maxBodyBytes = maxBody
        config.port = 0
        let service = InferenceService(modelID: "tiny")
        if ready { service.ready(engine: engine, taskOptions: TaskOptions(contextLength: context, threads: 1)) }
        return (EdgeLMServer(configuration: config, service: service), engine)
    }

    static func post(_ client: some TestClientProtocol, _ uri: String, _ body: String,
                     headers: HTTPFields = [.contentType: "application/json"]) async throws -> TestResponse {
        try await client.execute(uri: uri, method: .post, headers: headers, body: ByteBuffer(string: body))
    }

    static func json(_ r: TestResponse) throws -> JSONValue { try JSONValue.parse(String(buffer: r.body)) }

    /// What the model says alone, greedy, for one user message (the reference every server answer must equal).
    static func alone(_ messages: [ChatMessage], maxTokens: Int, path: String = modelPath) throws -> GenerationResult {
        let session = try Session(model: try Model(path: path), options: SessionOptions(contextLength: 512, batchSize: 32, threads: 1))
        var request = GenerationRequest(prompt: "", maxTokens: maxTokens, sampling: .greedy)
        request.messages = messages
        return try session.generate(request)
    }

    static func chatBody(_ user: String, maxTokens: Int, stream: Bool = false, extra: String = "") -> String {
        let user2 = JSONValue.string(user).description
        return #"{"model":"tiny","messages":[{"role":"user","content":\#(user2)}],"temperature":0,"max_tokens":\#(maxTokens),"stream":\#(stream)\#(extra)}"#
    }

    @Test func healthSaysLoadingThenReady() async throws {
        let (server, engine) = try Self.server(ready: false)
        try await server.application().test(.router) { client in
            let loading = try await client.execute(uri: "/health", method: .get)
            #expect(loading.status == .serviceUnavailable)
            #expect(loading.headers[.retryAfter] != nil)
            let chat = try await Self.post(client, "/v1/chat/completions", Self.chatBody("hi", maxTokens: 2))
            #expect(chat.status == .serviceUnavailable)
            server.service.ready(engine: engine)
            let ready = try await client.execute(uri: "/health", method: .get)
            #expect(ready.status == .ok)
            #expect(try Self.json(ready)["model"] == .string("tiny"))
            server.service.drain()
            #expect(try await client.execute(uri: "/health", method: .get).status == .serviceUnavailable)
            #expect(try await Self.post(client, "/v1/completions", #"{"prompt":"a"}"#).status == .serviceUnavailable)
        }
    }

    @Test func modelsListAndUnknownModel() async throws {
        let (server, _) = try Self.server()
        try await server.application().test(.router) { client in
            let list = try Self.json(try await client.execute(uri: "/v1/models", method: .get))
            #expect(list["object"] == .string("list"))
            guard case .array(let data)? = list["data"] else { Issue.record("no data"); return }
            #expect(data.count == 1 && data[0]["id"] == .string("tiny"))
            #expect(try await client.execute(uri: "/v1/models/tiny", method: .get).status == .ok)
            let missing = try await client.execute(uri: "/v1/models/gpt-4", method: .get)
            #expect(missing.status == .notFound)
            let r = try await Self.post(client, "/v1/chat/completions", #"{"model":"gpt-4","messages":[{"role":"user","content":"x"}]}"#)
            #expect(r.status == .notFound)
            #expect(try Self.json(r)["error"]?["code"] == .string("model_not_found"))
        }
    }

    /// Greedy chat completion = the model alone, with usage and finish_reason; completions likewise.
    @Test func chatCompletionEqualsSingleRun() async throws {
        let (server, _) = try Self.server()
        let expected = try Self.alone([.user("a bat")], maxTokens: 12)
        try await server.application().test(.router) { client in
            let r = try await Self.post(client, "/v1/chat/completions", Self.chatBody("a bat", maxTokens: 12))
            #expect(r.status == .ok)
            let doc = try Self.json(r)
            #expect(doc["object"] == .string("chat.completion"))
            #expect(doc["choices"]?[0]?["message"]?["content"] == .string(expected.text))
            #expect(doc["choices"]?[0]?["message"]?["role"] == .string("assistant"))
            #expect(doc["choices"]?[0]?["finish_reason"] == .string(expected.stopReason == .maxTokens ? "length" : "stop"))
            #expect(doc["usage"]?["prompt_tokens"] == .number(Double(expected.promptTokens.count)))
            #expect(doc["usage"]?["completion_tokens"] == .number(Double(expected.tokens.count)))
        }
    }

    @Test func completionsEndpointEqualsSingleRun() async throws {
        let (server, _) = try Self.server()
        let session = try Session(model: try Model(path: Self.modelPath), options: SessionOptions(contextLength: 512, batchSize: 32, threads: 1))
        let expected = try session.generate(GenerationRequest(prompt: "a tab", maxTokens: 9, sampling: .greedy))
        try await server.application().test(.router) { client in
            let r = try await Self.post(client, "/v1/completions", #"{"prompt":"a tab","max_tokens":9,"temperature":0}"#)
            let doc = try Self.json(r)
            #expect(doc["object"] == .string("text_completion"))
            #expect(doc["choices"]?[0]?["text"] == .string(expected.text))
        }
    }

    /// SSE: role chunk, content deltas that concatenate to the non-streamed text, a finish chunk, usage when
    /// asked, `data: [DONE]`.
    @Test func streamingConcatenatesToTheSameText() async throws {
        let (server, _) = try Self.server()
        let expected = try Self.alone([.user("bat tab")], maxTokens: 16)
        try await server.application().test(.router) { client in
            let r = try await Self.post(client, "/v1/chat/completions",
                                        Self.chatBody("bat tab", maxTokens: 16, stream: true, extra: #","stream_options":{"include_usage":true}"#))
            #expect(r.status == .ok)
            #expect(r.headers[.contentType] == "text/event-stream")
            let events = String(buffer: r.body).components(separatedBy: "\n\n").filter { !$0.isEmpty }
            #expect(events.last == "data: [DONE]")
            var text = ""
            var finish: JSONValue?
            var usage: JSONValue?
            for e in events.dropLast() {
                #expect(e.hasPrefix("data: "))
                let v = try JSONValue.parse(String(e.dropFirst(6)))
                #expect(v["object"] == .string("chat.completion.chunk"))
                if let u = v["usage"] { usage = u; continue }
                if case .string(let s)? = v["choices"]?[0]?["delta"]?["content"] { text += s }
                if let f = v["choices"]?[0]?["finish_reason"], f != .null { finish = f }
            }
            #expect(text == expected.text)
            #expect(finish != nil)
            #expect(usage?["completion_tokens"] == .number(Double(expected.tokens.count)))
        }
    }

    /// Eight concurrent greedy requests, batched into shared steps, each get exactly their single-run text.
    @Test func eightConcurrentRequestsNoCrossTalk() async throws {
        let (server, engine) = try Self.server(sessions: 8)
        let prompts = ["a", "bat", "tab tab", "a a a", "the bat", "ta", "hat", "bab at"]
        let expected = try prompts.map { try Self.alone([.user($0)], maxTokens: 20).text }
        let before = engine.context.statistics
        try await server.application().test(.router) { client in
            let texts = try await withThrowingTaskGroup(of: (Int, String).self) { group in
                for (i, p) in prompts.enumerated() {
                    group.addTask {
                        let r = try await Self.post(client, "/v1/chat/completions", Self.chatBody(p, maxTokens: 20))
                        guard case .string(let s)? = try Self.json(r)["choices"]?[0]?["message"]?["content"] else { return (i, "<no content>") }
                        return (i, s)
                    }
                }
                var out = [String](repeating: "", count: prompts.count)
                for try await (i, s) in group { out[i] = s }
                return out
            }
            #expect(texts == expected)
        }
        let after = engine.context.statistics
        // They did share steps: more rows than steps.
        #expect(after.rows - before.rows > after.steps - before.steps)
    }

    @Test func responseFormatsGiveValidJSON() async throws {
        let (server, _) = try Self.server()
        try await server.application().test(.router) { client in
            let schema = #"{"type":"object","properties":{"name":{"type":"string","maxLength":12},"age":{"type":"integer"},"tags":{"type":"array","items":{"type":"string"},"maxItems":3}},"required":["name","age"]}"#
            for (format, check) in [
                (#","response_format":{"type":"json_schema","json_schema":{"name":"p","schema":\#(schema)}}"#, true),
                (#","response_format":{"type":"json_object"}"#, false),
            ] {
                for maxTokens in [6, 60] {   // cut short or not: always a whole document
                    let r = try await Self.post(client, "/v1/chat/completions", Self.chatBody("name and age", maxTokens: maxTokens, extra: format))
                    #expect(r.status == .ok)
                    guard case .string(let content)? = try Self.json(r)["choices"]?[0]?["message"]?["content"] else {
                        Issue.record("no content"); continue
                    }
                    let value = try JSONValue.parse(content)
                    guard case .object = value else { Issue.record("not an object: \(content)"); continue }
                    if check { try JSONSchema(json: schema).validate(value) }
                    #expect((try? JSONSerialization.jsonObject(with: Data(content.utf8))) != nil, "\(content)")
                }
            }
            // Sampling (temperature 1) under a schema is valid too.
            let r = try await Self.post(client, "/v1/chat/completions",
                                        #"{"messages":[{"role":"user","content":"x"}],"temperature":1,"seed":7,"max_tokens":40,"response_format":{"type":"json_object"}}"#)
            guard case .string(let content)? = try Self.json(r)["choices"]?[0]?["message"]?["content"] else { Issue.record("no content"); return }
            #expect((try? JSONValue.parse(content)) != nil)
        }
    }

    @Test func badRequestsAreTypedErrors() async throws {
        let (server, _) = try Self.server(maxBody: 2048)
        try await server.application().test(.router) { client in
            for (body, param) in [
                ("{not json", nil as String?),
                ("[1,2]", nil),
                (#"{"messages":[]}"#, "messages"),
                (#"{"messages":[{"role":"tool","content":"x"}]}"#, "messages[0].role"),
                (#"{"messages":[{"role":"user","content":"x"}],"temperature":3}"#, "temperature"),
                (#"{"messages":[{"role":"user","content":"x"}],"n":2}"#, "n"),
                (#"{"messages":[{"role":"user","content":"x"}],"max_tokens":0}"#, "max_tokens"),
                (#"{"messages":[{"role":"user","content":"x"}],"max_tokens":100000}"#, "max_tokens"),
                (##"{"messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_schema","json_schema":{"schema":{"type":"object","properties":{"a":{"$ref":"#"}}}}}}"##, "response_format.json_schema.schema"),
                (#"{"messages":[{"role":"user","content":"x"}],"tools":[{"type":"function"}]}"#, "tools"),
            ] {
                let r = try await Self.post(client, "/v1/chat/completions", body)
                #expect(r.status == .badRequest, "\(body)")
                let error = try Self.json(r)["error"]
                #expect(error?["type"] == .string("invalid_request_error"))
                if let param { #expect(error?["param"] == .string(param), "\(body)") }
            }
            // A prompt longer than the context: 400 context_length_exceeded.
            let long = String(repeating: "bat ", count: 300)
            let r = try await Self.post(client, "/v1/completions", #"{"prompt":"\#(long)","max_tokens":4}"#)
            #expect(r.status == .badRequest)
            #expect(try Self.json(r)["error"]?["code"] == .string("context_length_exceeded"))
            // Oversized body: 413.
            let big = try await Self.post(client, "/v1/completions", #"{"prompt":"\#(String(repeating: "x", count: 4000))"}"#)
            #expect(big.status == .contentTooLarge)
            // Unknown route: 404.
            #expect(try await client.execute(uri: "/v2/nothing", method: .get).status == .notFound)
        }
    }

    @Test func bearerKeyIsRequiredExceptForHealth() async throws {
        let (server, _) = try Self.server(apiKey: "s3cret-key")
        try await server.application().test(.router) { client in
            #expect(try await client.execute(uri: "/health", method: .get).status == .ok)
            let none = try await client.execute(uri: "/v1/models", method: .get)
            #expect(none.status == .unauthorized)
            #expect(none.headers[.wwwAuthenticate] == "Bearer")
            #expect(try await client.execute(uri: "/v1/models", method: .get, headers: [.authorization: "Bearer wrong"]).status == .unauthorized)
            #expect(try await client.execute(uri: "/v1/models", method: .get, headers: [.authorization: "Bearer s3cret-ke"]).status == .unauthorized)
            #expect(try await client.execute(uri: "/metrics", method: .get).status == .unauthorized)
            #expect(try await client.execute(uri: "/v1/models", method: .get, headers: [.authorization: "Bearer s3cret-key"]).status == .ok)
        }
        #expect(BearerAuthMiddleware<ServerRequestContext>.constantTimeEqual(Array("abc".utf8), Array("abc".utf8)))
        #expect(!BearerAuthMiddleware<ServerRequestContext>.constantTimeEqual(Array("abc".utf8), Array("abd".utf8)))
        #expect(!BearerAuthMiddleware<ServerRequestContext>.constantTimeEqual(Array("abc".utf8), Array("abcd".utf8)))
    }

    /// One sequence slot, no queue: while the slot is busy, another request gets 429 with Retry-After.
    @Test func overloadAnswers429() async throws {
        let (server, engine) = try Self.server(sessions: 1, queue: 0)
        let blocker = try await LaneBlocker(engine)
        try await server.application().test(.router) { client in
            let r = try await Self.post(client, "/v1/chat/completions", Self.chatBody("a", maxTokens: 2))
            #expect(r.status == .tooManyRequests)
            #expect(r.headers[.retryAfter] == "1")
            #expect(try Self.json(r)["error"]?["code"] == .string("queue_full"))
            let c = try await Self.post(client, "/v1/classify", #"{"text":"a","labels":["x","y"]}"#)
            #expect(c.status == .tooManyRequests)
            try await blocker.release()
            #expect(try await Self.post(client, "/v1/chat/completions", Self.chatBody("a", maxTokens: 2)).status == .ok)
            let metrics = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
            #expect(metrics.contains(#"edgelm_refusals_total{reason="queue_full"} 2"#))
        }
    }

    /// Task endpoints answer the CLI's documents: the same label and probabilities as a fresh runner.
    @Test func taskEndpoints() async throws {
        let (server, _) = try Self.server()
        let options = TaskOptions(contextLength: 512, threads: 1)
        let fresh = try TaskRunner(model: try Model(path: Self.modelPath), options: options)
        let expected = try fresh.classify("a bat", labelSet: LabelSet(labels: [LabelSpec("set_alarm"), LabelSpec("weather")]))
        try await server.application().test(.router) { client in
            let r = try await Self.post(client, "/v1/classify", #"{"text":"a bat","labels":["set_alarm","weather"]}"#)
            #expect(r.status == .ok)
            let doc = try Self.json(r)
            #expect(doc["label"] == .string(expected.label))
            #expect(doc["origin"] == .string("local"))
            #expect(doc["escalated"] == .bool(false))
            #expect(doc["probabilities"]?["set_alarm"] == .number(expected.probabilities[0]))
            for key in ["confidence", "timings", "channel_skipped", "channel_labels", "reason", "low_confidence", "detail"] { #expect(doc[key] != nil, "\(key)") }

            let schema = #"{"type":"object","properties":{"name":{"type":["string","null"]}},"required":["name"]}"#
            let e = try await Self.post(client, "/v1/extract", #"{"text":"I am Bat Tab","schema":\#(schema),"max_tokens":8}"#)
            #expect(e.status == .ok)
            let edoc = try Self.json(e)
            guard let value = edoc["value"] else { Issue.record("no value"); return }
            try JSONSchema(json: schema).validate(value)
            #expect(edoc["origin"] == .string("local"))

            let w = try await Self.post(client, "/v1/rewrite", #"{"text":"a bat","instruction":"shorter","max_tokens":5}"#)
            #expect(w.status == .ok)
            #expect(try Self.json(w)["text"] != nil)

            #expect(try await Self.post(client, "/v1/classify", #"{"text":"a"}"#).status == .badRequest)
            #expect(try await Self.post(client, "/v1/extract", #"{"text":"a","schema":{"type":"object","properties":{"a":{"format":"x","type":"string"}}}}"#).status == .badRequest)
        }
    }

    /// /metrics is Prometheus text with counters, and no request content ever.
    @Test func metricsCarryCountsNotContent() async throws {
        let (server, _) = try Self.server()
        try await server.application().test(.router) { client in
            _ = try await Self.post(client, "/v1/chat/completions", Self.chatBody("zebra-secret-marker", maxTokens: 4))
            _ = try await Self.post(client, "/v1/chat/completions", "{bad")
            let m = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
            #expect(m.contains(#"edgelm_requests_total{endpoint="/v1/chat/completions",status="200"} 1"#))
            #expect(m.contains(#"edgelm_requests_total{endpoint="/v1/chat/completions",status="400"} 1"#))
            #expect(m.contains("edgelm_completion_tokens_total"))
            #expect(m.contains("edgelm_time_to_first_token_seconds_bucket"))
            #expect(m.contains("edgelm_kv_cache_bytes"))
            #expect(m.contains("edgelm_queue_depth 0"))
            #expect(!m.contains("zebra"))
            #expect(!m.contains("secret"))
        }
    }
}
