import GGUF

// Row-range drivers of MatMul, generic over the block step and specialised per format by the switch in
// `mulRows` (the generic bodies are `@inline(__always)`, so each case gets its own straight-line code).

extension MatMul {
    /// Computes rows `rows` of `y (tokens, w.rows)` on the calling thread.
    static func mulRows(_ w: WeightMatrix, _ xq: UnsafeRawPointer, tokens: Int, _ y: UnsafeMutablePointer<Float>,
                        rows: Range<Int>, groups: RowGroups = .single) {
        #if arch(x86_64)
        if tokens >= tileMinimumTokens {
            switch w.type {
            case .q4_0: return matmulUnsigned8(Q4_0Unsigned.self, w.data, rowBytes: w.rowBytes, rowCount: w.rows, xq,
                                               xBytes: w.vecDotType.rowBytes(w.cols)!, cols: w.cols, tokens: tokens, y, rows: rows)
            case .q5_0: return matmulUnsigned8(Q5_0Unsigned.self, w.data, rowBytes: w.rowBytes, rowCount: w.rows, xq,
                                               xBytes: w.vecDotType.rowBytes(w.cols)!, cols: w.cols, tokens: tokens, y, rows: rows)
            case .q8_0: return matmulSigned8(Q8_0Bytes.self, w.data, rowBytes: w.rowBytes, rowCount: w.rows, xq,
                                             xBytes: w.vecDotType.rowBytes(w.cols)!, cols: w.cols, tokens: tokens, y, rows: rows)
            default: break
            }
        }
        #endif
        switch w.type {
        case .q4_0: mulRows(Q4_0Dot.self, w, xq, tokens: tokens, y, rows: rows)
        case .q4_1:
            if tokens == 1 {
                matvecQ4_1(w.data, rowBytes: w.rowBytes, xq, cols: w.cols, y, rows: rows)
            } else {
                matmulQ4_1(w.data, rowBytes: w.rowBytes, rowCount: w.rows, xq, xBytes: w.vecDotType.rowBytes(w.cols)!,
                           cols: w.cols, tokens: tokens, y, rows: rows)
            }
        case .q5_0: mulRows(Q5_0Dot.self, w, xq, tokens: tokens, y, rows: rows)
        case .q5_1: mulRows(Q5_1Dot.self, w, xq, tokens: tokens, y, rows: rows)
        case .q8_0: mulRows(Q8_0Dot.self, w, xq, tokens: tokens, y, rows: rows)
        case .q4_K, .q5_K, .q6_K:
            // llama.cpp's kernel per activation row (``dotOrder(type:rows:token:tokens:)``), picked within the
            // row's group (its sequence); consecutive rows of one order run together (each output element is the
            // same float operations whatever tile computes it).
            let xBytes = w.vecDotType.rowBytes(w.cols)!
            var group = 0, groupStart = 0, groupLength = groups.length(0, tokens: tokens)
            var runStart = 0
            var runOrder = dotOrder(type: w.type, rows: w.rows, token: 0, tokens: groupLength)
            var t = 1
            while t < tokens {
                if t - groupStart == groupLength {
                    group += 1; groupStart = t; groupLength = groups.length(group, tokens: tokens)
                }
                let order = dotOrder(type: w.type, rows: w.rows, token: t - groupStart, tokens: groupLength)
                if order != runOrder {
                    mulRows(w, order: runOrder, xq + runStart * xBytes, tokens: t - runStart, y + runStart * w.rows, rows: rows)
                    runStart = t; runOrder = order
                }
                t += 1
            }
            mulRows(w, order: runOrder, xq + runStart * xBytes, tokens: tokens - runStart, y + runStart * w.rows, rows: rows)
        case .f16: mulRows(F16Dot.self, w, xq, tokens: tokens, y, rows: rows)
        case .f32: mulRows(F32Dot.self, w, xq, tokens: tokens, y, rows: rows)
        case .bf16: mulRows(BF16Dot.self, w, xq, tokens: tokens, y, rows: rows)
        default: preconditionFailure("MatMul: no kernel for \(w.type.name)")
        }
    }

