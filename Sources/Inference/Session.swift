import EdgeLMEssentials
import GGUF
import Kernels
import Tokenizers
import DeviceProfiles

/// Options fixed when a ``Session`` is created (they size its buffers).
public struct SessionOptions: Sendable {
    /// Tokens of context the KV cache holds. `nil`: the model's trained context, capped at 4096.
    public var contextLength: Int?
    /// Tokens evaluated per prefill step (matrix–matrix kernels); larger uses more scratch memory.
    public var batchSize: Int
    /// Compute threads, including the caller's.
    public var threads: Int
    /// Where the weights live while the session runs (``WeightResidency/streamed`` releases each layer's pages
    /// after use; the logits are identical either way).
    public var residency: WeightResidency
    /// When set, ``Session/init(model:options:)`` throws ``MemoryBudgetError/exceeds(needed:cap:suggestion:)``
    /// unless ``Session/memoryRequirement(model:options:)`` fits the cap.
    public var memoryBudget: MemoryBudget?
    /// Element type of the KV cache: ``KVCacheType/f16`` (default; llama.cpp's numerics to the bit) or a
    /// quantized type with its own attention path (see docs/memory.md for the measured fidelity).
    public var kvType: KVCacheType
    /// What happens when an input does not fit the remaining context (default: refuse with
    /// ``InferenceError/contextOverflow(needed:contextLength:)``).
    public var kvPolicy: KVCachePolicy
    /// Bytes of a ``PrefixCache`` this session is expected to fill (counted against ``memoryBudget``;
    /// share the sum over the sessions of one cache).
    public var prefixCacheBytes: Int
    /// The pool and step scratch the session runs on, shared with other sessions (their work is batched
    /// together). nil: the process-wide ``ExecutionContext/shared(threads:)`` context for ``threads``.
    public var context: ExecutionContext?

    public init(contextLength: Int? = nil, batchSize: Int = 64, threads: Int = ProcessInfo.processInfo.activeProcessorCount,
                residency: WeightResidency = .resident, memoryBudget: MemoryBudget? = nil,
                kvType: KVCacheType = .f16, kvPolicy: KVCachePolicy = .refuse, prefixCacheBytes: Int = 0,
                context: ExecutionContext? = nil) {
        self.context = context
        self.contextLength = contextLength
        self.batchSize = batchSize
        self.threads = threads
        self.residency = residency
        self.memoryBudget = memoryBudget
        self.kvType = kvType
        self.kvPolicy = kvPolicy
        self.prefixCacheBytes = prefixCacheBytes
    }
}

/// Which positions of an evaluated batch produce logits.
public enum LogitsMode: Sendable { case none, last, all }

