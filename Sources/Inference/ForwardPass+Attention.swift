// Attention of a step's rows, each over its own sequence's KV cache: the f16 cache in llama.cpp's CPU order
// (bit for bit) with its vector kernels, and the quantized cache types.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Kernels

extension ForwardPass {
    /// Causal (sliding-window on such layers) grouped-query attention of every row of the step over its own
    /// sequence's cache. Writes `attn (rows, qDim)`. The work items are (row, head) pairs, handed to at most
    /// `attnTasks` tasks (item i to task i mod tasks), each with its own score row; which task computes an
    /// item never changes its result.
    func attention(layer l: Int, kqScale scale: Float) {
        let heads = c.headCount
        let items = rows * heads
        let tasks = min(items, heads * attnTasksPerHead)
        pool.parallelFor(tasks) { task in
            var i = task
            while i < items {
                let t = i / heads, h = i % heads
                let seg = segment(ofRow: t)
                let sequence = seg.sequence.takeUnretainedValue()
                if sequence.kv.type == .f16 {
                    attendF16(layer: l, row: t, head: h, task: task, seg, sequence, scale)
                } else {
                    attendQuantized(layer: l, row: t, head: h, task: task, seg, sequence, scale)
                }
                i += tasks
            }
        }
    }

    /// One row and head over an f16 cache.
    ///
    /// Numerics follow llama.cpp's CPU graph without flash attention, operation for operation, so logits
    /// agree to the bit where the rest does: Q and the softmax weights are rounded to f16 like the cache;
    /// Q·K and P·V accumulate in 8 float lanes with FMAs — summed like tinyBLAS when the row's sequence has
    /// ≥ 2 rows in the step (its own batch), like `ggml_vec_dot_f16` for a single token; the softmax uses
    /// ggml's vectorised `expf` and a double sum. Positions outside the window weigh exactly 0 in llama.cpp's
    /// sums, so the loops skip them (whole pages before the window; the products they would add are +0). On a
    /// ring, positions map to pages modulo the ring (``KVCache/page(_:_:)``).
    @inline(__always)
    private func attendF16(layer l: Int, row t: Int, head h: Int, task: Int, _ seg: StepSegment,
                           _ sequence: SequenceState, _ scale: Float) {
        let hd = c.headDim, qDim = c.qDim, ctxPad = capacity.ctxPad
        let group = c.headCount / c.headCountKV
        let layer = c.attentionLayers[l], intactFrom = sequence.kvIntactFrom[l]
        let kv = sequence.kv
        // Page-blocked addressing: K row of position j at kBase + page(j)·pageStride + (j & mask)·kvDim;
        // V row of dimension i over the positions of page p at vBase + p·pageStride + i·pageLen.
        let kBase = kv.layerBase(l).assumingMemoryBound(to: Float16.self)
        let vBase = UnsafePointer(kv.vBlock(l, page: 0).assumingMemoryBound(to: Float16.self))
        let pageStride = kv.layerBlockBytes / 2, pageLen = kv.pageLen, shift = kv.pageShift, mask = kv.pageMask
        let ringPages = kv.layerPages[l]
        let kvDim = c.kvDim
        let batched = seg.count >= 2
        let kvh = h / group
        let s = scores + task * ctxPad
        let qh = q16 + task * hd
        let p = p16 + task * ctxPad
        let pos = seg.start + t - seg.row
        let first = max(layer.firstVisible(from: pos), intactFrom)
        let qv = q + t * qDim + h * hd
        for i in 0..<hd { qh[i] = Float16(qv[i]) }
        // Scores; masked positions (before `first`) stay out of the softmax.
        var maxScore = -Float.infinity
        @inline(__always) func kRow(_ j: Int) -> UnsafePointer<Float16> {
            var page = j >> shift
            if page >= ringPages { page %= ringPages }
            return UnsafePointer(kBase + page * pageStride + (j & mask) * kvDim + kvh * hd)
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
        // P over whole pages from the one holding `first` (earlier pages would only add +0 products).
        let from = (first >> shift) << shift, firstPage = (first >> shift) % ringPages
        let padded = batched ? (pos + 8) / 8 * 8 : (pos + 32) / 32 * 32
        for j in from..<padded { p[j] = (j >= first && j <= pos) ? Float16(s[j] * inv) : 0 }
        let pFrom = UnsafePointer(p + from), count = padded - from
        let out = attn + t * qDim + h * hd
        var i = 0
        if batched {
            // Four output dimensions at a time, sharing the loads of P (bit-identical per dimension).
            while i + 4 <= hd {
                let o = AttentionMath.dotTiledPaged4(vBase + (kvh * hd + i) * pageLen, rowStride: pageLen,
                                                     pageStride: pageStride, pageLen: pageLen,
                                                     firstPage: firstPage, ringPages: ringPages, pFrom, count)
                out[i] = o[0]; out[i + 1] = o[1]; out[i + 2] = o[2]; out[i + 3] = o[3]
                i += 4
            }
        }
        while i < hd {
            let vRow = vBase + (kvh * hd + i) * pageLen
            out[i] = batched
                ? AttentionMath.dotTiledPaged(vRow, pageStride: pageStride, pageLen: pageLen, firstPage: firstPage,
                                              ringPages: ringPages, pFrom, count)
                : AttentionMath.dotVecPaged(vRow, pageStride: pageStride, pageLen: pageLen, firstPage: firstPage,
                                            ringPages: ringPages, pFrom, count)
            i += 1
        }
    }

    /// One row and head over a quantized cache: each key row of the head is dequantized and dotted with the
    /// f32 query (8 lanes), softmax in f32 with `expf`, and the output is `Σ p_j · v_j` accumulated over
    /// dequantized value rows, divided by the sum. Not llama.cpp's order (its quantized cache needs flash
    /// attention): fidelity is measured against the f16 path instead.
    @inline(__always)
    private func attendQuantized(layer l: Int, row t: Int, head h: Int, task: Int, _ seg: StepSegment,
                                 _ sequence: SequenceState, _ scale: Float) {
        let hd = c.headDim, qDim = c.qDim, ctxPad = capacity.ctxPad
        let group = c.headCount / c.headCountKV, kvh = h / group
        let layer = c.attentionLayers[l], intactFrom = sequence.kvIntactFrom[l]
        let kv = sequence.kv
        let headBytes = kv.type.rowBytes(hd)
        let s = scores + task * ctxPad
        let row = kvTmp + task * 2 * hd, acc = row + hd
        let pos = seg.start + t - seg.row
        let first = max(layer.firstVisible(from: pos), intactFrom)
        let qv = q + t * qDim + h * hd
        var maxScore = -Float.infinity
        for j in first...pos {
            kv.dequantize(kv.kRow(l, j) + kvh * headBytes, row, count: hd)
            let d = QuantizedAttentionMath.dot(row, qv, hd) * scale
            s[j] = d
            maxScore = max(maxScore, d)
        }
        var sum: Float = 0
        for j in first...pos { let e = expf(s[j] - maxScore); s[j] = e; sum += e }
        for i in 0..<hd { acc[i] = 0 }
        for j in first...pos {
            kv.dequantize(kv.vRow(l, j) + kvh * headBytes, row, count: hd)
            QuantizedAttentionMath.axpy(s[j], row, acc, hd)
        }
        let inv = 1 / sum
        let out = attn + t * qDim + h * hd
        for i in 0..<hd { out[i] = acc[i] * inv }
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
                               firstPage: Int = 0, ringPages: Int = .max,
                               _ b: UnsafePointer<Float16>, _ n: Int) -> SIMD4<Float> {
        var c0 = SIMD8<Float>(), c1 = SIMD8<Float>(), c2 = SIMD8<Float>(), c3 = SIMD8<Float>()
        var i = 0, pg = firstPage
        while i < n {
            let page = a + pg * pageStride
            let m = min(pageLen, n - i)
            var k = 0
            while k < m {
                let x = load8(b + i + k)
                c0.addProduct(load8(page + k), x); c1.addProduct(load8(page + rowStride + k), x)
                c2.addProduct(load8(page + 2 * rowStride + k), x); c3.addProduct(load8(page + 3 * rowStride + k), x)
                k += 8
            }
            i += m; pg += 1
            if pg == ringPages { pg = 0 }
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
    /// over the row laid out contiguously. The walk starts at page `firstPage` of `a` and wraps after
    /// `ringPages` pages (a sliding-window ring).
    @inline(__always)
    static func dotTiledPaged(_ a: UnsafePointer<Float16>, pageStride: Int, pageLen: Int, firstPage: Int = 0,
                              ringPages: Int = .max, _ b: UnsafePointer<Float16>, _ n: Int) -> Float {
        var acc = SIMD8<Float>()
        var i = 0, pg = firstPage
        while i < n {
            let page = a + pg * pageStride
            let m = min(pageLen, n - i)
            var k = 0
            while k < m { acc.addProduct(load8(page + k), load8(b + i + k)); k += 8 }
            i += m; pg += 1
            if pg == ringPages { pg = 0 }
        }
        return hsum8(acc)
    }

    /// ``dotVec(_:_:_:)`` over a paged row (pageLen % 32 == 0, n % 32 == 0), bit-identical to the contiguous one.
    @inline(__always)
    static func dotVecPaged(_ a: UnsafePointer<Float16>, pageStride: Int, pageLen: Int, firstPage: Int = 0,
                            ringPages: Int = .max, _ b: UnsafePointer<Float16>, _ n: Int) -> Float {
        var s0 = SIMD8<Float>(), s1 = SIMD8<Float>(), s2 = SIMD8<Float>(), s3 = SIMD8<Float>()
        var i = 0, pg = firstPage
        while i < n {
            let page = a + pg * pageStride
            let m = min(pageLen, n - i)
            var k = 0
            while k < m {
                s0.addProduct(load8(page + k), load8(b + i + k))
                s1.addProduct(load8(page + k + 8), load8(b + i + k + 8))
                s2.addProduct(load8(page + k + 16), load8(b + i + k + 16))
                s3.addProduct(load8(page + k + 24), load8(b + i + k + 24))
                k += 32
            }
            i += m; pg += 1
            if pg == ringPages { pg = 0 }
        }
        s0 = s0 + s2; s1 = s1 + s3
        s0 = s0 + s1
        let t = s0.lowHalf + s0.highHalf
        return Float(Double((t[0] + t[1]) + (t[2] + t[3])))
    }
}