    /// K-quant rows in one of llama.cpp's orders.
    static func mulRows(_ w: WeightMatrix, order: DotOrder, _ xq: UnsafeRawPointer, tokens: Int,
                        _ y: UnsafeMutablePointer<Float>, rows: Range<Int>) {
        #if arch(x86_64)
        if tokens > 1 {
            let xBytes = w.vecDotType.rowBytes(w.cols)!
            switch (w.type, order) {
            case (.q4_K, .repackedGemm): return matmulK8(Q4_KGemmTile.self, w.data, rowBytes: w.rowBytes, rowCount: w.rows,
                                                         xq, xBytes: xBytes, cols: w.cols, tokens: tokens, y, rows: rows)
            case (.q4_K, .tiled): return matmulK8(Q4_KTiledTile.self, w.data, rowBytes: w.rowBytes, rowCount: w.rows,
                                                  xq, xBytes: xBytes, cols: w.cols, tokens: tokens, y, rows: rows)
            case (.q6_K, .tiled): return matmulK8(Q6_KTiledTile.self, w.data, rowBytes: w.rowBytes, rowCount: w.rows,
                                                  xq, xBytes: xBytes, cols: w.cols, tokens: tokens, y, rows: rows)
            // Decode rows of several sequences (their matvec orders), each weight row read once for all of them.
            case (.q4_K, .repackedGemv): return matmulK8(Q4_KGemvTile.self, w.data, rowBytes: w.rowBytes, rowCount: w.rows,
                                                         xq, xBytes: xBytes, cols: w.cols, tokens: tokens, y, rows: rows)
            case (.q6_K, .vec): return matmulQ6_KVec(w.data, rowBytes: w.rowBytes, rowCount: w.rows, xq, xBytes: xBytes,
                                                     cols: w.cols, tokens: tokens, y, rows: rows)
            default: break
            }
        }
        #endif
        switch (w.type, order) {
        case (.q4_K, .repackedGemm): mulRows(Q4_KGemmDot.self, w, xq, tokens: tokens, y, rows: rows)
        case (.q4_K, .repackedGemv): mulRows(Q4_KGemvDot.self, w, xq, tokens: tokens, y, rows: rows)
        case (.q4_K, .tiled): mulRows(Q4_KTiledDot.self, w, xq, tokens: tokens, y, rows: rows)
        case (.q4_K, _): mulRows(Q4_KDot.self, w, xq, tokens: tokens, y, rows: rows)
        case (.q5_K, .tiled): mulRows(Q5_KTiledDot.self, w, xq, tokens: tokens, y, rows: rows)
        case (.q5_K, _): mulRows(Q5_KDot.self, w, xq, tokens: tokens, y, rows: rows)
        case (.q6_K, .tiled): mulRows(Q6_KTiledDot.self, w, xq, tokens: tokens, y, rows: rows)
        default: mulRows(Q6_KDot.self, w, xq, tokens: tokens, y, rows: rows)
        }
    }

    /// Batches of at least this many activation rows run the x86-64 1 row × n ≤ 8 token tiles for Q4_0/Q5_0/Q8_0
    /// (a group of n < 8 tokens, e.g. a few sequences decoding together, runs the tile specialised for n: no
    /// padded work, each weight block read once for all n).
    static let tileMinimumTokens = 2

    /// Batches of at least this many activation rows take llama.cpp's tiled K-quant matmul.
    public static let tiledMinimumRows = 8

