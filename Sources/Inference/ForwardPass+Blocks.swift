// The shared blocks every architecture's graph is composed of (llama.cpp's build_norm / build_attn /
// build_ffn): token embedding, RMSNorm over rows, self-attention of each row over its own sequence's KV cache
// (projections, optional per-head Q/K norms, RoPE in the model's ordering, causal or sliding-window
// attention, output projection), the gated feed-forward, the residual add, and the output head. They read
// and write the step's named scratch buffers; none allocates. Weight products run once over all rows of the
// step, whatever sequences they belong to (`RowGroups` keeps each sequence's kernel order).

import GGUF
import Kernels

extension ForwardPass {
    /// Passes `n · count` floats at `p` to ``_debugTap`` under llama.cpp's tensor name.
    @inline(__always)
    func tap(_ name: @autoclosure () -> String, _ p: UnsafePointer<Float>, _ count: Int) {
        debugTap?(name(), UnsafeBufferPointer(start: p, count: count))
    }

    /// Token embeddings of every row → `x (rows, dim)`, multiplied by `scale` when it is not 1.
    func embed(scale: Float) {
        let dim = c.embeddingLength
        let e = model.weights.tokenEmbedding
        let embeddingRowBytes = e.byteCount / c.vocabularySize
        kept = false
        for t in 0..<rows {
            let row = e.data + Int(ids[t]) * embeddingRowBytes
            Dequantize.row(e.type, row, x + t * dim, count: dim)
            if scale != 1 { Ops.scale(x + t * dim, by: scale, x + t * dim, count: dim) }
            streamer?.releaseEmbeddingRow(row, embeddingRowBytes)
        }
    }

    /// RMSNorm of `n` rows of `dim` floats of `input` with `weight` into `out` (may be `input`).
    func norm(_ input: UnsafeMutablePointer<Float>, _ weight: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>,
              rows n: Int, tap name: @autoclosure () -> String) {
        let dim = c.embeddingLength
        for t in 0..<n { Ops.rmsNorm(input + t * dim, weight: weight, out + t * dim, count: dim, eps: c.rmsNormEpsilon) }
        tap(name(), out, n * dim)
    }