/// One conversation with a ``Model``: its sequence's KV cache and tokens, its context policy and its logits,
/// evaluated on an ``ExecutionContext`` it shares with other sessions.
///
/// The forward graph is the model's architecture's (`Architectures/<Arch>.swift`), run by the context's step
/// (`ForwardPass`). Sessions of one context that evaluate at the same time are batched into one step
/// (``ExecutionContext``); each gets exactly the logits it would get alone.
///
/// Everything is allocated (reserved) in `init`; ``prefill(_:)`` and ``decode(_:)`` allocate nothing.
/// - Memory: KV cache `2 · Σ_layers positions · kvDim · 2` bytes (f16; q8_0 ≈ 0.53×, q4_0 ≈ 0.28×) where a
///   global layer keeps the whole context and a sliding-window layer a ring of its window plus one batch,
///   reserved up front and backed by the OS page by page as positions fill (``KVCache``), plus its logits
///   (`batchSize · vocab · 4` bytes reserved, one row resident when decoding); the context holds the
///   `batchSize · (4·dim + 2·qDim + 2·kvDim + 2·ffn + vocab) · 4` bytes of step scratch, shared.
/// - Not thread-safe: use one session per thread; sessions share the model and the context.
public final class Session {
    public let model: Model
    public let contextLength: Int
    public let batchSize: Int
    /// The context the session runs on.
    public let context: ExecutionContext
    public var threads: Int { context.threads }
    /// Element type of the KV cache.
    public var kvType: KVCacheType { kv.type }
    /// What happens when the context is full.
    public let kvPolicy: KVCachePolicy
    /// Bytes of the KV cache's reservation the OS holds resident now: grows a page (`pageLen` positions of
    /// a layer) at a time as positions fill, shrinks with ``releaseUnusedMemory()``. Measured with
    /// `mincore`, so it is this session's alone, whatever else the process runs.
    /// - Complexity: O(reserved OS pages); allocates a byte per OS page (not for the hot loop).
    public var kvResidentBytes: Int { kv.residentBytes }
    /// Bytes of the KV cache's reservation (all it can ever keep resident).
    public var kvReservedBytes: Int { kv.totalBytes }
    /// Tokens evaluated so far (the KV cache holds exactly these; after a context shift or sliding-window
    /// eviction, the kept ones, at positions `0..<tokens.count`).
    public internal(set) var tokens: [Int32] {
        get { sequence.tokens }
        _modify { yield &sequence.tokens }
        set { sequence.tokens = newValue }
    }
    /// Tokens dropped from the cache by ``kvPolicy`` (or ``discard(_:)``) since the last ``reset()``.
    public internal(set) var discardedTokens = 0
    /// Whether `logitsBuffer` row `lastLogitsRow` holds the logits after the last token (for snapshots).
    var lastLogitsValid = false
    var lastLogitsRow = 0
    public var position: Int { tokens.count }
    /// Not API: called with named intermediate activations of each forward pass (llama.cpp's tensor names,
    /// e.g. "attn_norm-0"), for layer-by-layer comparison with the reference implementation.
    public var _debugTap: ((String, UnsafeBufferPointer<Float>) -> Void)? {
        get { request.debugTap }
        set { request.debugTap = newValue }
    }

    /// Checked between the chunks of ``prefill(_:)`` / ``evaluateAll(_:_:)`` (which then throw
    /// ``InferenceError/cancelled``, keeping the chunks already evaluated) and between generated tokens
    /// (generation then ends with ``StopReason/cancelled``). How an ``Engine`` stops a cancelled request.
    public var shouldStop: (() -> Bool)?

    let c: ModelConfig
    /// The options the session was created with (a ``makeSibling()`` gets the same, without the budget).
    let options: SessionOptions
    /// This session's sequence: KV cache, tokens (`kv`, `kvIntactFrom` below are its).
    let sequence: SequenceState
    /// The session's request to its context, reused by every step.
    let request: StepRequest
    var kv: KVCache { sequence.kv }
    /// Per layer, the lowest position whose K and V the cache still holds.
    var kvIntactFrom: [Int] {
        get { sequence.kvIntactFrom }
        _modify { yield &sequence.kvIntactFrom }
        set { sequence.kvIntactFrom = newValue }
    }
    let ctxPad: Int                                       // ctx rounded up to 32 (attention reads whole chunks)
    let ropeTmp: UnsafeMutablePointer<Float>              // (ropeDim + kvDim) re-rotation scratch
    let logitsBuffer: UnsafeMutablePointer<Float>         // (batch, vocab)
    /// Page releaser of ``WeightResidency/streamed`` sessions (nil when resident).
    let streamer: WeightStreamer?

    /// The sizes of every buffer `init` allocates (one function, so ``memoryRequirement(model:options:)``
    /// cannot drift from the real allocations). Float counts unless named otherwise.
    struct Layout {
        var ctx: Int, batch: Int, ctxPad: Int, attnTasksPerHead: Int, attnTasks: Int
        var kvCapacities: [Int] // positions each layer's KV keeps
        var kvBytes: Int        // bytes of the KV cache reservation (K and V, all layers)
        var x: Int, xn: Int, q: Int, k: Int, v: Int, attn: Int, proj: Int, gate: Int, up: Int
        var scores: Int, logits: Int, ropeCache: Int, kvTmp: Int, ropeTmp: Int
        var actQBytes: Int
        var q16Halfs: Int, p16Halfs: Int

        /// Bytes of every other buffer.
        var scratchBytes: Int {
            let floats = x + xn + q + k + v + attn + proj + gate + up + scores + logits + ropeCache + kvTmp + ropeTmp
            return floats * MemoryLayout<Float>.stride + actQBytes + (q16Halfs + p16Halfs) * MemoryLayout<Float16>.stride
        }

