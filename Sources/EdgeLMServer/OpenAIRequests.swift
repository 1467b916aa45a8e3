// EdgeLMServer: OpenAI request bodies (`/v1/chat/completions`, `/v1/completions`) read into a
// GenerationRequest, with a 400 naming the field for anything wrong or unsupported.

import Inference
import Tasks
import Tokenizers

/// The output format a request asks for.
enum ResponseFormat: Equatable {
    case text
    /// `{"type": "json_object"}` (any object) or `{"type": "json_schema", …}`.
    case json(JSONSchema)
}

/// A parsed completion request (chat or text).
struct CompletionRequest {
    var chat: Bool
    var model: String?
    var messages: [ChatMessage] = []
    var prompt: String = ""
    var maxTokens: Int?
    var sampling: SamplingParameters
    var stop: [String] = []
    var stream = false
    var includeUsage = false
    var format: ResponseFormat = .text

    /// The generation this request asks for (`maxTokens` resolved by the caller).
    func generation(maxTokens: Int) -> GenerationRequest {
        var g = GenerationRequest(prompt: prompt, maxTokens: maxTokens, sampling: sampling, stopStrings: stop,
                                  chat: false, parseSpecial: true)
        if chat { g.messages = messages }
        return g
    }
}

/// Reads fields of a JSON request body, throwing ``APIError/badRequest(_:param:code:)`` naming the field.
struct FieldReader {
    let body: JSONValue

    init(_ bytes: [UInt8]) throws {
        guard !bytes.isEmpty else { throw APIError.badRequest("the request body is empty; send a JSON object") }
        let v: JSONValue
        do { v = try JSONValue.parse(bytes) } catch {
            throw APIError.badRequest("the request body is not valid JSON (\(String(describing: error).prefix(120)))")
        }
        guard case .object = v else { throw APIError.badRequest("the request body must be a JSON object") }
        body = v
    }

    func has(_ key: String) -> Bool {
        if case .null? = body[key] { return false }
        return body[key] != nil
    }

    func string(_ key: String) throws -> String? {
        switch body[key] {
        case nil, .null?: return nil
        case .string(let s)?: return s
        default: throw APIError.badRequest("'\(key)' must be a string", param: key)
        }
    }

    func bool(_ key: String) throws -> Bool? {
        switch body[key] {
        case nil, .null?: return nil
        case .bool(let b)?: return b
        default: throw APIError.badRequest("'\(key)' must be true or false", param: key)
        }
    }

    func number(_ key: String, in range: ClosedRange<Double>) throws -> Double? {
        switch body[key] {
        case nil, .null?: return nil
        case .number(let d)? where d.isFinite && range.contains(d): return d
        default: throw APIError.badRequest("'\(key)' must be a number in \(range.lowerBound)…\(range.upperBound)", param: key)
        }
    }

    func integer(_ key: String, in range: ClosedRange<Int>) throws -> Int? {
        switch body[key] {
        case nil, .null?: return nil
        case .number(let d)? where d == d.rounded() && d >= Double(range.lowerBound) && d <= Double(range.upperBound):
            return Int(d)
        default: throw APIError.badRequest("'\(key)' must be an integer in \(range.lowerBound)…\(range.upperBound)", param: key)
        }
    }

    /// Fields this server does not implement: refused unless absent or at their neutral value.
    func refuseUnsupported() throws {
        for key in ["tools", "functions"] {
            if case .array(let a)? = body[key], a.isEmpty { continue }
            if has(key) { throw APIError.badRequest("'\(key)' (tool calling) is not supported by this server", param: key) }
        }
        for key in ["tool_choice", "function_call"] where has(key) {
            if case .string("none")? = body[key] { continue }
            throw APIError.badRequest("'\(key)' is not supported by this server", param: key)
        }
        for key in ["presence_penalty", "frequency_penalty"] {
            if let v = try number(key, in: -2...2), v != 0 {
                throw APIError.badRequest("'\(key)' is not supported (only 0); use 'repeat_penalty'", param: key)
            }
        }
        if try bool("logprobs") == true { throw APIError.badRequest("'logprobs' is not supported", param: "logprobs") }
        if has("logit_bias") { throw APIError.badRequest("'logit_bias' is not supported", param: "logit_bias") }
        if let n = try integer("n", in: 1...128), n != 1 {
            throw APIError.badRequest("'n' must be 1 (one choice per request)", param: "n")
        }
        if let b = try integer("best_of", in: 1...128), b != 1 { throw APIError.badRequest("'best_of' must be 1", param: "best_of") }
        if try bool("echo") == true { throw APIError.badRequest("'echo' is not supported", param: "echo") }
        if let s = try string("suffix"), !s.isEmpty { throw APIError.badRequest("'suffix' is not supported", param: "suffix") }
    }
}

