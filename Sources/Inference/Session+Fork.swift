// Sibling sessions: several sequences forked from one evaluated prefix and evaluated together, one weight pass
// per step for all of them (label scoring: every label's continuation of the same prompt at once).

extension Session {
    /// A new, empty session of the same model and options on the same ``ExecutionContext`` (so its work can
    /// share steps with this one's), without the memory-budget check: count its KV cache yourself.
    /// - Throws: the errors of ``init(model:options:)``.
    /// - Memory: a KV cache reservation like this session's (backed page by page as positions fill) and a
    ///   logits buffer that ``evaluateAll(_:_:)`` never writes when the sibling is not the first part.
    public func makeSibling() throws -> Session {
        var o = options
        o.context = context
        o.memoryBudget = nil
        o.prefixCacheBytes = 0
        return try Session(model: model, options: o)
    }

    /// Makes this session hold exactly `source`'s tokens and KV entries, as if it had evaluated them itself:
    /// positions this session already holds with the same tokens as `source` are kept, the others are copied
    /// (the same bytes), so whatever either evaluates next gives bit-identical logits. A fork of a shared
    /// prefix for a sibling (``makeSibling()``): copying the few positions that differ is far cheaper than
    /// evaluating them.
    /// - Throws: ``InferenceError/invalidParameter(_:)`` when `source` is another model, KV type or layout,
    ///   or its sliding-window ring no longer holds positions the copy needs.
    /// - Complexity: O(layers · copied positions · kvDim) plus O(position) to compare tokens; allocates nothing.
    public func copyState(from source: Session) throws {
        guard source !== self else { return }
        guard source.model === model, kv.sameLayout(as: source.kv) else {
            throw InferenceError.invalidParameter("copyState(from:) needs a session of the same model, context, batch size and KV type")
        }
        let n = source.tokens.count
        var common = 0
        let have = tokens.count
        while common < min(have, n), tokens[common] == source.tokens[common] { common += 1 }
        var from = [Int](repeating: 0, count: c.blockCount)
        for l in 0..<c.blockCount {
            let first = c.attentionLayers[l].firstVisible(from: n)
            // Keep our own positions first..<common when our cache still holds them, else copy them too.
            let lo = kvIntactFrom[l] <= first ? max(first, common) : first
            guard source.kvIntactFrom[l] <= min(lo, n) else {
                throw InferenceError.invalidParameter("copyState(from:): layer \(l)'s sliding-window ring no longer holds positions \(lo)..<\(source.kvIntactFrom[l])")
            }
            from[l] = lo
        }
        for l in 0..<c.blockCount where from[l] < n {
            kv.copyPositions(from[l]..<n, layer: l, from: source.kv)
        }
        for l in 0..<c.blockCount { kvIntactFrom[l] = c.attentionLayers[l].firstVisible(from: n) }
        tokens.removeSubrange(common...)
        tokens.append(contentsOf: source.tokens[common..<n])
        discardedTokens = source.discardedTokens
        lastLogitsValid = false
    }

    /// Evaluates each part's input after its session's tokens, with the logits after every input token — as
    /// ``evaluateAll(_:_:)`` on each session one after the other, with the same chunks (at most
    /// ``batchSize`` tokens of one session), but the chunks of different sessions share steps: one pass over
    /// the weights for all of them, as many chunks per step as fit in the first session's ``batchSize`` rows.
    /// Each session's logits are bit-identical to evaluating it alone (``ExecutionContext``). `body(part, i,
    /// logits)` gets the logits after token `i` of part `part`'s input, valid during the call; parts are
    /// reported step by step, each part's tokens in order.
    ///
    /// The logits of a step are written into the first session's logits buffer (its ``batchSize`` rows), so
    /// the other sessions' buffers stay untouched.
    /// - Throws: ``InferenceError/invalidParameter(_:)`` when the sessions are not distinct siblings (same
    ///   model, context and batch size); ``InferenceError/emptyPrompt``; ``InferenceError/invalidToken(_:vocabularySize:)``;
    ///   ``InferenceError/contextOverflow(needed:contextLength:)`` when an input does not fit its session's
    ///   remaining context (whatever the session's ``kvPolicy``: nothing is evaluated then);
    ///   ``InferenceError/cancelled`` between steps when a session's ``shouldStop`` says so.
    /// - Complexity: ⌈Σ rows / batchSize⌉ steps or more (chunks are not split across steps).
    public static func evaluateAll(_ parts: [(session: Session, input: [Int32])],
                                   _ body: (_ part: Int, _ index: Int, _ logits: UnsafeBufferPointer<Float>) throws -> Void) throws {
        guard let first = parts.first?.session else { return }
        for (i, p) in parts.enumerated() {
            let s = p.session
            guard s.context === first.context, s.model === first.model, s.batchSize == first.batchSize else {
                throw InferenceError.invalidParameter("Session.evaluateAll: the sessions must share model, context and batch size (makeSibling())")
            }
            for q in parts[..<i] where q.session === s {
                throw InferenceError.invalidParameter("Session.evaluateAll: a session appears twice")
            }
            guard !p.input.isEmpty else { throw InferenceError.emptyPrompt }
            try s.validate(p.input)
            guard s.tokens.count + p.input.count <= s.contextLength else {
                throw InferenceError.contextOverflow(needed: s.tokens.count + p.input.count, contextLength: s.contextLength)
            }
        }
        if first.context.maxSequences < parts.count || first.context.maxRows < first.batchSize {
            let layout = try Layout(model: first.model, options: first.options)
            first.context.reserve(ForwardPass.Capacity(layout: layout, rows: first.batchSize, segments: parts.count))
        }
        let vocab = first.c.vocabularySize, cap = first.batchSize
        var next = [Int](repeating: 0, count: parts.count)
        // This step's members: part, first input index, tokens, first logits row.
        var members: [(part: Int, start: Int, count: Int, row: Int)] = []
        members.reserveCapacity(parts.count)
        var remaining = parts.count
        while remaining > 0 {
            for p in parts { if let stop = p.session.shouldStop, stop() { throw InferenceError.cancelled } }
            members.removeAll(keepingCapacity: true)
            first.context.runExclusive { pass in
                pass.begin(model: first.model)
                pass.streamer = first.streamer
                var rows = 0
                for (i, p) in parts.enumerated() where next[i] < p.input.count {
                    let n = min(cap, p.input.count - next[i])
                    guard rows + n <= cap, pass.fits(n) else { continue }
                    p.input.withUnsafeBufferPointer { buf in
                        pass.add(p.session.sequence, UnsafeBufferPointer(rebasing: buf[next[i]..<next[i] + n]), logits: .all,
                                 into: first.logitsBuffer + rows * vocab)
                    }
                    members.append((i, next[i], n, rows))
                    rows += n
                }
                pass.run()
            }
            for m in members {
                parts[m.part].session.didEvaluate(m.count, .all)
                parts[m.part].session.lastLogitsValid = false   // its logits are in the first session's buffer
                next[m.part] += m.count
                if next[m.part] == parts[m.part].input.count { remaining -= 1 }
            }
            for m in members {
                for k in 0..<m.count {
                    try body(m.part, m.start + k,
                             UnsafeBufferPointer(start: first.logitsBuffer + (m.row + k) * vocab, count: vocab))
                }
            }
        }
    }
}
