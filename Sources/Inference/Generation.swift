import EdgeLMEssentials
import GGUF
import Tokenizers

/// Why a generation stopped.
public enum StopReason: String, Sendable, Codable {
    /// The model produced an end-of-generation token (EOS / EOT).
    case endOfGeneration = "eos"
    /// `maxTokens` were generated.
    case maxTokens = "max_tokens"
    /// A user stop string appeared in the output (it is not included in the text).
    case stopString = "stop_string"
    /// The session's context is full (``KVCachePolicy/refuse``; the other policies evict and go on).
    case contextFull = "context_full"
    /// The caller stopped it (`onText` returned false, ``Session/shouldStop``, or the task was cancelled).
    case cancelled = "cancelled"
}

/// Restricts which token may come next (constrained decoding, e.g. JSON that must match a schema).
///
/// A value type: each generation works on its own copy. `generate` asks ``allows(_:)`` for the token it would
/// pick, and only when that token is refused calls ``mask(_:)`` (so a greedy step whose best token is valid costs
/// one check); after each chosen token it calls ``accept(_:)``, and it ends the generation once ``isComplete``.
public protocol TokenConstraint: Sendable {
    /// Whether `token` may come next.
    func allows(_ token: Int32) -> Bool
    /// Sets the logit of every token that may not come next to `-infinity`. Returns false when no token may.
    /// (Mutating so that a constraint can keep its scratch from step to step.)
    mutating func mask(_ logits: UnsafeMutableBufferPointer<Float>) -> Bool
    /// Records `token` as generated (it was allowed).
    mutating func accept(_ token: Int32)
    /// True when the output is whole and nothing may follow: generation stops there.
    var isComplete: Bool { get }
    /// Text that completes the output when generation is cut short (max tokens, context full): "" if none.
    func completion() -> String
}

/// A generation request.
public struct GenerationRequest: Sendable {
    public var prompt: String
    public var maxTokens: Int = 128
    public var sampling: SamplingParameters = .greedy
    public var stopStrings: [String] = []
    /// Wrap the prompt as one user turn in the model's chat template.
    public var chat: Bool = false
    /// Parse special-token text (e.g. `<|im_start|>`) in the prompt.
    public var parseSpecial: Bool = true
    /// A whole conversation rendered with the model's chat template (then `prompt` and `chat` are ignored),
    /// ending with the assistant-turn header.
    public var messages: [ChatMessage]? = nil
    /// The prompt already tokenized (``Model/promptTokens(for:)`` of this request, e.g. by a caller that checked
    /// its length): used as is instead of tokenizing `prompt` / `messages` again.
    public var promptTokens: [Int32]? = nil
    /// Tokens allowed at each step (nil: any). With a constraint, end-of-generation tokens are only taken when
    /// the constraint allows them; a cut-short output gets the constraint's ``TokenConstraint/completion()``.
    public var constraint: (any TokenConstraint)? = nil

    public init(prompt: String, maxTokens: Int = 128, sampling: SamplingParameters = .greedy,
                stopStrings: [String] = [], chat: Bool = false, parseSpecial: Bool = true) {
        self.prompt = prompt; self.maxTokens = maxTokens; self.sampling = sampling
        self.stopStrings = stopStrings; self.chat = chat; self.parseSpecial = parseSpecial
    }
}

/// What a generation produced, with timings.
public struct GenerationResult: Sendable {
    public var text: String
    public var promptTokens: [Int32]
    public var tokens: [Int32]
    public var stopReason: StopReason
    /// Seconds spent in prefill (prompt evaluation, including the first token's logits).
    public var prefillSeconds: Double
    /// Seconds spent decoding the generated tokens after the first.
    public var decodeSeconds: Double

    public var prefillTokensPerSecond: Double { prefillSeconds > 0 ? Double(promptTokens.count) / prefillSeconds : 0 }
    public var decodeTokensPerSecond: Double {
        let n = max(tokens.count - 1, 0)
        return decodeSeconds > 0 && n > 0 ? Double(n) / decodeSeconds : 0
    }
}

extension Model {
    /// Tokenizes a request's prompt the way `generate` does: chat template when asked, special tokens parsed
    /// per the request, BOS when the model's metadata asks for it.
    public func promptTokens(for request: GenerationRequest) throws -> [Int32] {
        if let ids = request.promptTokens { return ids }
        let tok = tokenizer
        var text = request.prompt
        let templated = request.chat || request.messages != nil
        if templated {
            let template = try ChatTemplate(template: try file.metadata.optionalString(GGUFKey.chatTemplate),
                                            architecture: config.architecture)
            text = template.render(request.messages ?? [.user(request.prompt)], addGenerationPrompt: true)
        }
        var ids: [Int32] = []
        if tok.addBOS, let bos = tok.bosID { ids.append(bos) }
        ids += tok.encode(text, parseSpecial: request.parseSpecial || templated)
        return ids
    }

}

