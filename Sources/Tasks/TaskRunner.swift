// Tasks: the local task runner — classify by label likelihood, extract under a JSON-schema constraint,
// rewrite with a capped generation. One model session, reused across calls (shared prompt prefixes are kept).

import Foundation
import GGUF
import Inference
import Tokenizers

/// Runs narrow tasks on a local model.
///
/// Holds one ``Session`` (allocated once) and reuses the KV state of the longest common prompt prefix
/// between calls. Not thread-safe: use one runner per thread (they can share the ``Model``).
public final class TaskRunner {
    public let model: Model
    public let options: TaskOptions
    public let session: Session
    let template: ChatTemplate
    let tokenizer: any Tokenizer
    let endOfTurn: Int32?
    var contextualCache: [LabelSet: [Double]] = [:]
    var temperatures: [LabelSet: Double] = [:]
    private var trieStorage: TokenTrie?
    /// KV snapshots of classification prefixes (a label set's instruction, descriptions and examples), shared
    /// by every runner given the same cache: a label set's prefix is evaluated once and restored afterwards.
    /// Nil when ``TaskOptions/prefixCacheBytes`` is 0 and none was passed (the session still keeps the last
    /// label set's prefix between calls).
    public let prefixCache: PrefixCache?

    /// Creates a runner (allocates the session: KV cache for `options.contextLength` tokens).
    /// - Parameter prefixCache: a cache of prompt-prefix KV states to share with other runners of the same
    ///   model (e.g. parallel workers); nil makes one of ``TaskOptions/prefixCacheBytes`` when that is > 0.
    /// - Throws: ``TasksError/unsupportedModel(_:)`` without a usable chat template; `InferenceError` for bad options.
    public init(model: Model, options: TaskOptions = TaskOptions(), prefixCache: PrefixCache? = nil) throws {
        self.model = model
        self.options = options
        self.prefixCache = prefixCache ?? (options.prefixCacheBytes > 0 ? PrefixCache(capacityBytes: options.prefixCacheBytes) : nil)
        do { template = try ChatTemplate(metadata: model.file.metadata) } catch TokenizerError.noChatTemplate {
            template = ChatTemplate(style: .plainText)   // a base model: plain-text prompts (docs/tasks.md)
        } catch {
            throw TasksError.unsupportedModel("\(error)")
        }
        tokenizer = model.tokenizer
        session = try Session(model: model, options: options.sessionOptions(for: model))
        var eot = tokenizer.eotID
        if eot == nil {
            for text in ["<|im_end|>", "<end_of_turn>"] {
                let ids = tokenizer.encode(text, parseSpecial: true)
                if ids.count == 1 { eot = ids[0]; break }
            }
        }
        endOfTurn = eot ?? tokenizer.eosID
    }

    /// The token trie of the vocabulary (built on first use of `extract`, ≈ 0.1 s for 49k tokens).
    public var tokenTrie: TokenTrie {
        if let t = trieStorage { return t }
        let t = TokenTrie(tokenizer: tokenizer)
        trieStorage = t
        return t
    }

    // MARK: - Prompting

    func chatTokens(system: String?, user: String, assistantPrefix: String = "") -> [Int32] {
        var ids: [Int32] = []
        if tokenizer.addBOS, let bos = tokenizer.bosID { ids.append(bos) }
        ids += tokenizer.encode(template.prompt(user: user, system: system) + assistantPrefix, parseSpecial: true)
        return ids
    }

    /// Evaluates `prompt`, reusing the session's KV state for the longest common prefix; returns a copy of
    /// the last token's logits. At least one token is always evaluated (to produce logits).
    func prefillReusing(_ prompt: [Int32], _ timings: inout TaskTimings) throws -> [Float] {
        guard prompt.count < session.contextLength else {
            throw TasksError.inputTooLong(tokens: prompt.count, contextLength: session.contextLength)
        }
        let have = session.tokens
        var common = 0
        while common < min(have.count, prompt.count - 1), have[common] == prompt[common] { common += 1 }
        session.truncate(to: common)
        let t0 = DispatchTime.now().uptimeNanoseconds
        let logits = Array(try session.prefill(Array(prompt[common...])))
        timings.prefillSeconds += Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        timings.promptTokens += prompt.count - common
        return logits
    }

    // MARK: - Extract

    func extractionPrompt(_ text: String, schema: JSONSchema) -> [Int32] {
        var fields = ""
        if case .object(let props) = schema.kind {
            for p in props {
                fields += "- \(p.name): \(p.schema.typeDescription)"
                if let d = p.schema.description { fields += " — \(d)" }
                if !p.required { fields += " (null if not given)" }
                fields += "\n"
            }
        }
        let system = "Extract information from the user's text as JSON with these fields:\n\(fields)"
            + "Copy values exactly from the text. Reply with the JSON object only."
        return chatTokens(system: system, user: text)
    }