    /// Which of llama.cpp's CPU kernels computes activation row `token` of a batch of `tokens` rows times a
    /// `type` matrix with `rows` rows (AVX2 build, llama.cpp 0.3.36 defaults): Q4_K matrices with a multiple of
    /// 8 rows are repacked — GEMM for the first `tokens − tokens % 4` rows, GEMV for the rest; other K-quant
    /// matrices go through the tiled matmul when the batch has ≥ 8 rows; everything else is `vec_dot`. The one
    /// rule `mulQuantized` and its reference follow.
    public static func dotOrder(type: GGMLType, rows: Int, token: Int, tokens: Int) -> DotOrder {
        switch type {
        case .q4_K where rows % 8 == 0:
            return token < tokens - tokens % 4 ? .repackedGemm : .repackedGemv
        case .q4_K, .q5_K, .q6_K:
            return tokens >= tiledMinimumRows ? .tiled : .vec
        default:
            return .vec
        }
    }

    @inline(__always)
    static func mulRows<K: BlockDot>(_ k: K.Type, _ w: WeightMatrix, _ xq: UnsafeRawPointer, tokens: Int,
                                     _ y: UnsafeMutablePointer<Float>, rows: Range<Int>) {
        if tokens == 1 {
            matvec(k, w.data, rowBytes: w.rowBytes, xq, cols: w.cols, y, rows: rows)
        } else {
            let xBytes = w.vecDotType.rowBytes(w.cols)!
            matmul(k, w.data, rowBytes: w.rowBytes, rowCount: w.rows, xq, xBytes: xBytes, cols: w.cols,
                   tokens: tokens, y, rows: rows)
        }
    }

    /// y[r] = dot(row r, x) for r in `rows`, 4 rows per pass.
    @inline(__always)
    static func matvec<K: BlockDot>(_: K.Type, _ w: UnsafeRawPointer, rowBytes: Int, _ x: UnsafeRawPointer,
                                    cols: Int, _ y: UnsafeMutablePointer<Float>, rows: Range<Int>) {
        let blocks = cols / K.elements, rest = cols - blocks * K.elements
        let tailW = blocks * K.weightBytes, tailX = blocks * K.activationBytes
        var r = rows.lowerBound
        while !K.streamsRows && r + 4 <= rows.upperBound {
            let w0 = w + r * rowBytes, w1 = w0 + rowBytes, w2 = w1 + rowBytes, w3 = w2 + rowBytes
            var a0 = DotAccumulator(), a1 = DotAccumulator(), a2 = DotAccumulator(), a3 = DotAccumulator()
            let ahead = 4 * rowBytes  // the same bytes of the next 4 rows (decode streams from DRAM)
            for b in 0..<blocks {
                let xb = x + b * K.activationBytes, o = b * K.weightBytes
                var line = 0
                repeat {  // every cache line of blocks wider than one line
                    let p = ahead + o + line
                    prefetch(w0 + p); prefetch(w1 + p); prefetch(w2 + p); prefetch(w3 + p)
                    line += 64
                } while line < K.weightBytes
                K.accumulate(w0 + o, xb, &a0)
                K.accumulate(w1 + o, xb, &a1)
                K.accumulate(w2 + o, xb, &a2)
                K.accumulate(w3 + o, xb, &a3)
            }
            if rest > 0 {
                K.tail(w0 + tailW, x + tailX, count: rest, &a0)
                K.tail(w1 + tailW, x + tailX, count: rest, &a1)
                K.tail(w2 + tailW, x + tailX, count: rest, &a2)
                K.tail(w3 + tailW, x + tailX, count: rest, &a3)
            }
            y[r] = a0.result
            y[r + 1] = a1.result
            y[r + 2] = a2.result
            y[r + 3] = a3.result
            r += 4
        }
        while r < rows.upperBound {
            // One row at a time (`K.dot`'s operations), prefetching `streamAhead` bytes ahead in the stream.
            let wr = w + r * rowBytes
            var acc = DotAccumulator()
            for b in 0..<blocks {
                let o = b * K.weightBytes
                var line = 0
                repeat {
                    prefetch(wr + streamAhead + o + line)
                    line += 64
                } while line < K.weightBytes
                K.accumulate(wr + o, x + b * K.activationBytes, &acc)
            }
            if rest > 0 { K.tail(wr + tailW, x + tailX, count: rest, &acc) }
            y[r] = acc.result
            r += 1
        }
    }