extension Session {
    /// Tokenizes a request's prompt the way `generate` does (``Model/promptTokens(for:)``).
    public func promptTokens(for request: GenerationRequest) throws -> [Int32] { try model.promptTokens(for: request) }

    /// Generates text after the tokens already in the session (usually none: call ``reset()`` first).
    ///
    /// `onText` receives text as it is produced (never half a UTF-8 character, never part of a stop string);
    /// return `false` from it to stop early.
    /// - Throws: ``InferenceError`` when the prompt does not fit or a parameter is invalid.
    public func generate(_ request: GenerationRequest, onText: ((String) -> Bool)? = nil) throws -> GenerationResult {
        guard request.maxTokens >= 0 else { throw InferenceError.invalidParameter("max tokens must be ≥ 0") }
        let tok = model.tokenizer
        let prompt = try promptTokens(for: request)
        guard !prompt.isEmpty else { throw InferenceError.emptyPrompt }
        let sampler = try Sampler(parameters: request.sampling, vocabularySize: model.config.vocabularySize)

        let t0 = DispatchTime.now().uptimeNanoseconds
        var logits = try prefill(prompt)
        let t1 = DispatchTime.now().uptimeNanoseconds

        var generated: [Int32] = []
        generated.reserveCapacity(request.maxTokens)
        var decoder = StreamingDecoder(tokenizer: tok)
        var text = ""             // all text produced
        // Counted in Unicode scalars, not Characters: a later combining mark can merge into a character already
        // streamed, which would shift Character offsets.
        var emitted = 0           // scalars of `text` already passed to onText
        let maxStop = request.stopStrings.map(\.unicodeScalars.count).max() ?? 0
        var reason = StopReason.maxTokens
        var history = prompt
        history.reserveCapacity(prompt.count + request.maxTokens)
        var constraint = request.constraint
        var masked: [Float] = constraint == nil ? [] : [Float](repeating: 0, count: logits.count)

        loop: while generated.count < request.maxTokens {
            var next = sampler.sample(logits, history: history[...])
            if constraint?.allows(next) == false {
                // The sampler's pick is refused: sample again from the allowed tokens only.
                let any = masked.withUnsafeMutableBufferPointer { m in
                    _ = m.initialize(from: logits)
                    return constraint!.mask(m)
                }
                guard any else { reason = .endOfGeneration; break }
                next = masked.withUnsafeBufferPointer { sampler.sample($0, history: history[...]) }
            }
            if tok.isEndOfGeneration(next) && constraint == nil { reason = .endOfGeneration; break }
            constraint?.accept(next)
            generated.append(next)
            history.append(next)
            text += decoder.append(next)
            // Stop strings: cut the text at the first match.
            for s in request.stopStrings where !s.isEmpty {
                if let r = text.firstRange(of: s) {
                    text = String(text[..<r.lowerBound])
                    reason = .stopString
                    break loop
                }
            }
            // Stream what can no longer become part of a stop string.
            if let onText {
                let safe = max(emitted, text.unicodeScalars.count - max(maxStop - 1, 0))
                if safe > emitted {
                    let chunk = String(String.UnicodeScalarView(text.unicodeScalars.dropFirst(emitted).prefix(safe - emitted)))
                    emitted = safe
                    if !onText(chunk) { reason = .cancelled; break loop }
                }
            }
            if constraint?.isComplete == true { reason = .endOfGeneration; break }
            if generated.count == request.maxTokens { break }
            if let stop = shouldStop, stop() { reason = .cancelled; break }
            // Under the refuse policy a full context ends the generation; the other policies make room.
            if position >= contextLength && kvPolicy == .refuse { reason = .contextFull; break }
            logits = try decode(next)
        }
        if reason != .stopString { text += decoder.finish() }
        if let c = constraint, !c.isComplete, reason != .stopString { text += c.completion() }
        if let onText, text.unicodeScalars.count > emitted {
            _ = onText(String(String.UnicodeScalarView(text.unicodeScalars.dropFirst(emitted))))
        }
        let t2 = DispatchTime.now().uptimeNanoseconds
        return GenerationResult(text: text, promptTokens: prompt, tokens: generated, stopReason: reason,
                                prefillSeconds: Double(t1 - t0) / 1e9, decodeSeconds: Double(t2 - t1) / 1e9)
    }
}