        init(model: Model, options: SessionOptions) throws {
            let c = model.config
            let ctx = options.contextLength ?? min(c.contextLength, 4096)
            guard ctx > 0 else { throw InferenceError.invalidParameter("context length must be positive, got \(ctx)") }
            let trained = c.maximumContextLength(file: model.file)
            guard ctx <= trained else {
                throw InferenceError.invalidParameter("context length \(ctx) exceeds the model's context of \(trained) tokens")
            }
            guard options.batchSize > 0 else { throw InferenceError.invalidParameter("batch size must be positive") }
            guard options.threads > 0, options.threads <= 256 else {
                throw InferenceError.invalidParameter("threads must be in 1…256, got \(options.threads)")
            }
            self.ctx = ctx
            let b = min(options.batchSize, ctx)
            batch = b
            ctxPad = KVCache.paddedContext(ctx)
            if options.kvType != .f16 {
                guard c.headDim % 32 == 0 else {
                    throw InferenceError.invalidParameter("KV type \(options.kvType.rawValue) needs a head size that is a multiple of 32 (this model's is \(c.headDim)); use --kv-type f16")
                }
            }
            kvCapacities = ModelConfig.kvCapacities(windows: c.slidingWindows, contextLength: ctx, batch: b)
            kvBytes = KVCache.bytes(type: options.kvType, kvDim: c.kvDim, capacities: kvCapacities)
            actQBytes = model.weights.allMatrices.reduce(0) { max($0, MatMul.activationBytes(for: $1, tokens: b)) }
            attnTasksPerHead = max(1, min(b, 2 * options.threads))
            let tasks = c.headCount * attnTasksPerHead
            attnTasks = tasks
            x = b * c.embeddingLength; xn = x; proj = x
            q = b * c.qDim; attn = q
            k = b * c.kvDim; v = k
            gate = b * c.feedForwardLength; up = gate
            scores = tasks * ctxPad
            logits = b * c.vocabularySize
            ropeCache = b * c.ropeDimensionCount
            kvTmp = options.kvType == .f16 ? 0 : tasks * 2 * c.headDim
            ropeTmp = c.ropeDimensionCount + c.kvDim
            q16Halfs = tasks * c.headDim
            p16Halfs = tasks * ctxPad
        }
    }

    /// What a session with `options` would keep resident, without creating it. The KV cache and scratch are
    /// the exact byte counts `init` allocates; weights, tokenizer, threads and runtime are estimates
    /// (see ``MemoryBreakdown``).
    /// - Throws: ``InferenceError/invalidParameter(_:)`` like `init`.
    /// - Complexity: O(layers).
    public static func memoryRequirement(model: Model, options: SessionOptions) throws -> MemoryBreakdown {
        let layout = try Layout(model: model, options: options)
        let weights = options.residency == .resident
            ? model.weightBytes
            : WeightStreamer.window(model: model)
        return MemoryBreakdown(weights: weights, kvCache: layout.kvBytes, scratch: layout.scratchBytes,
                               tokenizer: MemoryBreakdown.tokenizerEstimate(model: model),
                               threadStacks: MemoryBreakdown.threadEstimate(model: model, threads: options.threads, batch: layout.batch),
                               runtime: options.memoryBudget?.runtimeBytes ?? MemoryBudget.defaultRuntimeBytes,
                               prefixCache: options.prefixCacheBytes)
    }