extension CompletionRequest {
    /// Parses a `/v1/chat/completions` (`chat`) or `/v1/completions` body.
    init(body bytes: [UInt8], chat: Bool) throws {
        let r = try FieldReader(bytes)
        try r.refuseUnsupported()
        self.chat = chat
        model = try r.string("model")

        if chat {
            guard case .array(let list)? = r.body["messages"], !list.isEmpty else {
                throw APIError.badRequest("'messages' must be a non-empty array of {role, content}", param: "messages")
            }
            messages = try list.enumerated().map { i, m in try Self.message(m, index: i) }
        } else {
            switch r.body["prompt"] {
            case .string(let s)?: prompt = s
            case .array(let a)? where a.count == 1:
                guard case .string(let s) = a[0] else {
                    throw APIError.badRequest("'prompt' must be a string (token arrays are not supported)", param: "prompt")
                }
                prompt = s
            case .array?: throw APIError.badRequest("'prompt' must be one string (one prompt per request)", param: "prompt")
            default: throw APIError.badRequest("'prompt' must be a string", param: "prompt")
            }
            guard !prompt.isEmpty else { throw APIError.badRequest("'prompt' is empty", param: "prompt") }
        }

        if let m = try r.integer("max_completion_tokens", in: 1...1_000_000) { maxTokens = m }
        else if let m = try r.integer("max_tokens", in: 1...1_000_000) { maxTokens = m }

        // OpenAI's defaults: temperature 1, top_p 1; no top-k / min-p unless asked (llama.cpp-style extensions).
        let temperature = try r.number("temperature", in: 0...2) ?? 1
        let topP = try r.number("top_p", in: 0...1) ?? 1
        let topK = try r.integer("top_k", in: 0...1_000_000) ?? 0
        let minP = try r.number("min_p", in: 0...1) ?? 0
        let repeatPenalty = try r.number("repeat_penalty", in: 0.01...10) ?? 1
        var seed: UInt64
        switch r.body["seed"] {
        case nil, .null?: seed = UInt64.random(in: .min ... .max)
        case .number(let d)? where d == d.rounded() && abs(d) <= 9.2e18: seed = UInt64(bitPattern: Int64(d))
        default: throw APIError.badRequest("'seed' must be an integer", param: "seed")
        }
        if temperature == 0 {
            sampling = SamplingParameters.greedy
            sampling.repeatPenalty = Float(repeatPenalty)
        } else {
            sampling = SamplingParameters(temperature: Float(temperature), topK: topK, topP: Float(max(topP, 1e-6)),
                                          minP: Float(minP), repeatPenalty: Float(repeatPenalty), seed: seed)
        }
        sampling.seed = seed

        switch r.body["stop"] {
        case nil, .null?: break
        case .string(let s)?: stop = s.isEmpty ? [] : [s]
        case .array(let a)? where a.count <= 4:
            stop = try a.map { v in
                guard case .string(let s) = v, !s.isEmpty else {
                    throw APIError.badRequest("'stop' entries must be non-empty strings", param: "stop")
                }
                return s
            }
        default: throw APIError.badRequest("'stop' must be a string or an array of at most 4 strings", param: "stop")
        }

        stream = try r.bool("stream") ?? false
        if case .object? = r.body["stream_options"] {
            if case .bool(let b)? = r.body["stream_options"]?["include_usage"] { includeUsage = b }
        } else if r.has("stream_options") {
            throw APIError.badRequest("'stream_options' must be an object", param: "stream_options")
        }

        if let f = r.body["response_format"], f != .null {
            format = try Self.responseFormat(f)
        }
    }

    static func message(_ m: JSONValue, index i: Int) throws -> ChatMessage {
        let param = "messages[\(i)]"
        guard case .object = m, case .string(var role)? = m["role"] else {
            throw APIError.badRequest("\(param) must be an object with a string 'role'", param: param)
        }
        if role == "developer" { role = "system" }
        guard ["system", "user", "assistant"].contains(role) else {
            throw APIError.badRequest("\(param).role must be system, developer, user or assistant (tool messages are not supported)",
                                      param: param + ".role")
        }
        var content = ""
        switch m["content"] {
        case .string(let s)?: content = s
        case .array(let parts)?:
            for (j, p) in parts.enumerated() {
                guard case .string("text")? = p["type"], case .string(let t)? = p["text"] else {
                    throw APIError.badRequest("\(param).content[\(j)] must be {\"type\": \"text\", \"text\": …} (only text is supported)",
                                              param: param + ".content")
                }
                content += t
            }
        default:
            throw APIError.badRequest("\(param).content must be a string or an array of text parts", param: param + ".content")
        }
        return ChatMessage(role: role, content: content)
    }

    static func responseFormat(_ f: JSONValue) throws -> ResponseFormat {
        guard case .string(let type)? = f["type"] else {
            throw APIError.badRequest("'response_format' must be an object with a 'type'", param: "response_format")
        }
        switch type {
        case "text": return .text
        case "json_object": return .json(.anyObject)
        case "json_schema":
            guard let schemaValue = f["json_schema"]?["schema"] else {
                throw APIError.badRequest("'response_format.json_schema.schema' is required for type json_schema",
                                          param: "response_format.json_schema.schema")
            }
            do {
                let schema = try JSONSchema(json: schemaValue.description)
                return .json(schema)
            } catch {
                throw APIError.badRequest("unsupported JSON schema: \(error)", param: "response_format.json_schema.schema",
                                          code: "unsupported_schema")
            }
        default:
            throw APIError.badRequest("'response_format.type' must be text, json_object or json_schema", param: "response_format.type")
        }
    }
}
