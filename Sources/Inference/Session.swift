import Foundation
import GGUF
import Kernels
import Tokenizers

/// Options fixed when a ``Session`` is created (they size its buffers).
public struct SessionOptions: Sendable {
    /// Tokens of context the KV cache holds. `nil`: the model's trained context, capped at 4096.
    public var contextLength: Int?
    /// Tokens evaluated per prefill step (matrix–matrix kernels); larger uses more scratch memory.
    public var batchSize: Int
    /// Compute threads, including the caller's.
    public var threads: Int

    public init(contextLength: Int? = nil, batchSize: Int = 64, threads: Int = ProcessInfo.processInfo.activeProcessorCount) {
        self.contextLength = contextLength
        self.batchSize = batchSize
        self.threads = threads
    }
}

/// Which positions of an evaluated batch produce logits.
public enum LogitsMode: Sendable { case none, last, all }

/// The mutable state of one conversation with a ``Model``: the KV cache, scratch buffers, the position.
///
/// Everything is allocated in `init`; ``prefill(_:)`` and ``decode(_:)`` allocate nothing.
/// - Memory: KV cache `2 · layers · contextLength · kvDim · 2` bytes (f16) plus
///   `batchSize · (4·dim + 2·qDim + 2·kvDim + 2·ffn + vocab) · 4` bytes of scratch.
/// - Not thread-safe: use one session per thread; sessions share the model.
public final class Session {
    public let model: Model
    public let contextLength: Int
    public let batchSize: Int
    public var threads: Int { pool.threadCount }
    /// Tokens evaluated so far (the KV cache holds exactly these).
    public private(set) var tokens: [Int32]
    public var position: Int { tokens.count }

    let pool: ThreadPool
    private let c: ModelConfig
    private let w: TransformerWeights
    private let embeddingRowBytes: Int

    // KV cache, f16.
    private let kCache: UnsafeMutablePointer<Float16>     // (layers, ctx, kvDim)
    private let vCache: UnsafeMutablePointer<Float16>     // (layers, ctx, kvDim)
    // Activations for one batch.
    private let x: UnsafeMutablePointer<Float>            // (batch, dim)   residual stream
    private let xn: UnsafeMutablePointer<Float>           // (batch, dim)   normalised input of a sub-layer
    private let q: UnsafeMutablePointer<Float>            // (batch, qDim)
    private let k: UnsafeMutablePointer<Float>            // (batch, kvDim)
    private let v: UnsafeMutablePointer<Float>            // (batch, kvDim)
    private let attn: UnsafeMutablePointer<Float>         // (batch, qDim)  attention output before wo
    private let proj: UnsafeMutablePointer<Float>         // (batch, dim)   wo / down output
    private let gate: UnsafeMutablePointer<Float>         // (batch, ffn)
    private let up: UnsafeMutablePointer<Float>           // (batch, ffn)
    private let actQ: UnsafeMutableRawPointer             // (batch, max cols) activations in a vec-dot type
    private let actQBytes: Int
    private let scores: UnsafeMutablePointer<Float>       // (attnTasks, ctx)
    private let attnTasksPerHead: Int
    private let logitsBuffer: UnsafeMutablePointer<Float> // (batch, vocab)
    private let ropeCache: UnsafeMutablePointer<Float>    // (batch, ropeDim) cos/sin pairs per position

    /// Creates a session and allocates all of its memory.
    /// - Throws: ``InferenceError/invalidParameter(_:)`` for a non-positive context, batch or thread count.
    public init(model: Model, options: SessionOptions = SessionOptions()) throws {
        let c = model.config
        let ctx = options.contextLength ?? min(c.contextLength, 4096)
        guard ctx > 0 else { throw InferenceError.invalidParameter("context length must be positive, got \(ctx)") }
        guard options.batchSize > 0 else { throw InferenceError.invalidParameter("batch size must be positive") }
        guard options.threads > 0, options.threads <= 256 else {
            throw InferenceError.invalidParameter("threads must be in 1…256, got \(options.threads)")
        }
        self.model = model
        self.c = c
        self.w = model.weights
        self.contextLength = ctx
        self.batchSize = min(options.batchSize, ctx)
        self.pool = ThreadPool(threads: options.threads)
        self.tokens = []
        self.tokens.reserveCapacity(ctx)
        let e = model.weights.tokenEmbedding
        self.embeddingRowBytes = e.byteCount / c.vocabularySize

        let b = batchSize
        let kvCount = c.blockCount * ctx * c.kvDim
        kCache = .allocate(capacity: kvCount); kCache.initialize(repeating: 0, count: kvCount)
        vCache = .allocate(capacity: kvCount); vCache.initialize(repeating: 0, count: kvCount)
        func floats(_ n: Int) -> UnsafeMutablePointer<Float> {
            let p = UnsafeMutablePointer<Float>.allocate(capacity: n); p.initialize(repeating: 0, count: n); return p
        }
        x = floats(b * c.embeddingLength)
        xn = floats(b * c.embeddingLength)
        q = floats(b * c.qDim)
        k = floats(b * c.kvDim)
        v = floats(b * c.kvDim)
        attn = floats(b * c.qDim)
        proj = floats(b * c.embeddingLength)
        gate = floats(b * c.feedForwardLength)
        up = floats(b * c.feedForwardLength)
        var maxAct = MatMul.activationBytes(for: w.output, tokens: b)
        for l in w.layers {
            for m in [l.wq, l.wk, l.wv, l.wo, l.gate, l.up, l.down] {
                maxAct = max(maxAct, MatMul.activationBytes(for: m, tokens: b))
            }
        }
        actQBytes = maxAct
        actQ = .allocate(byteCount: maxAct, alignment: 64)
        attnTasksPerHead = max(1, min(b, 2 * options.threads))
        scores = floats(c.headCount * attnTasksPerHead * ctx)
        logitsBuffer = floats(b * c.vocabularySize)
        ropeCache = floats(b * c.ropeDimensionCount)
    }

