import EdgeLMEssentials

/// Perplexity of a text, computed as llama.cpp's `perplexity` tool does.
public struct PerplexityResult: Sendable, Codable {
    public var perplexity: Double
    public var scoredTokens: Int
    public var windows: Int
}

extension Session {
    /// Tokenizes `text` without BOS, cuts it to `maxTokens`, splits it into non-overlapping windows of `ctx`
    /// tokens (the first token of each replaced by BOS when the model adds BOS) and scores the second half of
    /// each window: positions ctx/2 … ctx-2 predict the next token. Uses this session (it is reset per window).
    /// - Throws: ``InferenceError/invalidParameter(_:)`` when `ctx` exceeds the session or the text is too short.
    public func perplexity(text: String, ctx: Int, maxTokens: Int? = nil) throws -> PerplexityResult {
        guard ctx >= 4, ctx <= contextLength else {
            throw InferenceError.invalidParameter("ctx must be in 4…\(contextLength) (the session's context), got \(ctx)")
        }
        let tok = model.tokenizer
        var ids = tok.encode(text, parseSpecial: false)
        if let maxTokens { ids = Array(ids.prefix(maxTokens)) }
        let windows = ids.count / ctx
        guard windows > 0 else {
            throw InferenceError.invalidParameter("the text has \(ids.count) tokens, fewer than one window of \(ctx)")
        }
        var nll = 0.0
        var scored = 0
        for wi in 0..<windows {
            var window = Array(ids[(wi * ctx)..<((wi + 1) * ctx)])
            if tok.addBOS, let bos = tok.bosID { window[0] = bos }
            reset()
            let first = ctx / 2
            try evaluateAll(window) { i, logits in
                guard i >= first, i + 1 < ctx else { return }
                let target = Int(window[i + 1])
                var maxL = -Float.infinity
                for l in logits { maxL = max(maxL, l) }
                var sum = 0.0
                for l in logits { sum += Double(expf(l - maxL)) }
                nll += -(Double(logits[target] - maxL) - log(sum))
                scored += 1
            }
        }
        reset()
        return PerplexityResult(perplexity: exp(nll / Double(scored)), scoredTokens: scored, windows: windows)
    }
}
