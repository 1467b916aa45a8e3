// The shared blocks every architecture's graph is composed of (llama.cpp's build_norm / build_attn /
// build_ffn): token embedding, RMSNorm over rows, self-attention over the session's KV cache (projections,
// optional per-head Q/K norms, RoPE in the model's ordering, causal or sliding-window attention, output
// projection), the gated feed-forward, the residual add, and the output head. They read and write the
// session's named scratch buffers; none allocates.

import GGUF
import Kernels

extension Session {
    /// Passes `n · count` floats at `p` to ``_debugTap`` under llama.cpp's tensor name.
    @inline(__always)
    func tap(_ name: @autoclosure () -> String, _ p: UnsafePointer<Float>, _ count: Int) {
        _debugTap?(name(), UnsafeBufferPointer(start: p, count: count))
    }

    /// Token embeddings → `x (n, dim)`, multiplied by `scale` when it is not 1.
    func embed(_ ids: UnsafeBufferPointer<Int32>, scale: Float) {
        let dim = c.embeddingLength
        let e = model.weights.tokenEmbedding
        for t in 0..<ids.count {
            let row = e.data + Int(ids[t]) * embeddingRowBytes
            Dequantize.row(e.type, row, x + t * dim, count: dim)
            if scale != 1 { Ops.scale(x + t * dim, by: scale, x + t * dim, count: dim) }
            streamer?.releaseEmbeddingRow(row, embeddingRowBytes)
        }
    }

    /// RMSNorm of `n` rows of `dim` floats of `input` with `weight` into `out` (may be `input`).
    func norm(_ input: UnsafeMutablePointer<Float>, _ weight: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>,
              tokens n: Int, tap name: @autoclosure () -> String) {
        let dim = c.embeddingLength
        for t in 0..<n { Ops.rmsNorm(input + t * dim, weight: weight, out + t * dim, count: dim, eps: c.rmsNormEpsilon) }
        tap(name(), out, n * dim)
    }

    /// Self-attention of the `n` new tokens at positions `start…` on `xn`: Q/K/V projections, per-head Q/K
    /// RMSNorm when the weights have them, RoPE (the layer's base, the model's ordering), Q scaled by
    /// `queryScale` when given (Gemma: before attention, as llama.cpp does), K and V appended to the cache,
    /// causal or sliding-window attention with scores scaled by `kqScale`, then the output projection into
    /// `proj (n, dim)`.
    func selfAttention(layer l: Int, _ A: AttentionWeights, tokens n: Int, start: Int,
                       queryScale: Float? = nil, kqScale: Float) {
        let qDim = c.qDim, kvDim = c.kvDim, hd = c.headDim, eps = c.rmsNormEpsilon
        var quantizedAs: GGMLType? = nil
        project(A.wq, q, A.wk, k, A.wv, v, input: xn, n, &quantizedAs)
        tap("Qcur-\(l)", q, n * qDim)
        tap("Kcur-\(l)", k, n * kvDim)
        tap("Vcur-\(l)", v, n * kvDim)
        if let qn = A.qNorm, let kn = A.kNorm {
            for h in 0..<(n * c.headCount) { Ops.rmsNorm(q + h * hd, weight: qn, q + h * hd, count: hd, eps: eps) }
            for h in 0..<(n * c.headCountKV) { Ops.rmsNorm(k + h * hd, weight: kn, k + h * hd, count: hd, eps: eps) }
            tap("Qcur_normed-\(l)", q, n * qDim)
            tap("Kcur_normed-\(l)", k, n * kvDim)
        }
        let base = c.attentionLayers[l].ropeFreqBase
        let sameCache = l > 0 && c.attentionLayers[l - 1].ropeFreqBase == base
        for t in 0..<n {
            let cache = ropeCache + t * c.ropeDimensionCount
            if !sameCache {
                Ops.ropeCache(position: start + t, ropeDim: c.ropeDimensionCount, freqBase: base, into: cache)
            }
            Ops.rope(q + t * qDim, heads: c.headCount, headDim: hd, ropeDim: c.ropeDimensionCount, cache: cache, neox: c.ropeNeoX)
            Ops.rope(k + t * kvDim, heads: c.headCountKV, headDim: hd, ropeDim: c.ropeDimensionCount, cache: cache, neox: c.ropeNeoX)
        }
        tap("Qrope-\(l)", q, n * qDim)
        tap("Krope-\(l)", k, n * kvDim)
        if let queryScale { Ops.scale(q, by: queryScale, q, count: n * qDim) }
        // Append K and V to the cache in its type; a ring forgets what it overwrites.
        for t in 0..<n { kv.store(layer: l, pos: start + t, k: k + t * kvDim, v: v + t * kvDim) }
        kvIntactFrom[l] = max(kvIntactFrom[l], start + n - kv.capacity(l))
        if kv.type == .f16 {
            attention(layer: l, tokens: n, start: start, kqScale: kqScale)
        } else {
            attentionQuantized(layer: l, tokens: n, start: start, kqScale: kqScale)
        }
        tap("kqv_out-\(l)", attn, n * qDim)
        quantizedAs = nil
        project(A.wo, attn, n, proj, &quantizedAs)
        tap("attn_out-\(l)", proj, n * c.embeddingLength)
    }