    deinit {
        kCache.deallocate(); vCache.deallocate()
        for p in [x, xn, q, k, v, attn, proj, gate, up, scores, logitsBuffer, ropeCache] { p.deallocate() }
        actQ.deallocate()
    }

    /// Forgets every token (the KV cache is overwritten lazily).
    public func reset() { tokens.removeAll(keepingCapacity: true) }

    /// Drops tokens after the first `count` (keeps their KV entries), e.g. to reuse a shared prompt prefix.
    public func truncate(to count: Int) {
        precondition(count >= 0 && count <= tokens.count, "truncate(to:) beyond the evaluated tokens")
        tokens.removeSubrange(count...)
    }

    /// Evaluates `input` after the tokens already in the session and returns the logits of its last token.
    /// The buffer is the session's own and is valid until the next call.
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
            input.withUnsafeBufferPointer { buf in
                forward(UnsafeBufferPointer(rebasing: buf[start..<start + n]), logits: .all)
            }
            for i in 0..<n {
                try body(start + i, UnsafeBufferPointer(start: logitsBuffer + i * c.vocabularySize, count: c.vocabularySize))
            }
            start += n
        }
    }

    private func validate<C: Collection>(_ input: C) throws where C.Element == Int32 {
        let needed = tokens.count + input.count
        guard needed <= contextLength else { throw InferenceError.contextOverflow(needed: needed, contextLength: contextLength) }
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
            Dequantize.row(e.type, e.data + Int(ids[t]) * embeddingRowBytes, x + t * dim, count: dim)
            if w.embeddingScale != 1 { scale(x + t * dim, dim, w.embeddingScale) }
        }

        for (l, L) in w.layers.enumerated() {
            // --- attention ---
            for t in 0..<n { Ops.rmsNorm(x + t * dim, weight: L.attnNorm, xn + t * dim, count: dim, eps: eps) }
            var quantizedAs: GGMLType? = nil
            project(L.wq, xn, n, q, &quantizedAs)
            project(L.wk, xn, n, k, &quantizedAs)
            project(L.wv, xn, n, v, &quantizedAs)
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
            // Append K and V to the cache as f16.
            let layerKV = l * contextLength * kvDim
            for t in 0..<n {
                let dstK = kCache + layerKV + (start + t) * kvDim, dstV = vCache + layerKV + (start + t) * kvDim
                let srcK = k + t * kvDim, srcV = v + t * kvDim
                for i in 0..<kvDim { dstK[i] = Float16(srcK[i]); dstV[i] = Float16(srcV[i]) }
            }
            attention(layer: l, tokens: n, start: start, window: L.slidingWindow)
            quantizedAs = nil
            project(L.wo, attn, n, proj, &quantizedAs)
            if let pn = L.postAttnNorm { for t in 0..<n { Ops.rmsNorm(proj + t * dim, weight: pn, proj + t * dim, count: dim, eps: eps) } }
            add(x, proj, n * dim)

            // --- feed-forward ---
            for t in 0..<n { Ops.rmsNorm(x + t * dim, weight: L.ffnNorm, xn + t * dim, count: dim, eps: eps) }
            quantizedAs = nil
            project(L.gate, xn, n, gate, &quantizedAs)
            project(L.up, xn, n, up, &quantizedAs)
            switch w.activation {
            case .silu: Ops.swiglu(gate: gate, up: up, out: gate, count: n * ffn)
            case .gelu: Ops.geglu(gate: gate, up: up, out: gate, count: n * ffn)
            }
            quantizedAs = nil
            project(L.down, gate, n, proj, &quantizedAs)
            if let pn = L.postFFNNorm { for t in 0..<n { Ops.rmsNorm(proj + t * dim, weight: pn, proj + t * dim, count: dim, eps: eps) } }
            add(x, proj, n * dim)
        }
        for t in 0..<n { tokens.append(ids[t]) }

        // --- output head ---
        switch mode {
        case .none:
            return
        case .last:
            Ops.rmsNorm(x + (n - 1) * dim, weight: w.outputNorm, xn, count: dim, eps: eps)
            MatMul.mul(w.output, xn, tokens: 1, logitsBuffer, scratch: actQ, pool: pool)
        case .all:
            for t in 0..<n { Ops.rmsNorm(x + t * dim, weight: w.outputNorm, xn + t * dim, count: dim, eps: eps) }
            MatMul.mul(w.output, xn, tokens: n, logitsBuffer, scratch: actQ, pool: pool)
        }
    }

    /// y (n, w.rows) = x (n, w.cols) · wᵀ, re-using the activations already quantized in `actQ` when the
    /// previous projection of the same input used the same activation format.
    private func project(_ m: WeightMatrix, _ input: UnsafeMutablePointer<Float>, _ n: Int,
                         _ y: UnsafeMutablePointer<Float>, _ quantizedAs: inout GGMLType?) {
        if quantizedAs != m.vecDotType {
            MatMul.quantizeActivations(input, tokens: n, cols: m.cols, as: m.vecDotType, into: actQ, pool: pool)
            quantizedAs = m.vecDotType
        }
        MatMul.mulQuantized(m, UnsafeRawPointer(actQ), tokens: n, y, pool: pool)
    }

    /// Causal (optionally sliding-window) grouped-query attention of the `n` new tokens over the cache.
    /// Writes `attn` (n, qDim). Tasks: (head, token-stripe) pairs, each with its own score row.
    private func attention(layer l: Int, tokens n: Int, start: Int, window: Int?) {
        let hd = c.headDim, qDim = c.qDim, kvDim = c.kvDim, ctx = contextLength
        let group = c.headCount / c.headCountKV
        let stripes = min(n, attnTasksPerHead)
        let scale = 1 / Float(hd).squareRoot()
        let kBase = kCache + l * ctx * kvDim, vBase = vCache + l * ctx * kvDim
        let q = self.q, attn = self.attn, scores = self.scores
        pool.parallelFor(c.headCount * stripes) { task in
            let h = task / stripes, stripe = task % stripes
            let kvh = h / group
            let s = scores + task * ctx
            var t = stripe
            while t < n {
                let pos = start + t
                let first = window.map { max(0, pos - $0 + 1) } ?? 0
                let qv = q + t * qDim + h * hd
                var maxScore = -Float.infinity
                for j in first...pos {
                    let d = AttentionMath.dot(qv, kBase + j * kvDim + kvh * hd, hd) * scale
                    s[j - first] = d
                    maxScore = max(maxScore, d)
                }
                let count = pos - first + 1
                var sum: Float = 0
                for j in 0..<count { let e = expf(s[j] - maxScore); s[j] = e; sum += e }
                let inv = 1 / sum
                let out = attn + t * qDim + h * hd
                for i in 0..<hd { out[i] = 0 }
                for j in 0..<count {
                    AttentionMath.axpy(out, vBase + (first + j) * kvDim + kvh * hd, s[j] * inv, hd)
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

/// Small f32 × f16 vector helpers for the attention loop.
enum AttentionMath {
    /// Σ a[i]·b[i] with b in f16.
    @inline(__always)
    static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float16>, _ n: Int) -> Float {
        var acc = SIMD8<Float>()
        var i = 0
        while i + 8 <= n {
            let bh = UnsafeRawPointer(b + i).loadUnaligned(as: SIMD8<Float16>.self)
            var bf = SIMD8<Float>()
            for lane in 0..<8 { bf[lane] = Float(bh[lane]) }
            acc.addProduct(UnsafeRawPointer(a + i).loadUnaligned(as: SIMD8<Float>.self), bf)
            i += 8
        }
        var sum = acc.sum()
        while i < n { sum += a[i] * Float(b[i]); i += 1 }
        return sum
    }

    /// y[i] += s · x[i] with x in f16.
    @inline(__always)
    static func axpy(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float16>, _ s: Float, _ n: Int) {
        let sv = SIMD8<Float>(repeating: s)
        var i = 0
        while i + 8 <= n {
            let xh = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float16>.self)
            var xf = SIMD8<Float>()
            for lane in 0..<8 { xf[lane] = Float(xh[lane]) }
            var yv = UnsafeRawPointer(y + i).loadUnaligned(as: SIMD8<Float>.self)
            yv.addProduct(xf, sv)
            UnsafeMutableRawPointer(y + i).storeBytes(of: yv, as: SIMD8<Float>.self)
            i += 8
        }
        while i < n { y[i] += s * Float(x[i]); i += 1 }
    }
}