    /// Creates a session and allocates all of its memory.
    /// - Throws: ``InferenceError/invalidParameter(_:)`` for a non-positive context, batch or thread count;
    ///   ``MemoryBudgetError/exceeds(needed:cap:suggestion:)`` when `options.memoryBudget` is set and the
    ///   session would not fit it (nothing is allocated then).
    public init(model: Model, options: SessionOptions = SessionOptions()) throws {
        let c = model.config
        let layout = try Layout(model: model, options: options)
        if let budget = options.memoryBudget { try budget.check(model: model, options: options) }
        let ctx = layout.ctx
        self.model = model
        self.c = c
        self.options = options
        self.contextLength = ctx
        self.batchSize = layout.batch
        self.kvPolicy = options.kvPolicy
        guard options.kvPolicy.keptPrefix < ctx else {
            throw InferenceError.invalidParameter("KV policy \(options.kvPolicy) keeps \(options.kvPolicy.keptPrefix) tokens but the context holds only \(ctx)")
        }
        let kv = try KVCache(type: options.kvType, kvDim: c.kvDim, ctxPad: layout.ctxPad, capacities: layout.kvCapacities)
        sequence = SequenceState(kv: kv, layers: c.blockCount, contextLength: ctx)
        context = options.context ?? ExecutionContext.shared(threads: options.threads)
        context.reserve(ForwardPass.Capacity(layout: layout, rows: layout.batch, segments: 1))
        ctxPad = layout.ctxPad
        // Not pre-touched: (batch, vocab) is 12–25 MB for SmolLM2, but only row 0 is written unless a caller asks
        // for every position's logits, and untouched pages of this large allocation never become resident.
        logitsBuffer = .allocate(capacity: layout.logits)
        ropeTmp = .allocate(capacity: layout.ropeTmp)
        ropeTmp.initialize(repeating: 0, count: layout.ropeTmp)
        streamer = options.residency == .streamed ? WeightStreamer(model: model) : nil
        request = StepRequest(model: model, sequence: sequence, destination: logitsBuffer, streamer: streamer)
    }

    deinit {
        context.leave(sequence)
        logitsBuffer.deallocate(); ropeTmp.deallocate()
    }

    /// Forgets every token (the KV cache is overwritten lazily; its pages stay resident, see
    /// ``releaseUnusedMemory()``).
    public func reset() {
        tokens.removeAll(keepingCapacity: true); discardedTokens = 0; lastLogitsValid = false
        for l in kvIntactFrom.indices { kvIntactFrom[l] = 0 }
    }

    /// Returns the KV cache pages past the current position to the OS (resident memory shrinks to what the
    /// evaluated tokens use). - Complexity: one `madvise` per layer.
    public func releaseUnusedMemory() { kv.releasePages(from: tokens.count) }

    /// Drops tokens after the first `count` (keeps their KV entries), e.g. to reuse a shared prompt prefix.
    ///
    /// On a model with sliding-window layers, positions older than a ring's capacity were overwritten; when
    /// the next token would need them, the kept tokens are evaluated again (as llama.cpp re-processes the
    /// prompt), so what follows is exactly what a fresh session would compute.
    /// - Complexity: O(1), or one prefill of `count` tokens in that case.
    public func truncate(to count: Int) {
        precondition(count >= 0 && count <= tokens.count, "truncate(to:) beyond the evaluated tokens")
        if count < tokens.count { lastLogitsValid = false }
        tokens.removeSubrange(count...)
        guard !kvHoldsWindow(at: count) else { return }
        let kept = tokens, dropped = discardedTokens
        reset()
        discardedTokens = dropped
        var start = 0
        while start < kept.count {
            let n = min(batchSize, kept.count - start)
            kept.withUnsafeBufferPointer { forward(UnsafeBufferPointer(rebasing: $0[start..<start + n]), logits: .none) }
            start += n
        }
    }

    /// Whether every layer still holds the positions a token at `position` attends to.
    func kvHoldsWindow(at position: Int) -> Bool {
        for (l, from) in kvIntactFrom.enumerated() where from > 0 {
            if from > c.attentionLayers[l].firstVisible(from: position) { return false }
        }
        return true
    }

    /// Evaluates `input` after the tokens already in the session and returns the logits of its last token.
    /// The buffer is the session's own: valid until the next call, and only while the session is alive
    /// (keep a reference, e.g. `withExtendedLifetime(session)`, while reading it).
    /// - Throws: ``InferenceError/contextOverflow(needed:contextLength:)``, ``InferenceError/invalidToken(_:vocabularySize:)``.
    /// - Complexity: O(n · weights + n · position · dim) with n = input.count.
    @discardableResult
    public func prefill(_ input: [Int32]) throws -> UnsafeBufferPointer<Float> {
        guard !input.isEmpty else { throw InferenceError.emptyPrompt }
        try validate(input)
        var start = 0
        while start < input.count {
            if let stop = shouldStop, stop() { throw InferenceError.cancelled }
            let n = min(batchSize, input.count - start)
            let last = start + n == input.count
            try makeRoom(for: n)
            input.withUnsafeBufferPointer { buf in
                forward(UnsafeBufferPointer(rebasing: buf[start..<start + n]), logits: last ? .last : .none)
            }
            start += n
        }
        return UnsafeBufferPointer(start: logitsBuffer, count: c.vocabularySize)
    }

