// Tasks: the remote handler — an OpenAI-compatible `POST /v1/chat/completions` endpoint.

import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Runs tasks on an OpenAI-compatible chat-completions endpoint (OpenAI, llama.cpp server, vLLM, …).
///
/// The API key is read from the environment variable `apiKeyVariable` at call time (never stored).
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

    public init(url: URL, model: String = "gpt-4o-mini", apiKeyVariable: String = "EDGELM_REMOTE_API_KEY",
                timeout: Double = 20) {
        self.url = url; self.model = model; self.apiKeyVariable = apiKeyVariable; self.timeout = timeout
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
            let cleaned = answer.trimmingCharacters(in: .whitespacesAndNewlines.union(.punctuationCharacters)).lowercased()
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
            return .rewrite(answer.trimmingCharacters(in: .whitespacesAndNewlines))
        }
    }

    /// One chat completion; returns `choices[0].message.content`.
    public func complete(system: String, user: String, maxTokens: Int) throws -> String {
        var req = URLRequest(url: url, cachePolicy: .reloadIgnoringLocalCacheData, timeoutInterval: timeout)
        req.httpMethod = "POST"
        req.setValue("application/json", forHTTPHeaderField: "Content-Type")
        if let key = ProcessInfo.processInfo.environment[apiKeyVariable], !key.isEmpty {
            req.setValue("Bearer \(key)", forHTTPHeaderField: "Authorization")
        }
        let body: [String: Any] = [
            "model": model, "temperature": 0, "max_tokens": maxTokens,
            "messages": [["role": "system", "content": system], ["role": "user", "content": user]],
        ]
        req.httpBody = try JSONSerialization.data(withJSONObject: body)

        let config = URLSessionConfiguration.ephemeral
        config.timeoutIntervalForRequest = timeout
        config.timeoutIntervalForResource = timeout
        let session = URLSession(configuration: config)
        defer { session.finishTasksAndInvalidate() }
        final class Box: @unchecked Sendable { var data: Data?; var response: URLResponse?; var error: Error? }
        let box = Box()
        let done = DispatchSemaphore(value: 0)
        let task = session.dataTask(with: req) { d, r, e in box.data = d; box.response = r; box.error = e; done.signal() }
        task.resume()
        // A hard deadline on top of URLSession's own timeouts, so a call never hangs.
        if done.wait(timeout: .now() + timeout + 1) == .timedOut {
            task.cancel()
            throw TasksError.remoteUnavailable("no answer from \(url.absoluteString) within \(timeout) s")
        }
        if let e = box.error { throw TasksError.remoteUnavailable("\(url.absoluteString): \(e.localizedDescription)") }
        guard let http = box.response as? HTTPURLResponse, let data = box.data else {
            throw TasksError.remoteUnavailable("\(url.absoluteString): no response")
        }
        guard (200..<300).contains(http.statusCode) else {
            throw TasksError.remoteFailed("HTTP \(http.statusCode) from \(url.absoluteString)")
        }
        guard let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let choices = json["choices"] as? [[String: Any]],
              let message = choices.first?["message"] as? [String: Any],
              let content = message["content"] as? String else {
            throw TasksError.remoteFailed("the response is not a chat completion")
        }
        return content
    }
}