    /// Extracts a JSON value matching `schema` from `text` with constrained decoding: at every step only
    /// tokens that keep the output a valid prefix of a schema-valid document are allowed, so the result
    /// always parses and validates. String fields that come from the text (``TaskOptions/spans``: by default
    /// every string not marked `"x-edgelm-source": "free"` nor named like generated text) only accept tokens
    /// that continue a span of `text`, so their values are copied, never invented (`null`, when the schema
    /// allows it, is the answer for a value the text does not have). Greedy; when `options.maxExtractTokens`
    /// is reached the shortest valid completion closes the document (``Extraction/forcedCompletion``).
    /// - Parameter onPartial: receives the JSON text so far after each token (return false to stop early;
    ///   the document is then closed by the shortest completion).
    /// - Throws: ``TasksError/inputTooLong(tokens:contextLength:)``; schema errors are thrown earlier by ``JSONSchema``.
    /// - Complexity: per token one decode plus the mask: O(1) when the best token is valid, otherwise a
    ///   trie walk over at most every vocabulary byte (measured in `timings.maskSeconds`).
    public func extract(_ text: String, schema: JSONSchema, onPartial: ((String) -> Bool)? = nil) throws -> Extraction {
        let start = DispatchTime.now().uptimeNanoseconds
        let trie = tokenTrie
        var timings = TaskTimings()
        let prompt = extractionPrompt(text, schema: schema)
        guard prompt.count + 8 <= session.contextLength else {
            throw TasksError.inputTooLong(tokens: prompt.count + 8, contextLength: session.contextLength)
        }
        var logits = try prefillReusing(prompt, &timings)
        var state = options.spans == .off ? JSONConstraint(schema: schema, limits: options.jsonLimits)
            : JSONConstraint(schema: schema, limits: options.jsonLimits, source: text, spans: options.spans)
        var out: [UInt8] = []
        var forced = false
        var logProbSum = 0.0
        var steps = 0
        let t1 = DispatchTime.now().uptimeNanoseconds
        var maskNanos: UInt64 = 0
        while !state.isComplete {
            if steps >= options.maxExtractTokens || session.position >= session.contextLength {
                forced = true; break
            }
            let m0 = DispatchTime.now().uptimeNanoseconds
            let choice = Self.constrainedArgmax(logits, trie: trie, state: state)
            maskNanos += DispatchTime.now().uptimeNanoseconds - m0
            guard let (token, prob) = choice else { forced = true; break }
            let piece = trie.pieces[Int(token)]
            let ok = state.advance(piece)
            precondition(ok, "extract: the mask allowed an invalid token")
            out += piece
            logProbSum += prob
            steps += 1
            if let onPartial, !onPartial(String(decoding: out, as: UTF8.self)) { forced = true; break }
            if state.isComplete { break }
            logits = Array(try session.decode(token))
        }
        if !state.isComplete { out += state.completion() }
        timings.generatedTokens = steps
        timings.decodeSeconds = Double(DispatchTime.now().uptimeNanoseconds - t1) / 1e9
        timings.maskSeconds = Double(maskNanos) / 1e9
        let value = try JSONValue.parse(out)
        try schema.validate(value)
        timings.totalSeconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        return Extraction(value: value, text: String(decoding: out, as: UTF8.self), forcedCompletion: forced,
                          confidence: steps > 0 ? logProbSum / Double(steps) : 0, timings: timings)
    }

    /// The best allowed token and its probability among the allowed tokens, or nil when none is allowed.
    /// Fast path: when the unconstrained argmax is allowed it is the constrained argmax too (no trie walk).
    static func constrainedArgmax(_ logits: [Float], trie: TokenTrie, state: JSONConstraint) -> (Int32, Double)? {
        var best = 0
        var bestValue = -Float.infinity
        for (i, v) in logits.enumerated() where v > bestValue { bestValue = v; best = i }
        var allowed: [Int32] = []
        if trie.allows(Int32(best), from: state) {
            allowed = [Int32(best)]
        } else {
            trie.forEachAllowed(from: state) { allowed.append($0) }
            guard !allowed.isEmpty else { return nil }
            best = Int(allowed[0]); bestValue = logits[best]
            for id in allowed where logits[Int(id)] > bestValue { bestValue = logits[Int(id)]; best = Int(id) }
        }
        // Probability of the pick relative to the whole vocabulary (a cheap confidence signal).
        let lse = logSumExp(logits)
        return (Int32(best), exp(Double(bestValue) - lse))
    }