    /// Gated feed-forward on `xn`: `proj (n, dim) = down(act(gate · xn) ⊙ (up · xn))`.
    func feedForward(layer l: Int, _ F: FeedForwardWeights, _ activation: GatedActivation, tokens n: Int) {
        let ffn = c.feedForwardLength
        var quantizedAs: GGMLType? = nil
        project(F.gate, gate, F.up, up, input: xn, n, &quantizedAs)
        tap("ffn_gate-\(l)", gate, n * ffn)
        tap("ffn_up-\(l)", up, n * ffn)
        switch activation {
        case .silu: Ops.swiglu(gate: gate, up: up, out: gate, count: n * ffn)
        case .gelu: Ops.geglu(gate: gate, up: up, out: gate, count: n * ffn)
        }
        tap(activation == .silu ? "ffn_swiglu-\(l)" : "ffn_geglu-\(l)", gate, n * ffn)
        quantizedAs = nil
        project(F.down, gate, n, proj, &quantizedAs)
        tap("ffn_out-\(l)", proj, n * c.embeddingLength)
    }

    /// llama.cpp's `inp_out_ids` in the last layer: after its attention (whose K and V every token needs), only
    /// the rows whose logits are wanted go on through the rest of the layer — the last one for `.last` (moved
    /// to row 0), none for `.none`, all for `.all`. Returns the rows that go on. Besides saving the last layer's
    /// FFN for the other rows, this keeps the last row in the matmul order llama.cpp uses for it.
    func keepOutputRows(tokens n: Int, _ mode: LogitsMode) -> Int {
        switch mode {
        case .all: return n
        case .none: return 0
        case .last:
            let dim = c.embeddingLength
            if n > 1 {
                (x).update(from: x + (n - 1) * dim, count: dim)
                proj.update(from: proj + (n - 1) * dim, count: dim)
            }
            return 1
        }
    }

    /// `x += proj` over `n` rows.
    func addResidual(tokens n: Int) {
        Ops.add(x, proj, x, count: n * c.embeddingLength)
    }

    /// The end of layer `l`: its output to the tap, its weight pages released when streamed.
    func endLayer(_ l: Int, tokens n: Int) {
        tap("l_out-\(l)", x, n * c.embeddingLength)
        streamer?.releaseLayer(l)
    }

    /// Final RMSNorm and the output head: the logits of the last row (`.last`) or of every row (`.all`) into
    /// `logitsBuffer`.
    func outputHead(tokens n: Int, _ mode: LogitsMode) {
        let w = model.weights, dim = c.embeddingLength, eps = c.rmsNormEpsilon
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

    /// y (n, m.rows) = x (n, m.cols) · mᵀ, re-using the activations already quantized in `actQ` when the
    /// previous projection of the same input used the same activation format.
    func project(_ m: WeightMatrix, _ input: UnsafeMutablePointer<Float>, _ n: Int,
                 _ y: UnsafeMutablePointer<Float>, _ quantizedAs: inout GGMLType?) {
        quantizeInput(for: m, input, n, &quantizedAs)
        MatMul.mulQuantized(m, UnsafeRawPointer(actQ), tokens: n, y, pool: pool)
    }

    /// Quantizes `input (n, m.cols)` into `actQ` as `m.vecDotType`, unless it already holds exactly that.
    func quantizeInput(for m: WeightMatrix, _ input: UnsafeMutablePointer<Float>, _ n: Int,
                       _ quantizedAs: inout GGMLType?) {
        if quantizedAs != m.vecDotType {
            MatMul.quantizeActivations(input, tokens: n, cols: m.cols, as: m.vecDotType, into: actQ, pool: pool)
            quantizedAs = m.vecDotType
        }
    }

    /// Two or three projections of the same input (Q/K/V, gate/up) in one parallel dispatch when they share
    /// the activation format (bit-identical to separate `project` calls, one thread barrier instead of three).
    func project(_ a: WeightMatrix, _ ya: UnsafeMutablePointer<Float>, _ b: WeightMatrix,
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

}
