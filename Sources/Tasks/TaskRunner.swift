// Tasks: the local task runner — classify by label likelihood, extract under a JSON-schema constraint,
// rewrite with a capped generation. One model session, reused across calls (shared prompt prefixes are kept).

import EdgeLMEssentials
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
    var biases: [LabelSet: [Double]] = [:]
    /// Sibling sessions of ``session`` for batched label scoring (``TaskOptions/batchedLabels``), made on first
    /// use: the direct half's labels after the first continue on `directForks` (forked from the evaluated
    /// prompt), the channel half's labels each on one of `channelForks`, which keeps the channel prefix and a
    /// label's words, with the logits after them in `channelMids` (a vocabulary row of floats per sibling).
    var directForks: [Session] = []
    var channelForks: [Session] = []
    var channelMids: [ChannelMid?] = []
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
    public convenience init(model: Model, options: TaskOptions = TaskOptions(), prefixCache: PrefixCache? = nil) throws {
        try self.init(session: try Session(model: model, options: options.sessionOptions(for: model)), options: options,
                      prefixCache: prefixCache)
    }

    /// Creates a runner on an existing session (e.g. an ``Engine`` lane's or a batch worker's); the session's
    /// own options (context, KV type, residency, execution context) apply, the task options' session fields
    /// are ignored.
    /// - Throws: ``TasksError/unsupportedModel(_:)`` without a usable chat template.
    public init(session: Session, options: TaskOptions = TaskOptions(), prefixCache: PrefixCache? = nil) throws {
        let model = session.model
        self.model = model
        self.options = options
        self.prefixCache = prefixCache ?? (options.prefixCacheBytes > 0 ? PrefixCache(capacityBytes: options.prefixCacheBytes) : nil)
        do { template = try ChatTemplate(metadata: model.file.metadata) } catch TokenizerError.noChatTemplate {
            template = ChatTemplate(style: .plainText)   // a base model: plain-text prompts (docs/tasks.md)
        } catch {
            throw TasksError.unsupportedModel("\(error)")
        }
        tokenizer = model.tokenizer
        self.session = session
        // The token that closes the assistant's turn in this template (ChatML `<|im_end|>`, Gemma
        // `<end_of_turn>`), not the vocabulary's lowest-numbered end-of-text token (SmolLM2's `eot` resolves to
        // `<|endoftext|>`, which never ends a chat answer).
        var eot: Int32? = nil
        let turnEnd: String? = switch template.style {
        case .chatML: "<|im_end|>"
        case .gemma: "<end_of_turn>"
        case .plainText: nil
        }
        if let turnEnd {
            let ids = tokenizer.encode(turnEnd, parseSpecial: true)
            if ids.count == 1 { eot = ids[0] }
        }
        endOfTurn = eot ?? tokenizer.eotID ?? tokenizer.eosID
    }

    /// The token trie of the vocabulary (``TokenTrie/shared(for:)``: built on first use of `extract` by any runner of
    /// the model, ≈ 0.1 s for 49k tokens).
    public var tokenTrie: TokenTrie {
        if let t = trieStorage { return t }
        let t = TokenTrie.shared(for: session.model)
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

    /// One line naming the fields of an object schema and their types: `name (string), email (string or null: …)`.
    static func fieldList(_ schema: JSONSchema) -> String {
        guard case .object(let props) = schema.kind else { return schema.typeDescription }
        return props.map { p in
            var t: String
            switch p.schema.kind {
            case .string: t = "string"
            case .number: t = "number"
            case .integer: t = "integer"
            case .boolean: t = "true or false"
            case .enumeration(let vs): t = "one of " + vs.map(\.description).joined(separator: ", ")
            case .array(let items, _): t = "list of " + items.typeDescription
            case .object, .anyObject, .any: t = p.schema.typeDescription
            }
            if p.schema.nullable || !p.required { t += " or null" }
            if let d = p.schema.description { t += ": " + d }
            return "\(p.name) (\(t))"
        }.joined(separator: ", ")
    }

    /// The output bytes the prompt already holds (`{` for plain-text prompts).
    var extractionPrimer: [UInt8] { template.style == .plainText ? [UInt8(ascii: "{")] : [] }

    /// Two worked examples of other schemas shown before every extraction (``TaskOptions/extractDemonstrations``;
    /// left out when the prompt would not fit the context with them): values copied from the text, a number,
    /// and `null` for what the text does not say.
    static let extractionDemonstrations: [(fields: String, text: String, json: String)] = [
        ("title (string), author (string), year (integer or null), publisher (string or null)",
         "The Hobbit was written by J. R. R. Tolkien and published in 1937.",
         #"{"title": "The Hobbit", "author": "J. R. R. Tolkien", "year": 1937, "publisher": null}"#),
        ("city (string), temperature (number or null), wind (string or null), date (string or null)",
         "Oslo will reach 4.5 degrees on Friday.",
         #"{"city": "Oslo", "temperature": 4.5, "wind": null, "date": "Friday"}"#),
        ("product (string), size (string or null), store (string or null), price (number or null)",
         "The rain jacket in size M is back in stock at the Bergen store.",
         #"{"product": "rain jacket", "size": "M", "store": "Bergen store", "price": null}"#),
    ]

    /// The extraction prompt: the instruction, the worked examples (a fixed prefix, shared by every schema and
    /// input), then the schema's fields and the text; the JSON follows (the constrained decoder writes it). A
    /// plain-text prompt ends with `JSON: {`: the document's first byte is part of the prompt (``extractionPrimer``).
    func extractionPrompt(_ text: String, schema: JSONSchema, demonstrations: Bool? = nil) -> [Int32] {
        extractionPromptParts(text, schema: schema, demonstrations: demonstrations).tokens
    }

    /// The extraction prompt and the length of its fixed part (instruction and worked examples: the same for
    /// every request, so its KV state is kept in the prefix cache).
    func extractionPromptParts(_ text: String, schema: JSONSchema, demonstrations: Bool? = nil) -> (tokens: [Int32], fixed: Int) {
        let system = "Extract the fields from the text as JSON. Copy values exactly from the text; "
            + "use null when the text does not give a value. Reply with the JSON object only."
        let demos = (demonstrations ?? options.extractDemonstrations) ? Self.extractionDemonstrations : []
        let task = "Fields: \(Self.fieldList(schema))\nText: "
        var ids: [Int32] = []
        if tokenizer.addBOS, let bos = tokenizer.bosID { ids.append(bos) }
        if template.style == .plainText {
            var prefix = system + "\n\n"
            for d in demos { prefix += "Fields: \(d.fields)\nText: \(d.text)\nJSON: \(d.json)\n\n" }
            ids += tokenizer.encode(prefix, parseSpecial: true)
            let fixed = ids.count
            ids += tokenizer.encode(task + text, parseSpecial: false)
            ids += tokenizer.encode("\nJSON: {", parseSpecial: true)
            return (ids, fixed)
        }
        var messages: [ChatMessage] = [.system(system)]
        for d in demos { messages += [.user("Fields: \(d.fields)\nText: \(d.text)"), .assistant(d.json)] }
        let marker = "\u{1}EDGELM-INPUT\u{1}"
        messages.append(.user(marker))
        let rendered = template.render(messages)
        let r = rendered.firstRange(of: marker)!
        ids += tokenizer.encode(String(rendered[..<r.lowerBound]), parseSpecial: true)
        let fixed = ids.count
        ids += tokenizer.encode(task + text, parseSpecial: false)
        ids += tokenizer.encode(String(rendered[r.upperBound...]), parseSpecial: true)
        return (ids, fixed)
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
        var (prompt, fixed) = extractionPromptParts(text, schema: schema)
        if prompt.count + 8 > session.contextLength && options.extractDemonstrations {
            (prompt, fixed) = extractionPromptParts(text, schema: schema, demonstrations: false)   // a small context: without the examples
        }
        guard prompt.count + 8 <= session.contextLength else {
            throw TasksError.inputTooLong(tokens: prompt.count + 8, contextLength: session.contextLength)
        }
        // The instruction and worked examples are the same for every request: kept in the prefix cache.
        if fixed > 0 && fixed < prompt.count { try ensurePrefix(Array(prompt[0..<fixed]), &timings) }
        var logits = try prefillReusing(prompt, &timings)
        var state = JSONConstraint(schema: schema, limits: options.jsonLimits, source: text, spans: options.spans,
                                   types: options.spanTypes, distinct: options.distinctValues)
        if let field = state.unsatisfiableFields.first {
            throw TasksError.schemaViolation(path: "$." + field, reason: "the text has no value matching the field's pattern and the field cannot be null (make it nullable: \"type\": [\"string\", \"null\"])")
        }
        var out: [UInt8] = extractionPrimer
        guard state.advance(out) else { throw TasksError.invalidSchema("the schema's documents do not start with {") }
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
            var branch: ValueBranch? = nil
            if state.atNullableSpanValue {
                maskNanos += DispatchTime.now().uptimeNanoseconds - m0
                branch = try nullOrSpan(logits, state: state, trie: trie, maskNanos: &maskNanos)
            }
            let m1 = DispatchTime.now().uptimeNanoseconds
            let choice = Self.constrainedArgmax(logits, trie: trie, state: state, branch: branch)
            maskNanos += DispatchTime.now().uptimeNanoseconds - m1
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

    /// Which way a nullable span (or typed number) value goes.
    enum ValueBranch { case null, string }

    /// The first byte of a token after any leading spaces (nil for all spaces).
    static func firstNonSpace(_ piece: [UInt8]) -> UInt8? { piece.first { $0 != 0x20 } }

    /// At the start of a nullable span value, `null` or a copied span: the probability of the `null` tokens
    /// against that of the string tokens, where a bare opening quote counts only with the probability the model
    /// then gives to tokens that continue a span of the input (one look-ahead decode, truncated away). So a
    /// value the text does not have — the model opening a quote for an address it would invent — becomes
    /// `null` instead of a forced copy of something else.
    func nullOrSpan(_ logits: [Float], state: JSONConstraint, trie: TokenTrie, maskNanos: inout UInt64) throws -> ValueBranch {
        let m0 = DispatchTime.now().uptimeNanoseconds
        let lse = Self.logSumExp(logits)
        var nullMass = 0.0, stringMass = 0.0
        var quote: Int32? = nil, space: Int32? = nil
        trie.forEachAllowed(from: state) { id in
            let piece = trie.pieces[Int(id)]
            let p = exp(Double(logits[Int(id)]) - lse)
            switch Self.firstNonSpace(piece) {
            case nil:   // the optional space alone (digits are tokens of their own): looked past below
                if space == nil || logits[Int(id)] > logits[Int(space!)] { space = id }
            case UInt8(ascii: "n"): nullMass += p
            case .some(UInt8(ascii: "-")), .some(UInt8(ascii: "0")...UInt8(ascii: "9")): stringMass += p   // a number of the text
            case UInt8(ascii: "\""):
                if piece.last == UInt8(ascii: "\""), piece.filter({ $0 != 0x20 }).count == 1 {
                    if quote == nil || logits[Int(id)] > logits[Int(quote!)] { quote = id }
                } else {
                    stringMass += p
                }
            default: break
            }
        }
        maskNanos += DispatchTime.now().uptimeNanoseconds - m0
        if let q = quote, session.position < session.contextLength {
            let base = session.position
            let next = Array(try session.decode(q))
            session.truncate(to: base)
            let m1 = DispatchTime.now().uptimeNanoseconds
            var after = state
            _ = after.advance(trie.pieces[Int(q)])
            let lse2 = Self.logSumExp(next)
            var copied = 0.0
            trie.forEachAllowed(from: after) { id in copied += exp(Double(next[Int(id)]) - lse2) }
            stringMass += exp(Double(logits[Int(q)]) - lse) * copied
            maskNanos += DispatchTime.now().uptimeNanoseconds - m1
        }
        if let sp = space, session.position < session.contextLength {
            // The space token leads to either: its probability is split as the model then splits it.
            let base = session.position
            let next = Array(try session.decode(sp))
            session.truncate(to: base)
            let m1 = DispatchTime.now().uptimeNanoseconds
            var after = state
            _ = after.advance(trie.pieces[Int(sp)])
            let lse2 = Self.logSumExp(next)
            var n2 = 0.0, v2 = 0.0
            trie.forEachAllowed(from: after) { id in
                let p = exp(Double(next[Int(id)]) - lse2)
                if Self.firstNonSpace(trie.pieces[Int(id)]) == UInt8(ascii: "n") { n2 += p } else { v2 += p }
            }
            let ps = exp(Double(logits[Int(sp)]) - lse)
            if n2 + v2 > 0 { nullMass += ps * n2 / (n2 + v2); stringMass += ps * v2 / (n2 + v2) }
            maskNanos += DispatchTime.now().uptimeNanoseconds - m1
        }
        return nullMass >= stringMass ? .null : .string
    }

    /// The best allowed token (on `branch` when given) and its probability, or nil when none is allowed.
    /// Fast path: when the unconstrained argmax is allowed it is the constrained argmax too (no trie walk).
    static func constrainedArgmax(_ logits: [Float], trie: TokenTrie, state: JSONConstraint,
                                  branch: ValueBranch? = nil) -> (Int32, Double)? {
        func onBranch(_ id: Int32) -> Bool {
            guard let branch else { return true }
            let first = firstNonSpace(trie.pieces[Int(id)])
            return branch == .null ? first == UInt8(ascii: "n") : first != UInt8(ascii: "n")
        }
        var best = 0
        var bestValue = -Float.infinity
        for (i, v) in logits.enumerated() where v > bestValue { bestValue = v; best = i }
        var allowed: [Int32] = []
        if trie.allows(Int32(best), from: state) && onBranch(Int32(best)) {
            allowed = [Int32(best)]
        } else {
            trie.forEachAllowed(from: state) { if onBranch($0) { allowed.append($0) } }
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
            if plain, let end = (out + chunk).dropFirst().firstRange(of: "\n\n") {
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
        return Rewrite(text: out.trimmingWhitespace(), finished: finished, timings: timings)
    }

    /// Tokens `text` would occupy inside a task prompt (for routing decisions: does it fit?).
    public func promptTokenCount(_ text: String) -> Int {
        chatTokens(system: nil, user: text).count
    }
}

/// Per-label bias calibration: additive biases b on per-class log-scores s (softmax(s + b)) fitted to labelled
/// rows — the bias half of vector scaling (Guo et al. 2017), for label sets whose answers lean towards one label.
public enum BiasCalibration {
    /// The biases minimising the mean of −log softmax(scores + b)[target] plus `regularization` · Σ b² (which keeps
    /// them finite when the rows are separable and pulls labels without rows to 0), by gradient descent (the
    /// objective is convex); centred to sum 0. Returns zeros for an empty set.
    public static func fit(_ rows: [(scores: [Double], target: Int)], count: Int, regularization: Double = 0.1) -> [Double] {
        var b = [Double](repeating: 0, count: count)
        guard !rows.isEmpty, count > 1 else { return b }
        let step = 1 / (0.5 + 2 * regularization)
        var grad = [Double](repeating: 0, count: count)
        for _ in 0..<2000 {
            for i in 0..<count { grad[i] = 2 * regularization * b[i] }
            for r in rows {
                let z = (0..<count).map { r.scores[$0] + b[$0] }
                let m = z.max()!
                let e = z.map { exp($0 - m) }
                let s = e.reduce(0, +)
                for i in 0..<count { grad[i] += (e[i] / s - (i == r.target ? 1 : 0)) / Double(rows.count) }
            }
            for i in 0..<count { b[i] -= step * grad[i] }
        }
        let mean = b.reduce(0, +) / Double(count)
        return b.map { $0 - mean }
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