    /// Full mask: every token allowed from `state` (for measurements and sampling).
    public func allowedTokens(from state: JSONConstraint) -> [Int32] {
        var allowed: [Int32] = []
        tokenTrie.forEachAllowed(from: state) { allowed.append($0) }
        return allowed
    }

    // MARK: - Rewrite

    /// Rewrites `text` as `instruction` says (greedy), stopping at the end of the model's turn or after
    /// `maxTokens`.
    /// - Parameter onText: streamed text chunks (return false to stop).
    /// - Throws: ``TasksError/inputTooLong(tokens:contextLength:)`` when prompt + `maxTokens` exceed the
    ///   context (the input is refused, never truncated); ``TasksError/invalidParameter(_:)`` for `maxTokens < 1`.
    public func rewrite(_ text: String, instruction: String, maxTokens: Int = 128,
                        onText: ((String) -> Bool)? = nil) throws -> Rewrite {
        let start = DispatchTime.now().uptimeNanoseconds
        guard maxTokens >= 1 else { throw TasksError.invalidParameter("maxTokens must be ≥ 1, got \(maxTokens)") }
        let system = "Rewrite the user's text as instructed. Reply with the rewritten text only."
        // A base model (plain-text prompts) gets the answer opened for it and ends it with a blank line.
        let plain = template.style == .plainText
        let prompt = chatTokens(system: system, user: "Instruction: \(instruction)\n\nText: \(text)",
                                assistantPrefix: plain ? "Rewritten text:" : "")
        guard prompt.count + maxTokens <= session.contextLength else {
            throw TasksError.inputTooLong(tokens: prompt.count + maxTokens, contextLength: session.contextLength)
        }
        var timings = TaskTimings()
        var logits = try prefillReusing(prompt, &timings)
        let t1 = DispatchTime.now().uptimeNanoseconds
        var decoder = StreamingDecoder(tokenizer: tokenizer)
        var out = ""
        var finished = false
        var steps = 0
        while steps < maxTokens {
            var best = 0
            for i in logits.indices where logits[i] > logits[best] { best = i }
            let token = Int32(best)
            if tokenizer.isEndOfGeneration(token) { finished = true; break }
            steps += 1
            var chunk = decoder.append(token)
            if plain, let end = (out + chunk).dropFirst().range(of: "\n\n") {
                // The blank line ends a plain-text answer: keep (and stream) only what precedes it.
                chunk = String((out + chunk)[..<end.lowerBound].dropFirst(out.count))
                out += chunk
                if let onText, !chunk.isEmpty { _ = onText(chunk) }
                finished = true
                break
            }
            out += chunk
            if let onText, !chunk.isEmpty, !onText(chunk) { break }
            if steps == maxTokens { break }
            logits = Array(try session.decode(token))
        }
        let tail = decoder.finish()
        out += tail
        if let onText, !tail.isEmpty { _ = onText(tail) }
        timings.generatedTokens = steps
        timings.decodeSeconds = Double(DispatchTime.now().uptimeNanoseconds - t1) / 1e9
        timings.totalSeconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        return Rewrite(text: out.trimmingCharacters(in: .whitespacesAndNewlines), finished: finished, timings: timings)
    }

    /// Tokens `text` would occupy inside a task prompt (for routing decisions: does it fit?).
    public func promptTokenCount(_ text: String) -> Int {
        chatTokens(system: nil, user: text).count
    }
}

/// Temperature scaling (Guo et al. 2017) for a fixed set of per-class log-scores.
public enum TemperatureScaling {
    /// The temperature T > 0 minimising Σ −log softmax(scores / T)[target], by golden-section search on log T
    /// over [0.05, 20]. Returns 1 for an empty set.
    public static func fit(_ rows: [(scores: [Double], target: Int)]) -> Double {
        guard !rows.isEmpty else { return 1 }
        func nll(_ logT: Double) -> Double {
            let t = exp(logT)
            var total = 0.0
            for r in rows {
                let z = r.scores.map { $0 / t }
                let m = z.max()!
                let lse = m + log(z.reduce(0) { $0 + exp($1 - m) })
                total += lse - z[r.target]
            }
            return total
        }
        var a = log(0.05), b = log(20.0)
        let g = (sqrt(5.0) - 1) / 2
        var c = b - g * (b - a), d = a + g * (b - a)
        for _ in 0..<60 {
            if nll(c) < nll(d) { b = d } else { a = c }
            c = b - g * (b - a); d = a + g * (b - a)
        }
        return exp((a + b) / 2)
    }
}
