import Foundation
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

    public init(contextLength: Int? = nil, batchSize: Int = 64, threads: Int = ProcessInfo.processInfo.activeProcessorCount,
                residency: WeightResidency = .resident, memoryBudget: MemoryBudget? = nil,
                kvType: KVCacheType = .f16, kvPolicy: KVCachePolicy = .refuse, prefixCacheBytes: Int = 0) {
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

/// The mutable state of one conversation with a ``Model``: the KV cache, scratch buffers, the position.
///
/// Everything is allocated (reserved) in `init`; ``prefill(_:)`` and ``decode(_:)`` allocate nothing.
/// - Memory: KV cache `2 · layers · contextLength · kvDim · 2` bytes (f16; q8_0 ≈ 0.53×, q4_0 ≈ 0.28×),
///   reserved up front and backed by the OS page by page as positions fill (``KVCache``), plus
///   `batchSize · (4·dim + 2·qDim + 2·kvDim + 2·ffn + vocab) · 4` bytes of scratch.
/// - Not thread-safe: use one session per thread; sessions share the model.
public final class Session {
    public let model: Model
    public let contextLength: Int
    public let batchSize: Int
    public var threads: Int { pool.threadCount }
    /// Element type of the KV cache.
    public var kvType: KVCacheType { kv.type }
    /// What happens when the context is full.
    public let kvPolicy: KVCachePolicy
    /// Bytes of the KV cache's reservation the OS holds resident now: grows a page (`pageLen` positions of
    /// every layer) at a time as positions fill, shrinks with ``releaseUnusedMemory()``. Measured with
    /// `mincore`, so it is this session's alone, whatever else the process runs.
    /// - Complexity: O(reserved OS pages); allocates a byte per OS page (not for the hot loop).
    public var kvResidentBytes: Int { kv.residentBytes }
    /// Tokens evaluated so far (the KV cache holds exactly these; after a context shift or sliding-window
    /// eviction, the kept ones, at positions `0..<tokens.count`).
    public internal(set) var tokens: [Int32]
    /// Tokens dropped from the cache by ``kvPolicy`` (or ``discard(_:)``) since the last ``reset()``.
    public internal(set) var discardedTokens = 0
    /// Whether `logitsBuffer` row `lastLogitsRow` holds the logits after the last token (for snapshots).
    var lastLogitsValid = false
    var lastLogitsRow = 0
    public var position: Int { tokens.count }
    /// Not API: called with named intermediate activations of each forward pass (llama.cpp's tensor names,
    /// e.g. "attn_norm-0"), for layer-by-layer comparison with the reference implementation.
    public var _debugTap: ((String, UnsafeBufferPointer<Float>) -> Void)?

    let pool: ThreadPool
    let c: ModelConfig
    let w: TransformerWeights
    private let embeddingRowBytes: Int

    /// KV cache: paged, f16 `K (ctxPad, kvDim)` and transposed `V (kvDim, ctxPad)` per layer, or quantized rows.
    let kv: KVCache
    let ctxPad: Int                                       // ctx rounded up to 32 (attention reads whole chunks)
    let kvTmp: UnsafeMutablePointer<Float>        // (attnTasks, 2·headDim) quantized-KV attention rows
    let ropeTmp: UnsafeMutablePointer<Float>              // (ropeDim + kvDim) re-rotation scratch
    private let q16: UnsafeMutablePointer<Float16>        // (attnTasks, headDim) query in f16
    private let p16: UnsafeMutablePointer<Float16>        // (attnTasks, ctxPad) attention weights in f16
    // Activations for one batch.
    let x: UnsafeMutablePointer<Float>            // (batch, dim)   residual stream
    let xn: UnsafeMutablePointer<Float>           // (batch, dim)   normalised input of a sub-layer
    let q: UnsafeMutablePointer<Float>            // (batch, qDim)
    private let k: UnsafeMutablePointer<Float>            // (batch, kvDim)
    private let v: UnsafeMutablePointer<Float>            // (batch, kvDim)
    let attn: UnsafeMutablePointer<Float>         // (batch, qDim)  attention output before wo
    private let proj: UnsafeMutablePointer<Float>         // (batch, dim)   wo / down output
    private let gate: UnsafeMutablePointer<Float>         // (batch, ffn)
    private let up: UnsafeMutablePointer<Float>           // (batch, ffn)
    private let actQ: UnsafeMutableRawPointer             // (batch, max cols) activations in a vec-dot type
    private let actQBytes: Int
    let scores: UnsafeMutablePointer<Float>       // (attnTasks, ctx)
    let attnTasksPerHead: Int
    let logitsBuffer: UnsafeMutablePointer<Float> // (batch, vocab)
    private let ropeCache: UnsafeMutablePointer<Float>    // (batch, ropeDim) cos/sin pairs per position
    /// Page releaser of ``WeightResidency/streamed`` sessions (nil when resident).
    private let streamer: WeightStreamer?

    /// The sizes of every buffer `init` allocates (one function, so ``memoryRequirement(model:options:)``
    /// cannot drift from the real allocations).
    struct Layout {
        var ctx: Int, batch: Int, ctxPad: Int, attnTasksPerHead: Int
        var kvBytes: Int        // bytes of the KV cache reservation (K and V, all layers)
        var floats: [Int]       // x, xn, q, k, v, attn, proj, gate, up, scores, logits, rope, kvTmp, ropeTmp
        var actQBytes: Int
        var q16Halfs: Int, p16Halfs: Int

        /// Bytes of every other buffer.
        var scratchBytes: Int {
            floats.reduce(0, +) * MemoryLayout<Float>.stride + actQBytes + (q16Halfs + p16Halfs) * MemoryLayout<Float16>.stride
        }

        init(model: Model, options: SessionOptions) throws {
            let c = model.config, w = model.weights
            let ctx = options.contextLength ?? min(c.contextLength, 4096)
            guard ctx > 0 else { throw InferenceError.invalidParameter("context length must be positive, got \(ctx)") }
            guard options.batchSize > 0 else { throw InferenceError.invalidParameter("batch size must be positive") }
            guard options.threads > 0, options.threads <= 256 else {
                throw InferenceError.invalidParameter("threads must be in 1…256, got \(options.threads)")
            }
            self.ctx = ctx
            let b = min(options.batchSize, ctx)
            batch = b
            ctxPad = (ctx + 31) / 32 * 32
            if options.kvType != .f16 {
                guard c.headDim % 32 == 0 else {
                    throw InferenceError.invalidParameter("KV type \(options.kvType.rawValue) needs a head size that is a multiple of 32 (this model's is \(c.headDim)); use --kv-type f16")
                }
            }
            kvBytes = KVCache.bytes(type: options.kvType, layers: c.blockCount, kvDim: c.kvDim, ctxPad: ctxPad)
            var maxAct = MatMul.activationBytes(for: w.output, tokens: b)
            for l in w.layers {
                for m in [l.wq, l.wk, l.wv, l.wo, l.gate, l.up, l.down] {
                    maxAct = max(maxAct, MatMul.activationBytes(for: m, tokens: b))
                }
            }
            actQBytes = maxAct
            attnTasksPerHead = max(1, min(b, 2 * options.threads))
            let tasks = c.headCount * attnTasksPerHead
            floats = [b * c.embeddingLength, b * c.embeddingLength, b * c.qDim, b * c.kvDim, b * c.kvDim, b * c.qDim,
                      b * c.embeddingLength, b * c.feedForwardLength, b * c.feedForwardLength,
                      tasks * ctxPad, b * c.vocabularySize, b * c.ropeDimensionCount,
                      options.kvType == .f16 ? 0 : tasks * 2 * c.headDim,
                      c.ropeDimensionCount + c.kvDim]
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
        self.w = model.weights
        self.contextLength = ctx
        self.batchSize = layout.batch
        self.kvPolicy = options.kvPolicy
        guard options.kvPolicy.keptPrefix < ctx else {
            throw InferenceError.invalidParameter("KV policy \(options.kvPolicy) keeps \(options.kvPolicy.keptPrefix) tokens but the context holds only \(ctx)")
        }
        self.kv = try KVCache(type: options.kvType, layers: c.blockCount, kvDim: c.kvDim, ctxPad: layout.ctxPad)
        self.pool = ThreadPool(threads: options.threads)
        self.tokens = []
        self.tokens.reserveCapacity(ctx)
        let e = model.weights.tokenEmbedding
        self.embeddingRowBytes = e.byteCount / c.vocabularySize

        ctxPad = layout.ctxPad
        func floats(_ n: Int) -> UnsafeMutablePointer<Float> {
            let p = UnsafeMutablePointer<Float>.allocate(capacity: n); p.initialize(repeating: 0, count: n); return p
        }
        x = floats(layout.floats[0])
        xn = floats(layout.floats[1])
        q = floats(layout.floats[2])
        k = floats(layout.floats[3])
        v = floats(layout.floats[4])
        attn = floats(layout.floats[5])
        proj = floats(layout.floats[6])
        gate = floats(layout.floats[7])
        up = floats(layout.floats[8])
        actQBytes = layout.actQBytes
        actQ = .allocate(byteCount: actQBytes, alignment: 64)
        attnTasksPerHead = layout.attnTasksPerHead
        scores = floats(layout.floats[9])
        q16 = .allocate(capacity: layout.q16Halfs); q16.initialize(repeating: 0, count: layout.q16Halfs)
        p16 = .allocate(capacity: layout.p16Halfs); p16.initialize(repeating: 0, count: layout.p16Halfs)
        // Not pre-touched: (batch, vocab) is 12–25 MB for SmolLM2, but only row 0 is written unless a caller asks
        // for every position's logits, and untouched pages of this large allocation never become resident.
        logitsBuffer = .allocate(capacity: layout.floats[10])
        ropeCache = floats(layout.floats[11])
        kvTmp = floats(max(1, layout.floats[12]))
        ropeTmp = floats(max(1, layout.floats[13]))
        streamer = options.residency == .streamed ? WeightStreamer(model: model) : nil
    }

    deinit {
        q16.deallocate(); p16.deallocate()
        for p in [x, xn, q, k, v, attn, proj, gate, up, scores, logitsBuffer, ropeCache, kvTmp, ropeTmp] { p.deallocate() }
        actQ.deallocate()
    }

    /// Forgets every token (the KV cache is overwritten lazily; its pages stay resident, see
    /// ``releaseUnusedMemory()``).
    public func reset() { tokens.removeAll(keepingCapacity: true); discardedTokens = 0; lastLogitsValid = false }

    /// Returns the KV cache pages past the current position to the OS (resident memory shrinks to what the
    /// evaluated tokens use). - Complexity: one `madvise`.
    public func releaseUnusedMemory() { kv.releasePages(from: tokens.count) }

    /// Drops tokens after the first `count` (keeps their KV entries), e.g. to reuse a shared prompt prefix.
    public func truncate(to count: Int) {
        precondition(count >= 0 && count <= tokens.count, "truncate(to:) beyond the evaluated tokens")
        if count < tokens.count { lastLogitsValid = false }
        tokens.removeSubrange(count...)
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
    private func validate<C: Collection>(_ input: C) throws where C.Element == Int32 {
        let needed = tokens.count + input.count
        if kvPolicy == .refuse, needed > contextLength {
            throw InferenceError.contextOverflow(needed: needed, contextLength: contextLength)
        }
        for t in input where t < 0 || Int(t) >= c.vocabularySize {
            throw InferenceError.invalidToken(t, vocabularySize: c.vocabularySize)
        }
    }

    // MARK: - Forward pass

    /// Runs `ids` (at most `batchSize`, already validated) through the network at positions
    /// `position ..< position + ids.count`, appends them to `tokens`, fills `logitsBuffer` per `logits`.
    private func forward(_ ids: UnsafeBufferPointer<Int32>, logits mode: LogitsMode) {
        let n = ids.count
        let dim = c.embeddingLength, qDim = c.qDim, kvDim = c.kvDim, ffn = c.feedForwardLength
        let start = tokens.count
        let eps = c.rmsNormEpsilon

        // Token embeddings → x (n, dim).
        let e = w.tokenEmbedding
        for t in 0..<n {
            let row = e.data + Int(ids[t]) * embeddingRowBytes
            Dequantize.row(e.type, row, x + t * dim, count: dim)
            if w.embeddingScale != 1 { scale(x + t * dim, dim, w.embeddingScale) }
            streamer?.releaseEmbeddingRow(row, embeddingRowBytes)
        }

        for (l, L) in w.layers.enumerated() {
            // --- attention ---
            for t in 0..<n { Ops.rmsNorm(x + t * dim, weight: L.attnNorm, xn + t * dim, count: dim, eps: eps) }
            var quantizedAs: GGMLType? = nil
            _debugTap?("attn_norm-\(l)", UnsafeBufferPointer(start: xn, count: n * dim))
            project(L.wq, q, L.wk, k, L.wv, v, input: xn, n, &quantizedAs)
            _debugTap?("Qcur-\(l)", UnsafeBufferPointer(start: q, count: n * qDim))
            _debugTap?("Kcur-\(l)", UnsafeBufferPointer(start: k, count: n * kvDim))
            _debugTap?("Vcur-\(l)", UnsafeBufferPointer(start: v, count: n * kvDim))
            if let qn = L.qNorm, let kn = L.kNorm {
                for h in 0..<(n * c.headCount) { Ops.rmsNorm(q + h * c.headDim, weight: qn, q + h * c.headDim, count: c.headDim, eps: eps) }
                for h in 0..<(n * c.headCountKV) { Ops.rmsNorm(k + h * c.headDim, weight: kn, k + h * c.headDim, count: c.headDim, eps: eps) }
            }
            for t in 0..<n {
                let cache = ropeCache + t * c.ropeDimensionCount
                if l == 0 || L.ropeBase != w.layers[l - 1].ropeBase {
                    Ops.ropeCache(position: start + t, ropeDim: c.ropeDimensionCount, freqBase: L.ropeBase, into: cache)
                }
                Ops.rope(q + t * qDim, heads: c.headCount, headDim: c.headDim, ropeDim: c.ropeDimensionCount,
                         cache: cache, neox: w.ropeNeoX)
                Ops.rope(k + t * kvDim, heads: c.headCountKV, headDim: c.headDim, ropeDim: c.ropeDimensionCount,
                         cache: cache, neox: w.ropeNeoX)
            }
            _debugTap?("Qrope-\(l)", UnsafeBufferPointer(start: q, count: n * qDim))
            _debugTap?("Krope-\(l)", UnsafeBufferPointer(start: k, count: n * kvDim))
            // Append K and V to the cache in its type.
            for t in 0..<n { kv.store(layer: l, pos: start + t, k: k + t * kvDim, v: v + t * kvDim) }
            if kv.type == .f16 {
                attention(layer: l, tokens: n, start: start, window: L.slidingWindow)
            } else {
                attentionQuantized(layer: l, tokens: n, start: start, window: L.slidingWindow)
            }
            _debugTap?("kqv_out-\(l)", UnsafeBufferPointer(start: attn, count: n * qDim))
            quantizedAs = nil
            project(L.wo, attn, n, proj, &quantizedAs)
            _debugTap?("attn_out-\(l)", UnsafeBufferPointer(start: proj, count: n * dim))

            if let pn = L.postAttnNorm { for t in 0..<n { Ops.rmsNorm(proj + t * dim, weight: pn, proj + t * dim, count: dim, eps: eps) } }
            add(x, proj, n * dim)

            // --- feed-forward ---
            _debugTap?("ffn_inp-\(l)", UnsafeBufferPointer(start: x, count: n * dim))
            for t in 0..<n { Ops.rmsNorm(x + t * dim, weight: L.ffnNorm, xn + t * dim, count: dim, eps: eps) }
            _debugTap?("ffn_norm-\(l)", UnsafeBufferPointer(start: xn, count: n * dim))

            quantizedAs = nil
            project(L.gate, gate, L.up, up, input: xn, n, &quantizedAs)
            _debugTap?("ffn_gate-\(l)", UnsafeBufferPointer(start: gate, count: n * ffn))
            _debugTap?("ffn_up-\(l)", UnsafeBufferPointer(start: up, count: n * ffn))
            switch w.activation {
            case .silu: Ops.swiglu(gate: gate, up: up, out: gate, count: n * ffn)
            case .gelu: Ops.geglu(gate: gate, up: up, out: gate, count: n * ffn)
            }
            _debugTap?("ffn_swiglu-\(l)", UnsafeBufferPointer(start: gate, count: n * ffn))
            quantizedAs = nil
            project(L.down, gate, n, proj, &quantizedAs)
            _debugTap?("ffn_out-\(l)", UnsafeBufferPointer(start: proj, count: n * dim))

            if let pn = L.postFFNNorm { for t in 0..<n { Ops.rmsNorm(proj + t * dim, weight: pn, proj + t * dim, count: dim, eps: eps) } }
            add(x, proj, n * dim)
            _debugTap?("l_out-\(l)", UnsafeBufferPointer(start: x, count: n * dim))
            streamer?.releaseLayer(l)
        }
        for t in 0..<n { tokens.append(ids[t]) }
        lastLogitsValid = mode != .none
        lastLogitsRow = mode == .all ? n - 1 : 0

        // --- output head ---
        switch mode {
        case .none:
            return
        case .last:
            Ops.rmsNorm(x + (n - 1) * dim, weight: w.outputNorm, xn, count: dim, eps: eps)
            if let streamer {
                streamer.outputHead(xn, logitsBuffer, scratch: actQ, pool: pool)
            } else {
                MatMul.mul(w.output, xn, tokens: 1, logitsBuffer, scratch: actQ, pool: pool)
            }
        case .all:
            for t in 0..<n { Ops.rmsNorm(x + t * dim, weight: w.outputNorm, xn + t * dim, count: dim, eps: eps) }
            if let streamer {
                // Chunked like `.last`: the whole head resident at once would break a streamed budget.
                streamer.outputHead(xn, logitsBuffer, tokens: n, scratch: actQ, pool: pool)
            } else {
                MatMul.mul(w.output, xn, tokens: n, logitsBuffer, scratch: actQ, pool: pool)
            }
        }
    }

    /// y (n, w.rows) = x (n, w.cols) · wᵀ, re-using the activations already quantized in `actQ` when the
    /// previous projection of the same input used the same activation format.
    private func project(_ m: WeightMatrix, _ input: UnsafeMutablePointer<Float>, _ n: Int,
                         _ y: UnsafeMutablePointer<Float>, _ quantizedAs: inout GGMLType?) {
        quantizeInput(for: m, input, n, &quantizedAs)
        MatMul.mulQuantized(m, UnsafeRawPointer(actQ), tokens: n, y, pool: pool)
    }

    /// Quantizes `input (n, m.cols)` into `actQ` as `m.vecDotType`, unless it already holds exactly that.
    private func quantizeInput(for m: WeightMatrix, _ input: UnsafeMutablePointer<Float>, _ n: Int,
                               _ quantizedAs: inout GGMLType?) {
        if quantizedAs != m.vecDotType {
            MatMul.quantizeActivations(input, tokens: n, cols: m.cols, as: m.vecDotType, into: actQ, pool: pool)
            quantizedAs = m.vecDotType
        }
    }

    /// Two or three projections of the same input (Q/K/V, gate/up) in one parallel dispatch when they share
    /// the activation format (bit-identical to separate `project` calls, one thread barrier instead of three).
    private func project(_ a: WeightMatrix, _ ya: UnsafeMutablePointer<Float>, _ b: WeightMatrix,
                         _ yb: UnsafeMutablePointer<Float>, _ c: WeightMatrix? = nil, _ yc: UnsafeMutablePointer<Float>? = nil,
                         input: UnsafeMutablePointer<Float>, _ n: Int, _ quantizedAs: inout GGMLType?) {
        guard a.vecDotType == b.vecDotType, a.cols == b.cols,
              c.map({ $0.vecDotType == a.vecDotType && $0.cols == a.cols }) ?? true else {
            project(a, input, n, ya, &quantizedAs)
            project(b, input, n, yb, &quantizedAs)
            if let c, let yc { project(c, input, n, yc, &quantizedAs) }
            return
        }
        quantizeInput(for: a, input, n, &quantizedAs)
        MatMul.mulQuantized(a, ya, b, yb, c, yc, activations: UnsafeRawPointer(actQ), tokens: n, pool: pool)
    }

    /// Causal (optionally sliding-window) grouped-query attention of the `n` new tokens over the cache.
    /// Writes `attn` (n, qDim). Tasks: (head, token-stripe) pairs, each with its own score row.
    ///
    /// Numerics follow llama.cpp's CPU graph without flash attention, operation for operation, so logits
    /// agree to the bit where the rest does: Q and the softmax weights are rounded to f16 like the cache;
    /// Q·K and P·V accumulate in 8 float lanes with FMAs — summed like tinyBLAS when the batch has ≥ 2 tokens,
    /// like `ggml_vec_dot_f16` for a single token; the softmax uses ggml's vectorised `expf` and a double sum.
    private func attention(layer l: Int, tokens n: Int, start: Int, window: Int?) {
        let hd = c.headDim, qDim = c.qDim, ctxPad = self.ctxPad
        let group = c.headCount / c.headCountKV
        let stripes = min(n, attnTasksPerHead)
        let scale = 1 / Float(hd).squareRoot()
        let kv = self.kv
        // Page-blocked addressing: K row of position j at kBase + (j >> shift)·pageStride + (j & mask)·kvDim;
        // V row of dimension i over the positions of page p at vBase + p·pageStride + i·pageLen.
        let kBase = kv.kRow(l, 0).assumingMemoryBound(to: Float16.self)
        let vBase = UnsafePointer(kv.vBlock(l, page: 0).assumingMemoryBound(to: Float16.self))
        let pageStride = kv.pageBytes / 2, pageLen = kv.pageLen, shift = kv.pageShift, mask = kv.pageMask
        let kvDim = c.kvDim
        let q = self.q, attn = self.attn, scores = self.scores, q16 = self.q16, p16 = self.p16
        let batched = n >= 2
        pool.parallelFor(c.headCount * stripes) { task in
            let h = task / stripes, stripe = task % stripes
            let kvh = h / group
            let s = scores + task * ctxPad
            let qh = q16 + task * hd
            let p = p16 + task * ctxPad
            var t = stripe
            while t < n {
                let pos = start + t
                let first = window.map { max(0, pos - $0 + 1) } ?? 0
                let qv = q + t * qDim + h * hd
                for i in 0..<hd { qh[i] = Float16(qv[i]) }
                // Scores; masked positions (before `first`) stay out of the softmax.
                var maxScore = -Float.infinity
                @inline(__always) func kRow(_ j: Int) -> UnsafePointer<Float16> {
                    UnsafePointer(kBase + (j >> shift) * pageStride + (j & mask) * kvDim + kvh * hd)
                }
                var j = first
                if batched {
                    // Four positions at a time: four independent accumulator chains, each the same FMAs as
                    // `dotTiled` (bit-identical); the running max sees the scores in position order.
                    while j + 3 <= pos {
                        let d = AttentionMath.dotTiled4(kRow(j), kRow(j + 1), kRow(j + 2), kRow(j + 3), qh, hd) * scale
                        s[j] = d[0]; s[j + 1] = d[1]; s[j + 2] = d[2]; s[j + 3] = d[3]
                        maxScore = max(max(max(max(maxScore, d[0]), d[1]), d[2]), d[3])
                        j += 4
                    }
                }
                while j <= pos {
                    let d = (batched ? AttentionMath.dotTiled(kRow(j), qh, hd) : AttentionMath.dotVec(kRow(j), qh, hd)) * scale
                    s[j] = d
                    maxScore = max(maxScore, d)
                    j += 1
                }
                // exp in 8-wide chunks aligned to position 0, summed per chunk then in double.
                var sum = 0.0
                var c0 = (first / 8) * 8
                while c0 <= pos {
                    var e = SIMD8<Float>(repeating: -Float.infinity)
                    for lane in 0..<8 where c0 + lane >= first && c0 + lane <= pos { e[lane] = s[c0 + lane] - maxScore }
                    e = Ops.exp8(e)
                    for lane in 0..<8 where c0 + lane >= first && c0 + lane <= pos { s[c0 + lane] = e[lane] }
                    sum += Double(AttentionMath.hsum8(e))
                    c0 += 8
                }
                let inv = Float(1.0 / sum)
                let padded = batched ? (pos + 8) / 8 * 8 : (pos + 32) / 32 * 32
                for j in 0..<padded { p[j] = (j >= first && j <= pos) ? Float16(s[j] * inv) : 0 }
                let out = attn + t * qDim + h * hd
                var i = 0
                if batched {
                    // Four output dimensions at a time, sharing the loads of P (bit-identical per dimension).
                    while i + 4 <= hd {
                        let o = AttentionMath.dotTiledPaged4(vBase + (kvh * hd + i) * pageLen, rowStride: pageLen,
                                                             pageStride: pageStride, pageLen: pageLen, p, padded)
                        out[i] = o[0]; out[i + 1] = o[1]; out[i + 2] = o[2]; out[i + 3] = o[3]
                        i += 4
                    }
                }
                while i < hd {
                    let vRow = vBase + (kvh * hd + i) * pageLen
                    out[i] = batched ? AttentionMath.dotTiledPaged(vRow, pageStride: pageStride, pageLen: pageLen, p, padded)
                                     : AttentionMath.dotVecPaged(vRow, pageStride: pageStride, pageLen: pageLen, p, padded)
                    i += 1
                }
                t += stripes
            }
        }
    }

    private func add(_ a: UnsafeMutablePointer<Float>, _ b: UnsafePointer<Float>, _ count: Int) {
        Ops.add(a, b, a, count: count)
    }

    private func scale(_ a: UnsafeMutablePointer<Float>, _ count: Int, _ s: Float) {
        Ops.scale(a, by: s, a, count: count)
    }
}

/// f16 vector kernels of the attention loop, in llama.cpp's operation order (see `Session.attention`).
enum AttentionMath {
    @inline(__always)
    static func load8(_ p: UnsafePointer<Float16>) -> SIMD8<Float> {
        let h = UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float16>.self)
        var f = SIMD8<Float>()
        for lane in 0..<8 { f[lane] = Float(h[lane]) }
        return f
    }

    /// ggml's `hsum_float_8` / tinyBLAS `hsum`: (lo + hi), then (0+2, 1+3), then the two.
    @inline(__always)
    static func hsum8(_ v: SIMD8<Float>) -> Float {
        let q = v.lowHalf + v.highHalf
        let p = q.lowHalf + q.highHalf
        return p[0] + p[1]
    }

    /// tinyBLAS order (llama.cpp batches of ≥ 2 tokens): one 8-lane FMA accumulator, then `hsum8`. n % 8 == 0.
    @inline(__always)
    static func dotTiled(_ a: UnsafePointer<Float16>, _ b: UnsafePointer<Float16>, _ n: Int) -> Float {
        var acc = SIMD8<Float>()
        var i = 0
        while i < n { acc.addProduct(load8(a + i), load8(b + i)); i += 8 }
        return hsum8(acc)
    }

    /// Four ``dotTiled(_:_:_:)`` against the same `b`, interleaved: four independent accumulator chains (the
    /// single chain is latency-bound), each the same FMAs in the same order, so each result is bit-identical.
    @inline(__always)
    static func dotTiled4(_ a0: UnsafePointer<Float16>, _ a1: UnsafePointer<Float16>, _ a2: UnsafePointer<Float16>,
                          _ a3: UnsafePointer<Float16>, _ b: UnsafePointer<Float16>, _ n: Int) -> SIMD4<Float> {
        var c0 = SIMD8<Float>(), c1 = SIMD8<Float>(), c2 = SIMD8<Float>(), c3 = SIMD8<Float>()
        var i = 0
        while i < n {
            let x = load8(b + i)
            c0.addProduct(load8(a0 + i), x); c1.addProduct(load8(a1 + i), x)
            c2.addProduct(load8(a2 + i), x); c3.addProduct(load8(a3 + i), x)
            i += 8
        }
        return SIMD4(hsum8(c0), hsum8(c1), hsum8(c2), hsum8(c3))
    }

    /// Four ``dotTiledPaged(_:pageStride:pageLen:_:_:)`` of the rows `a`, `a + rowStride`, … against the same
    /// `b`, interleaved (bit-identical per row).
    @inline(__always)
    static func dotTiledPaged4(_ a: UnsafePointer<Float16>, rowStride: Int, pageStride: Int, pageLen: Int,
                               _ b: UnsafePointer<Float16>, _ n: Int) -> SIMD4<Float> {
        var c0 = SIMD8<Float>(), c1 = SIMD8<Float>(), c2 = SIMD8<Float>(), c3 = SIMD8<Float>()
        var i = 0, page = a
        while i < n {
            let m = min(pageLen, n - i)
            var k = 0
            while k < m {
                let x = load8(b + i + k)
                c0.addProduct(load8(page + k), x); c1.addProduct(load8(page + rowStride + k), x)
                c2.addProduct(load8(page + 2 * rowStride + k), x); c3.addProduct(load8(page + 3 * rowStride + k), x)
                k += 8
            }
            i += m; page += pageStride
        }
        return SIMD4(hsum8(c0), hsum8(c1), hsum8(c2), hsum8(c3))
    }

    /// `ggml_vec_dot_f16` order on AVX2 (single-token steps): 4 accumulators over 32-element steps, reduced
    /// (0+2, 1+3), (0+1), then lo+hi and two horizontal adds; leftovers added in double. n % 32 == 0 here.
    @inline(__always)
    static func dotVec(_ a: UnsafePointer<Float16>, _ b: UnsafePointer<Float16>, _ n: Int) -> Float {
        var s0 = SIMD8<Float>(), s1 = SIMD8<Float>(), s2 = SIMD8<Float>(), s3 = SIMD8<Float>()
        let np = n & ~31
        var i = 0
        while i < np {
            s0.addProduct(load8(a + i), load8(b + i))
            s1.addProduct(load8(a + i + 8), load8(b + i + 8))
            s2.addProduct(load8(a + i + 16), load8(b + i + 16))
            s3.addProduct(load8(a + i + 24), load8(b + i + 24))
            i += 32
        }
        s0 = s0 + s2; s1 = s1 + s3
        s0 = s0 + s1
        let t = s0.lowHalf + s0.highHalf
        var sum = Double((t[0] + t[1]) + (t[2] + t[3]))
        while i < n { sum += Double(Float(a[i]) * Float(b[i])); i += 1 }
        return Float(sum)
    }

    /// ``dotTiled(_:_:_:)`` over a row stored in pages of `pageLen` halfs `pageStride` apart (pageLen % 8 == 0):
    /// the same FMAs into the same accumulator, in the same order, so the result is bit-identical to the dot
    /// over the row laid out contiguously.
    @inline(__always)
    static func dotTiledPaged(_ a: UnsafePointer<Float16>, pageStride: Int, pageLen: Int, _ b: UnsafePointer<Float16>, _ n: Int) -> Float {
        var acc = SIMD8<Float>()
        var i = 0, page = a
        while i < n {
            let m = min(pageLen, n - i)
            var k = 0
            while k < m { acc.addProduct(load8(page + k), load8(b + i + k)); k += 8 }
            i += m; page += pageStride
        }
        return hsum8(acc)
    }

    /// ``dotVec(_:_:_:)`` over a paged row (pageLen % 32 == 0, n % 32 == 0), bit-identical to the contiguous one.
    @inline(__always)
    static func dotVecPaged(_ a: UnsafePointer<Float16>, pageStride: Int, pageLen: Int, _ b: UnsafePointer<Float16>, _ n: Int) -> Float {
        var s0 = SIMD8<Float>(), s1 = SIMD8<Float>(), s2 = SIMD8<Float>(), s3 = SIMD8<Float>()
        var i = 0, page = a
        while i < n {
            let m = min(pageLen, n - i)
            var k = 0
            while k < m {
                s0.addProduct(load8(page + k), load8(b + i + k))
                s1.addProduct(load8(page + k + 8), load8(b + i + k + 8))
                s2.addProduct(load8(page + k + 16), load8(b + i + k + 16))
                s3.addProduct(load8(page + k + 24), load8(b + i + k + 24))
                k += 32
            }
            i += m; page += pageStride
        }
        s0 = s0 + s2; s1 = s1 + s3
        s0 = s0 + s1
        let t = s0.lowHalf + s0.highHalf
        return Float(Double((t[0] + t[1]) + (t[2] + t[3])))
    }
}