    /// Self-attention of every row on `xn`: Q/K/V projections, per-head Q/K RMSNorm when the weights have
    /// them, RoPE at each row's position (the layer's base, the model's ordering), Q scaled by `queryScale`
    /// when given (Gemma: before attention, as llama.cpp does), K and V appended to each row's sequence's
    /// cache, causal or sliding-window attention over that cache with scores scaled by `kqScale`, then the
    /// output projection into `proj (rows, dim)`.
    func selfAttention(layer l: Int, _ A: AttentionWeights, queryScale: Float? = nil, kqScale: Float) {
        let n = rows
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
                let seg = segment(ofRow: t)
                Ops.ropeCache(position: seg.start + t - seg.row, ropeDim: c.ropeDimensionCount, freqBase: base, into: cache)
            }
            Ops.rope(q + t * qDim, heads: c.headCount, headDim: hd, ropeDim: c.ropeDimensionCount, cache: cache, neox: c.ropeNeoX)
            Ops.rope(k + t * kvDim, heads: c.headCountKV, headDim: hd, ropeDim: c.ropeDimensionCount, cache: cache, neox: c.ropeNeoX)
        }
        tap("Qrope-\(l)", q, n * qDim)
        tap("Krope-\(l)", k, n * kvDim)
        if let queryScale { Ops.scale(q, by: queryScale, q, count: n * qDim) }
        // Append K and V to each sequence's cache in its type; a ring forgets what it overwrites.
        for s in 0..<segmentCount {
            let seg = segments[s], sequence = seg.sequence.takeUnretainedValue(), kv = sequence.kv
            for t in 0..<seg.count {
                let r = seg.row + t
                kv.store(layer: l, pos: seg.start + t, k: k + r * kvDim, v: v + r * kvDim)
            }
            sequence.kvIntactFrom[l] = max(sequence.kvIntactFrom[l], seg.start + seg.count - kv.capacity(l))
        }
        attention(layer: l, kqScale: kqScale)
        tap("kqv_out-\(l)", attn, n * qDim)
        quantizedAs = nil
        project(A.wo, attn, n, proj, &quantizedAs)
        tap("attn_out-\(l)", proj, n * c.embeddingLength)
    }

    /// Gated feed-forward on `n` rows of `xn`: `proj (n, dim) = down(act(gate · xn) ⊙ (up · xn))`.
    func feedForward(layer l: Int, _ F: FeedForwardWeights, _ activation: GatedActivation, rows n: Int) {
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
    /// the rows whose logits are wanted go on through the rest of the layer — per segment the last one for
    /// `.last`, none for `.none`, all for `.all` — moved to the front in row order. Returns the rows that go
    /// on. Besides saving the last layer's FFN for the other rows, this keeps each kept row in the matmul order
    /// llama.cpp uses for it (the kept rows of a segment form its group).
    func keepOutputRows() -> Int {
        let dim = c.embeddingLength
        var out = 0
        outGroupCount = 0
        for s in 0..<segmentCount {
            var seg = segments[s]
            let first: Int
            switch seg.logits {
            case .none: first = seg.row; seg.outCount = 0
            case .last: first = seg.row + seg.count - 1; seg.outCount = 1
            case .all: first = seg.row; seg.outCount = seg.count
            }
            seg.outRow = out
            if first != out {
                // Rows move to lower indices, one whole row at a time: never onto a row not yet moved.
                for r in 0..<seg.outCount {
                    (x + (out + r) * dim).update(from: x + (first + r) * dim, count: dim)
                    (proj + (out + r) * dim).update(from: proj + (first + r) * dim, count: dim)
                }
            }
            if seg.outCount > 0 {
                outGroupLengths[outGroupCount] = Int32(seg.outCount)
                outGroupCount += 1
            }
            out += seg.outCount
            segments[s] = seg
        }
        kept = true
        return out
    }

    /// The row groups of the current rows: one per segment, or per segment's kept rows after
    /// ``keepOutputRows()``.
    var groups: RowGroups { kept ? outputGroups : inputGroups }

    /// `x += proj` over `n` rows.
    func addResidual(rows n: Int) {
        Ops.add(x, proj, x, count: n * c.embeddingLength)
    }

    /// The end of layer `l`: its output to the tap, its weight pages released when streamed.
    func endLayer(_ l: Int, rows n: Int) {
        tap("l_out-\(l)", x, n * c.embeddingLength)
        streamer?.releaseLayer(l)
    }

    /// Final RMSNorm and the output head over the `n` kept rows: each segment's logits (its last row for
    /// `.last`, every row for `.all`) at its destination — computed for all kept rows at once (one pass over
    /// the head's weights), written there directly when the step has one segment or its segments'
    /// destinations are consecutive rows of one buffer (``Session/evaluateAll(_:_:)``), else copied out.
    func outputHead(rows n: Int) {
        guard n > 0 else { return }
        let w = model.weights, dim = c.embeddingLength, eps = c.rmsNormEpsilon, vocab = c.vocabularySize
        for t in 0..<n { Ops.rmsNorm(x + t * dim, weight: w.outputNorm, xn + t * dim, count: dim, eps: eps) }
        var direct = true
        for s in 0..<segmentCount where segments[s].outCount > 0
            && segments[s].destination != segments[0].destination + segments[s].outRow * vocab { direct = false; break }
        let y = direct ? segments[0].destination : logits!
        if let streamer {
            // Chunked: the whole head resident at once would break a streamed budget.
            streamer.outputHead(xn, y, tokens: n, scratch: actQ, pool: pool)
        } else {
            MatMul.mul(w.output, xn, tokens: n, y, scratch: actQ, groups: outputGroups, pool: pool)
        }
        guard !direct else { return }
        for s in 0..<segmentCount where segments[s].outCount > 0 {
            let seg = segments[s]
            seg.destination.update(from: logits + seg.outRow * vocab, count: seg.outCount * vocab)
        }
    }

    /// y (n, m.rows) = x (n, m.cols) · mᵀ, re-using the activations already quantized in `actQ` when the
    /// previous projection of the same input used the same activation format.
    func project(_ m: WeightMatrix, _ input: UnsafeMutablePointer<Float>, _ n: Int,
                 _ y: UnsafeMutablePointer<Float>, _ quantizedAs: inout GGMLType?) {
        quantizeInput(for: m, input, n, &quantizedAs)
        MatMul.mulQuantized(m, UnsafeRawPointer(actQ), tokens: n, y, groups: groups, pool: pool)
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
        MatMul.mulQuantized(a, ya, b, yb, c, yc, activations: UnsafeRawPointer(actQ), tokens: n, groups: groups, pool: pool)
    }

}
