// Tasks: the remote handler — an OpenAI-compatible `POST /v1/chat/completions` endpoint.

import EdgeLMEssentials
import HTTPTransport

/// Runs tasks on an OpenAI-compatible chat-completions endpoint (OpenAI, llama.cpp server, vLLM, …).
///
/// The API key is read from the environment variable `apiKeyVariable` at call time (never stored). Requests
/// go through `transport`: `URLSessionTransport()` (module EdgeLMNetworking) in apps.
/// Every call is bounded by `timeout` seconds; failures map to ``TasksError/remoteUnavailable(_:)``
/// (network, timeout) or ``TasksError/remoteFailed(_:)`` (HTTP status, malformed or invalid answers).
public struct OpenAICompatibleHandler: RemoteTaskHandler {
    /// Full URL of the chat-completions endpoint, e.g. `https://api.openai.com/v1/chat/completions`.
    public var url: URL
    /// The `model` field sent.
    public var model: String
    /// Environment variable holding the bearer token (no header when unset).
    public var apiKeyVariable: String
    /// Seconds before a call gives up.
    public var timeout: Double
    /// What the requests are sent through.
    public var transport: any HTTPTransport

    public init(url: URL, model: String = "gpt-4o-mini", apiKeyVariable: String = "EDGELM_REMOTE_API_KEY",
                timeout: Double = 20, transport: any HTTPTransport) {
        self.url = url; self.model = model; self.apiKeyVariable = apiKeyVariable; self.timeout = timeout
        self.transport = transport
    }

    public func run(_ request: TaskRequest) throws -> TaskOutput {
        switch request.task {
        case .classify, .classifyWith:
            let set = request.task.labelSet!
            let labels = set.names
            var system = (set.instruction ?? "Classify the text.") + " Answer with exactly one of: "
                + labels.joined(separator: ", ") + ". Reply with the label only."
            for spec in set.labels { if let d = spec.description { system += "\n- \(spec.label): \(d)" } }
            var user = ""
            for s in set.shots { user += "Text: \(s.text)\nLabel: \(labels[s.label])\n\n" }
            user += user.isEmpty ? request.task.text : "Text: \(request.task.text)\nLabel:"
            let answer = try complete(system: system, user: user, maxTokens: 16)
            let cleaned = String(answer.trimmingWhitespace().drop(while: \.isPunctuation).reversed()
                .drop(while: \.isPunctuation).reversed()).trimmingWhitespace().lowercased()
            guard let i = labels.firstIndex(where: { $0.lowercased() == cleaned })
                    ?? labels.firstIndex(where: { cleaned.contains($0.lowercased()) }) else {
                throw TasksError.remoteFailed("the answer '\(answer.prefix(80))' is not one of the labels")
            }
            var probs = [Double](repeating: 0, count: labels.count)
            probs[i] = 1
            return .classification(Classification(label: labels[i], labels: labels, probabilities: probs,
                                                  rawScores: [], timings: TaskTimings()))
        case .extract(let text, let schema):
            let system = "Extract information from the user's text. Reply with one JSON object only, matching: "
                + schema.typeDescription
            var answer = try complete(system: system, user: text, maxTokens: 512)
            if let a = answer.firstIndex(of: "{"), let b = answer.lastIndex(of: "}") { answer = String(answer[a...b]) }
            let value: JSONValue
            do { value = try JSONValue.parse(answer); try schema.validate(value) } catch {
                throw TasksError.remoteFailed("the remote JSON is not valid for the schema: \(error)")
            }
            return .extraction(value)
        case .rewrite(let text, let instruction, let maxTokens):
            let answer = try complete(system: "Rewrite the user's text as instructed. Reply with the rewritten text only.",
                                      user: "Instruction: \(instruction)\n\nText: \(text)", maxTokens: maxTokens)
            return .rewrite(answer.trimmingWhitespace())
        }
    }

    /// One chat completion; returns `choices[0].message.content`.
    public func complete(system: String, user: String, maxTokens: Int) throws -> String {
        var headers = ["Content-Type": "application/json"]
        if let key = ProcessInfo.processInfo.environment[apiKeyVariable], !key.isEmpty {
            headers["Authorization"] = "Bearer \(key)"
        }
        let body = JSONValue.object([
            ("model", .string(model)), ("temperature", .number(0)), ("max_tokens", .number(Double(maxTokens))),
            ("messages", .array([
                .object([("role", .string("system")), ("content", .string(system))]),
                .object([("role", .string("user")), ("content", .string(user))]),
            ])),
        ])
        let request = HTTPRequest(method: "POST", url: url.absoluteString, headers: headers, timeout: timeout,
                                  deadline: timeout, body: Array(body.description.utf8))
        let answer: (status: Int, body: [UInt8])
        do { answer = try transport.fetch(request) } catch let e as HTTPTransportError {
            throw TasksError.remoteUnavailable(e.timedOut ? "no answer from \(url.absoluteString) within \(timeout) s"
                                                          : "\(url.absoluteString): \(e.reason)")
        }
        guard (200..<300).contains(answer.status) else {
            throw TasksError.remoteFailed("HTTP \(answer.status) from \(url.absoluteString)")
        }
        guard let json = try? JSONValue.parse(answer.body), case .array(let choices)? = json["choices"],
              case .string(let content)? = choices.first?["message"]?["content"] else {
            throw TasksError.remoteFailed("the response is not a chat completion")
        }
        return content
    }
}