    /// How far ahead (bytes) the one-row matvec prefetches its weight stream.
    static let streamAhead = 2048

    /// y[t, r] for all tokens and r in `rows`: 2-row × 4-token register tiles, then 2×1, then 1×1 edges.
    @inline(__always)
    static func matmul<K: BlockDot>(_: K.Type, _ w: UnsafeRawPointer, rowBytes: Int, rowCount: Int,
                                    _ x: UnsafeRawPointer, xBytes: Int, cols: Int, tokens: Int,
                                    _ y: UnsafeMutablePointer<Float>, rows: Range<Int>) {
        let blocks = cols / K.elements, rest = cols - blocks * K.elements
        let tailW = blocks * K.weightBytes, tailX = blocks * K.activationBytes
        var r = rows.lowerBound
        while r + 2 <= rows.upperBound {
            let w0 = w + r * rowBytes, w1 = w0 + rowBytes
            var t = 0
            while t + 4 <= tokens {
                let x0 = x + t * xBytes, x1 = x0 + xBytes, x2 = x1 + xBytes, x3 = x2 + xBytes
                var a00 = DotAccumulator(), a01 = DotAccumulator(), a02 = DotAccumulator(), a03 = DotAccumulator()
                var a10 = DotAccumulator(), a11 = DotAccumulator(), a12 = DotAccumulator(), a13 = DotAccumulator()
                for b in 0..<blocks {
                    let o = b * K.weightBytes, p = b * K.activationBytes
                    K.accumulate(w0 + o, x0 + p, &a00)
                    K.accumulate(w0 + o, x1 + p, &a01)
                    K.accumulate(w0 + o, x2 + p, &a02)
                    K.accumulate(w0 + o, x3 + p, &a03)
                    K.accumulate(w1 + o, x0 + p, &a10)
                    K.accumulate(w1 + o, x1 + p, &a11)
                    K.accumulate(w1 + o, x2 + p, &a12)
                    K.accumulate(w1 + o, x3 + p, &a13)
                }
                if rest > 0 {
                    K.tail(w0 + tailW, x0 + tailX, count: rest, &a00)
                    K.tail(w0 + tailW, x1 + tailX, count: rest, &a01)
                    K.tail(w0 + tailW, x2 + tailX, count: rest, &a02)
                    K.tail(w0 + tailW, x3 + tailX, count: rest, &a03)
                    K.tail(w1 + tailW, x0 + tailX, count: rest, &a10)
                    K.tail(w1 + tailW, x1 + tailX, count: rest, &a11)
                    K.tail(w1 + tailW, x2 + tailX, count: rest, &a12)
                    K.tail(w1 + tailW, x3 + tailX, count: rest, &a13)
                }
                y[t * rowCount + r] = a00.result
                y[(t + 1) * rowCount + r] = a01.result
                y[(t + 2) * rowCount + r] = a02.result
                y[(t + 3) * rowCount + r] = a03.result
                y[t * rowCount + r + 1] = a10.result
                y[(t + 1) * rowCount + r + 1] = a11.result
                y[(t + 2) * rowCount + r + 1] = a12.result
                y[(t + 3) * rowCount + r + 1] = a13.result
                t += 4
            }
            while t < tokens {
                let xt = x + t * xBytes
                y[t * rowCount + r] = K.dot(w0, xt, count: cols)
                y[t * rowCount + r + 1] = K.dot(w1, xt, count: cols)
                t += 1
            }
            r += 2
        }
        while r < rows.upperBound {
            for t in 0..<tokens { y[t * rowCount + r] = K.dot(w + r * rowBytes, x + t * xBytes, count: cols) }
            r += 1
        }
    }
}