    /// Evaluates one token and returns its logits (valid until the next call). Allocates nothing.
    @discardableResult
    public func decode(_ token: Int32) throws -> UnsafeBufferPointer<Float> {
        if let stop = shouldStop, stop() { throw InferenceError.cancelled }
        try validate(CollectionOfOne(token))
        try makeRoom(for: 1)
        withUnsafePointer(to: token) { p in forward(UnsafeBufferPointer(start: p, count: 1), logits: .last) }
        return UnsafeBufferPointer(start: logitsBuffer, count: c.vocabularySize)
    }

    /// Evaluates `input` and calls `body(i, logits)` with the logits after each input token `i`
    /// (for perplexity and scoring). The buffer passed to `body` is only valid during the call.
    public func evaluateAll(_ input: [Int32], _ body: (Int, UnsafeBufferPointer<Float>) throws -> Void) throws {
        guard !input.isEmpty else { throw InferenceError.emptyPrompt }
        try validate(input)
        var start = 0
        while start < input.count {
            if let stop = shouldStop, stop() { throw InferenceError.cancelled }
            let n = min(batchSize, input.count - start)
            try makeRoom(for: n)
            input.withUnsafeBufferPointer { buf in
                forward(UnsafeBufferPointer(rebasing: buf[start..<start + n]), logits: .all)
            }
            for i in 0..<n {
                try body(start + i, UnsafeBufferPointer(start: logitsBuffer + i * c.vocabularySize, count: c.vocabularySize))
            }
            start += n
        }
    }

    /// Refuse policy: the whole input must fit up front (nothing is evaluated otherwise). Other policies make
    /// room batch by batch (``makeRoom(for:)``).
    func validate<C: Collection>(_ input: C) throws where C.Element == Int32 {
        let needed = tokens.count + input.count
        if kvPolicy == .refuse, needed > contextLength {
            throw InferenceError.contextOverflow(needed: needed, contextLength: contextLength)
        }
        for t in input where t < 0 || Int(t) >= c.vocabularySize {
            throw InferenceError.invalidToken(t, vocabularySize: c.vocabularySize)
        }
    }

    // MARK: - Forward pass

    /// Evaluates `ids` (at most `batchSize`, already validated) at positions `position ..< position + ids.count`
    /// in a step of the session's context (possibly together with other sessions' work), appends them to
    /// `tokens`, fills `logitsBuffer` per `logits`.
    func forward(_ ids: UnsafeBufferPointer<Int32>, logits mode: LogitsMode) {
        request.ids = ids
        request.logits = mode
        context.evaluate(request)
        didEvaluate(ids.count, mode)
    }

    func didEvaluate(_ count: Int, _ mode: LogitsMode) {
        lastLogitsValid = mode != .none
        lastLogitsRow = mode == .all ? count - 1 : 0
    }

    /// Evaluates one chunk of each of several sessions of one context and model in exactly one step (the batch
    /// compositions the tests prove bit-identical to evaluating each alone). Inputs must be valid and fit.
    static func evaluateTogether(_ parts: [(session: Session, ids: [Int32], logits: LogitsMode)]) {
        guard let first = parts.first?.session else { return }
        first.context.runExclusive { pass in
            pass.begin(model: first.model)
            for p in parts {
                precondition(p.session.context === first.context && p.session.model === first.model)
                p.ids.withUnsafeBufferPointer { pass.add(p.session.sequence, $0, logits: p.logits, into: p.session.logitsBuffer) }
            }
            pass.run()
        }
        for p in parts { p.session.didEvaluate(p.ids.count, p.logits) }
    }

    /// Tells the context this session will not evaluate again soon (e.g. its generation ended), so steps of
    /// other sessions do not wait for it. Optional: evaluating again is always allowed.
    public func pause() { context.leave(sequence) }
}
