// Prefill tiles on x86-64 for the 32-element formats against Q8_0 activations (Q4_0, Q5_0, Q8_0): one weight
// row × 8 tokens per pass, each weight block unpacked once and `vpmaddubsw`ed with the 8 tokens' bytes — Q8_0
// through ggml's sign trick; Q4_0/Q5_0 as unsigned quants u = q + o (o = 8, 16) with o·Σy per lane subtracted,
// Σy taken from the pack (the same exact integers, one `vpsignb` per token fewer on the multiply ports). Per (row, token) the float steps are exactly those of the format's
// `BlockDot.accumulate` — d_w·d_x rounded once, one fused multiply-add per block into 8 lanes in block order,
// then `DotAccumulator.result` — so every output is bit-identical to `Dot.row` (tested); only the integer
// work is shared. Other CPUs use the generic 2×4 tile (`MatMul.matmul`).

#if arch(x86_64)
import _Builtin_intrinsics.intel

/// A 32-element weight format whose block is an fp16 scale at offset 0 and quants that unpack to 32 signed bytes
/// (Q8_0; Q4_0/Q5_0 take the unsigned form below, measured 5–8 % faster).
protocol SignedBytesBlock {
    static var weightBytes: Int { get }
    /// The 32 signed quants of the block at `w`, element order.
    static func quants(_ w: UnsafeRawPointer) -> __m256i
}

enum Q8_0Bytes: SignedBytesBlock {
    static let weightBytes = 34
    @inline(__always) static func quants(_ w: UnsafeRawPointer) -> __m256i { w.loadUnaligned(fromByteOffset: 2, as: __m256i.self) }
}

/// A 32-element weight format whose block is an fp16 scale at offset 0 and quants q = u − o with u unsigned
/// (0…31) and o = 2^offsetShift: Σ q·y = Σ u·y − o·Σ y, per 4-element lane.
protocol UnsignedBytesBlock {
    static var weightBytes: Int { get }
    /// log2 of the offset o.
    static var offsetShift: Int32 { get }
    /// The 32 unsigned quants u of the block at `w`, element order.
    static func quants(_ w: UnsafeRawPointer) -> __m256i
}

enum Q4_0Unsigned: UnsignedBytesBlock {
    static let weightBytes = 18
    static let offsetShift: Int32 = 3
    @inline(__always) static func quants(_ w: UnsafeRawPointer) -> __m256i { AVX2Lanes.nibbles(w + 2) }
}

enum Q5_0Unsigned: UnsignedBytesBlock {
    static let weightBytes = 22
    static let offsetShift: Int32 = 4
    /// nibble | fifth bit << 4.
    @inline(__always) static func quants(_ w: UnsafeRawPointer) -> __m256i {
        _mm256_or_si256(AVX2Lanes.nibbles(w + 6), _mm256_and_si256(AVX2Lanes.bits(w + 2), _mm256_set1_epi8(16)))
    }
}

extension MatMul {
    /// Bytes of one block of 8 Q8_0 tokens packed for ``matmulUnsigned8(_:_:rowBytes:rowCount:_:xBytes:cols:tokens:_:rows:)``:
    /// the ``packQ8_0x8(_:xBytes:tokens:blocks:into:)`` layout, then token j's 8 Int32 lanes Σ y_{4k…4k+3} at
    /// 288 + 32j.
    static let packedQ8_0SumsBlockBytes = 32 + tileTokens * 64

    /// y[t, r] for all tokens and r in `rows` (prefill) of a Q4_0/Q5_0 matrix: as
    /// ``matmulSigned8(_:_:rowBytes:rowCount:_:xBytes:cols:tokens:_:rows:)``, but the integer lanes of a block and
    /// token are `vpmaddubsw(u, y)` summed in pairs minus o·(Σ y per lane) — exactly ggml's lanes of Σ q·y.
    static func matmulUnsigned8<K: UnsignedBytesBlock>(_ k: K.Type, _ w: UnsafeRawPointer, rowBytes: Int, rowCount: Int,
                                                      _ x: UnsafeRawPointer, xBytes: Int, cols: Int, tokens: Int,
                                                      _ y: UnsafeMutablePointer<Float>, rows: Range<Int>) {
        let blocks = cols / 32
        // Scratch: the packed group (blocks × 544 B), then the row's scales (blocks × 8 f32).
        let pk = TileScratch.buffer(bytes: blocks * (packedQ8_0SumsBlockBytes + 32))
        let stream = tokens <= tileTokens  // few tokens: the weights stream from DRAM, prefetch ahead
        var t = 0
        while t < tokens {
            let n = min(tileTokens, tokens - t)
            let xt = x + t * xBytes, yt = y + t * rowCount
            switch n {
            case 8: unsignedGroup8(Tokens8.self, k, w, rowBytes: rowBytes, rowCount: rowCount, xt, xBytes: xBytes, blocks: blocks, yt, rows: rows, pk, stream)
            case 7: unsignedGroup8(Tokens7.self, k, w, rowBytes: rowBytes, rowCount: rowCount, xt, xBytes: xBytes, blocks: blocks, yt, rows: rows, pk, stream)
            case 6: unsignedGroup8(Tokens6.self, k, w, rowBytes: rowBytes, rowCount: rowCount, xt, xBytes: xBytes, blocks: blocks, yt, rows: rows, pk, stream)
            case 5: unsignedGroup8(Tokens5.self, k, w, rowBytes: rowBytes, rowCount: rowCount, xt, xBytes: xBytes, blocks: blocks, yt, rows: rows, pk, stream)
            case 4: unsignedGroup8(Tokens4.self, k, w, rowBytes: rowBytes, rowCount: rowCount, xt, xBytes: xBytes, blocks: blocks, yt, rows: rows, pk, stream)
            case 3: unsignedGroup8(Tokens3.self, k, w, rowBytes: rowBytes, rowCount: rowCount, xt, xBytes: xBytes, blocks: blocks, yt, rows: rows, pk, stream)
            case 2: unsignedGroup8(Tokens2.self, k, w, rowBytes: rowBytes, rowCount: rowCount, xt, xBytes: xBytes, blocks: blocks, yt, rows: rows, pk, stream)
            default: unsignedGroup8(Tokens1.self, k, w, rowBytes: rowBytes, rowCount: rowCount, xt, xBytes: xBytes, blocks: blocks, yt, rows: rows, pk, stream)
            }
            t += n
        }
    }

    /// One group of `n` (`N.n`, 1…8: a constant in each specialisation) tokens of ``matmulUnsigned8(_:_:rowBytes:rowCount:_:xBytes:cols:tokens:_:rows:)``:
    /// the work of tokens past `n` folds away.
    static func unsignedGroup8<K: UnsignedBytesBlock, N: TokenCount>(_: N.Type, _: K.Type, _ w: UnsafeRawPointer, rowBytes: Int, rowCount: Int,
                                                     _ x: UnsafeRawPointer, xBytes: Int, blocks: Int,
                                                     _ y: UnsafeMutablePointer<Float>, rows: Range<Int>,
                                                     _ pk: UnsafeMutableRawPointer, _ stream: Bool) {
        let n = N.n  // a constant in each specialisation
        let stride = packedQ8_0SumsBlockBytes
        let ds = pk + blocks * stride
        let ones = _mm256_set1_epi16(1), onesU8 = _mm256_set1_epi8(1)
        // The packQ8_0x8 layout with a wider stride, then the activation lane sums.
        for b in 0..<blocks {
            packQ8_0x8(x + b * 34, xBytes: xBytes, tokens: n, blocks: 1, into: pk + b * stride)
            let q = pk + b * stride
            for j in 0..<n {
                let qy = UnsafeRawPointer(q).load(fromByteOffset: 32 + 32 * j, as: __m256i.self)
                let sums = _mm256_madd_epi16(_mm256_maddubs_epi16(onesU8, qy), ones)
                (q + 288 + 32 * j).storeBytes(of: _mm256_slli_epi32(sums, K.offsetShift), as: __m256i.self)
            }
        }
        for r in rows {
            let wr = w + r * rowBytes
            for b in 0..<blocks {  // d_w·d_xj, as `halves2(w, x)`'s h[0]·h[1]
                let dx = UnsafeRawPointer(pk + b * stride).load(as: SIMD8<Float>.self)
                (ds + 32 * b).storeBytes(of: SIMD8<Float>(repeating: KSIMD.half(wr + b * K.weightBytes)) * dx,
                                         as: SIMD8<Float>.self)
            }
            var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
            var a4 = SIMD8<Float>(), a5 = SIMD8<Float>(), a6 = SIMD8<Float>(), a7 = SIMD8<Float>()
            for b in 0..<blocks {
                if stream { prefetch(wr + streamAhead + b * K.weightBytes) }
                let q = UnsafeRawPointer(pk + b * stride), d = UnsafeRawPointer(ds + 32 * b)
                let wu = K.quants(wr + b * K.weightBytes)
                @inline(__always) func lanes(_ j: Int) -> SIMD8<Float> {
                    let uy = _mm256_madd_epi16(_mm256_maddubs_epi16(wu, q.load(fromByteOffset: 32 + 32 * j, as: __m256i.self)), ones)
                    let lanes = _mm256_sub_epi32(uy, q.load(fromByteOffset: 288 + 32 * j, as: __m256i.self))
                    return KSIMD.float(unsafeBitCast(lanes, to: SIMD8<Int32>.self))
                }
                @inline(__always) func scale(_ j: Int) -> SIMD8<Float> {
                    SIMD8(repeating: d.load(fromByteOffset: 4 * j, as: Float.self))
                }
                a0.addProduct(lanes(0), scale(0))
                if n > 1 { a1.addProduct(lanes(1), scale(1)) }
                if n > 2 { a2.addProduct(lanes(2), scale(2)) }
                if n > 3 { a3.addProduct(lanes(3), scale(3)) }
                if n > 4 { a4.addProduct(lanes(4), scale(4)) }
                if n > 5 { a5.addProduct(lanes(5), scale(5)) }
                if n > 6 { a6.addProduct(lanes(6), scale(6)) }
                if n > 7 { a7.addProduct(lanes(7), scale(7)) }
            }
            storeResults(n, a0, a1, a2, a3, a4, a5, a6, a7, y + r, rowCount: rowCount)
        }
    }

    /// `DotAccumulator.result` of the first `n` accumulators (`hsum + 0 + 0`, the same float steps), token j's at
    /// `out[j · rowCount]`.
    @inline(__always)
    static func storeResults(_ n: Int, _ a0: SIMD8<Float>, _ a1: SIMD8<Float>, _ a2: SIMD8<Float>, _ a3: SIMD8<Float>,
                             _ a4: SIMD8<Float>, _ a5: SIMD8<Float>, _ a6: SIMD8<Float>, _ a7: SIMD8<Float>,
                             _ out: UnsafeMutablePointer<Float>, rowCount: Int) {
        storeSums(n, a0, a1, a2, a3, a4, a5, a6, a7, plus: SIMD8(), then: SIMD8(), out, rowCount: rowCount)
    }

    /// `hsum(aj) + plus[j]` (then `+ then[j]`) of the first `n` accumulators, token j's at `out[j · rowCount]`:
    /// horizontal sums four at a time (``KSIMD/hsum4(_:_:_:_:)``, bit-identical to one at a time). `n` is a
    /// constant where this is inlined, so sums of missing tokens fold away when n ≤ 4.
    @inline(__always)
    static func storeSums(_ n: Int, _ a0: SIMD8<Float>, _ a1: SIMD8<Float>, _ a2: SIMD8<Float>, _ a3: SIMD8<Float>,
                          _ a4: SIMD8<Float>, _ a5: SIMD8<Float>, _ a6: SIMD8<Float>, _ a7: SIMD8<Float>,
                          plus: SIMD8<Float>, then: SIMD8<Float>? = nil,
                          _ out: UnsafeMutablePointer<Float>, rowCount: Int) {
        var lo = KSIMD.hsum4(a0, a1, a2, a3) + plus.lowHalf
        if let then { lo += then.lowHalf }
        out[0] = lo[0]
        if n > 1 { out[rowCount] = lo[1] }
        if n > 2 { out[2 * rowCount] = lo[2] }
        if n > 3 { out[3 * rowCount] = lo[3] }
        if n > 4 {
            var hi = KSIMD.hsum4(a4, a5, a6, a7) + plus.highHalf
            if let then { hi += then.highHalf }
            out[4 * rowCount] = hi[0]
            if n > 5 { out[5 * rowCount] = hi[1] }
            if n > 6 { out[6 * rowCount] = hi[2] }
            if n > 7 { out[7 * rowCount] = hi[3] }
        }
    }

    /// Bytes of one block of 8 Q8_0 tokens packed for ``matmulSigned8(_:_:rowBytes:rowCount:_:xBytes:cols:tokens:_:rows:)``:
    /// `[d_x0 … d_x7]` f32, then token j's 32 quant bytes at 32 + 32j.
    static let packedQ8_0BlockBytes = 32 + tileTokens * 32

    /// Packs `n` (1…8) Q8_0 rows at `x` (`xBytes` apart), `blocks` blocks each; scale lanes past `n` repeat the
    /// last token (valid data whose results are never stored), quants are copied for the n tokens only (`n` is a
    /// constant where this is inlined). Values are copied (scales widened exactly).
    @inline(__always)
    static func packQ8_0x8(_ x: UnsafeRawPointer, xBytes: Int, tokens n: Int, blocks: Int, into pk: UnsafeMutableRawPointer) {
        @inline(__always) func row(_ j: Int) -> UnsafeRawPointer { x + min(j, n - 1) * xBytes }
        let x0 = x, x1 = row(1), x2 = row(2), x3 = row(3), x4 = row(4), x5 = row(5), x6 = row(6), x7 = row(7)
        for b in 0..<blocks {
            let p = b * 34, o = pk + b * packedQ8_0BlockBytes
            let bits = SIMD8<UInt16>(x0.loadUnaligned(fromByteOffset: p, as: UInt16.self), x1.loadUnaligned(fromByteOffset: p, as: UInt16.self),
                                     x2.loadUnaligned(fromByteOffset: p, as: UInt16.self), x3.loadUnaligned(fromByteOffset: p, as: UInt16.self),
                                     x4.loadUnaligned(fromByteOffset: p, as: UInt16.self), x5.loadUnaligned(fromByteOffset: p, as: UInt16.self),
                                     x6.loadUnaligned(fromByteOffset: p, as: UInt16.self), x7.loadUnaligned(fromByteOffset: p, as: UInt16.self))
            o.storeBytes(of: KSIMD.widen(unsafeBitCast(bits, to: SIMD8<Float16>.self)), as: SIMD8<Float>.self)
            (o + 32).storeBytes(of: (x0 + p + 2).loadUnaligned(as: __m256i.self), as: __m256i.self)
            if n > 1 { (o + 64).storeBytes(of: (x1 + p + 2).loadUnaligned(as: __m256i.self), as: __m256i.self) }
            if n > 2 { (o + 96).storeBytes(of: (x2 + p + 2).loadUnaligned(as: __m256i.self), as: __m256i.self) }
            if n > 3 { (o + 128).storeBytes(of: (x3 + p + 2).loadUnaligned(as: __m256i.self), as: __m256i.self) }
            if n > 4 { (o + 160).storeBytes(of: (x4 + p + 2).loadUnaligned(as: __m256i.self), as: __m256i.self) }
            if n > 5 { (o + 192).storeBytes(of: (x5 + p + 2).loadUnaligned(as: __m256i.self), as: __m256i.self) }
            if n > 6 { (o + 224).storeBytes(of: (x6 + p + 2).loadUnaligned(as: __m256i.self), as: __m256i.self) }
            if n > 7 { (o + 256).storeBytes(of: (x7 + p + 2).loadUnaligned(as: __m256i.self), as: __m256i.self) }
        }
    }

    /// y[t, r] for all tokens and r in `rows` (prefill, `tokens ≥ 2`) of a Q4_0/Q5_0/Q8_0 matrix: per group of up
    /// to 8 tokens, pack them once (``packQ8_0x8(_:xBytes:tokens:blocks:into:)``, this thread's ``TileScratch``),
    /// then per weight row a scale pass (d_w·d_x of every block and token, to scratch) and an integer pass (each
    /// block unpacked once, `vpmaddubsw` with each token, one fma per token with its scale broadcast from memory).
    static func matmulSigned8<K: SignedBytesBlock>(_ k: K.Type, _ w: UnsafeRawPointer, rowBytes: Int, rowCount: Int,
                                                  _ x: UnsafeRawPointer, xBytes: Int, cols: Int, tokens: Int,
                                                  _ y: UnsafeMutablePointer<Float>, rows: Range<Int>) {
        let blocks = cols / 32
        // Scratch: the packed group (blocks × 288 B), then the row's scales (blocks × 8 f32).
        let pk = TileScratch.buffer(bytes: blocks * (packedQ8_0BlockBytes + 32))
        let stream = tokens <= tileTokens  // few tokens: the weights stream from DRAM, prefetch ahead
        var t = 0
        while t < tokens {
            let n = min(tileTokens, tokens - t)
            let xt = x + t * xBytes, yt = y + t * rowCount
            switch n {
            case 8: signedGroup8(Tokens8.self, k, w, rowBytes: rowBytes, rowCount: rowCount, xt, xBytes: xBytes, blocks: blocks, yt, rows: rows, pk, stream)
            case 7: signedGroup8(Tokens7.self, k, w, rowBytes: rowBytes, rowCount: rowCount, xt, xBytes: xBytes, blocks: blocks, yt, rows: rows, pk, stream)
            case 6: signedGroup8(Tokens6.self, k, w, rowBytes: rowBytes, rowCount: rowCount, xt, xBytes: xBytes, blocks: blocks, yt, rows: rows, pk, stream)
            case 5: signedGroup8(Tokens5.self, k, w, rowBytes: rowBytes, rowCount: rowCount, xt, xBytes: xBytes, blocks: blocks, yt, rows: rows, pk, stream)
            case 4: signedGroup8(Tokens4.self, k, w, rowBytes: rowBytes, rowCount: rowCount, xt, xBytes: xBytes, blocks: blocks, yt, rows: rows, pk, stream)
            case 3: signedGroup8(Tokens3.self, k, w, rowBytes: rowBytes, rowCount: rowCount, xt, xBytes: xBytes, blocks: blocks, yt, rows: rows, pk, stream)
            case 2: signedGroup8(Tokens2.self, k, w, rowBytes: rowBytes, rowCount: rowCount, xt, xBytes: xBytes, blocks: blocks, yt, rows: rows, pk, stream)
            default: signedGroup8(Tokens1.self, k, w, rowBytes: rowBytes, rowCount: rowCount, xt, xBytes: xBytes, blocks: blocks, yt, rows: rows, pk, stream)
            }
            t += n
        }
    }

    /// One group of `n` (`N.n`, 1…8: a constant in each specialisation) tokens of ``matmulSigned8(_:_:rowBytes:rowCount:_:xBytes:cols:tokens:_:rows:)``.
    static func signedGroup8<K: SignedBytesBlock, N: TokenCount>(_: N.Type, _: K.Type, _ w: UnsafeRawPointer, rowBytes: Int, rowCount: Int,
                                                 _ x: UnsafeRawPointer, xBytes: Int, blocks: Int,
                                                 _ y: UnsafeMutablePointer<Float>, rows: Range<Int>,
                                                 _ pk: UnsafeMutableRawPointer, _ stream: Bool) {
        let n = N.n  // a constant in each specialisation
        let ds = pk + blocks * packedQ8_0BlockBytes
        let ones = _mm256_set1_epi16(1)
        packQ8_0x8(x, xBytes: xBytes, tokens: n, blocks: blocks, into: pk)
        for r in rows {
            let wr = w + r * rowBytes
            for b in 0..<blocks {  // d_w·d_xj, as `halves2(w, x)`'s h[0]·h[1]
                let dx = UnsafeRawPointer(pk + b * packedQ8_0BlockBytes).load(as: SIMD8<Float>.self)
                (ds + 32 * b).storeBytes(of: SIMD8<Float>(repeating: KSIMD.half(wr + b * K.weightBytes)) * dx,
                                         as: SIMD8<Float>.self)
            }
            var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
            var a4 = SIMD8<Float>(), a5 = SIMD8<Float>(), a6 = SIMD8<Float>(), a7 = SIMD8<Float>()
            for b in 0..<blocks {
                if stream { prefetch(wr + streamAhead + b * K.weightBytes) }
                let q = UnsafeRawPointer(pk + b * packedQ8_0BlockBytes), d = UnsafeRawPointer(ds + 32 * b)
                let wq = K.quants(wr + b * K.weightBytes)
                let aw = _mm256_sign_epi8(wq, wq)
                @inline(__always) func lanes(_ j: Int) -> SIMD8<Float> {
                    let qy = _mm256_sign_epi8(q.load(fromByteOffset: 32 + 32 * j, as: __m256i.self), wq)
                    return KSIMD.float(unsafeBitCast(_mm256_madd_epi16(_mm256_maddubs_epi16(aw, qy), ones),
                                                     to: SIMD8<Int32>.self))
                }
                @inline(__always) func scale(_ j: Int) -> SIMD8<Float> {
                    SIMD8(repeating: d.load(fromByteOffset: 4 * j, as: Float.self))
                }
                a0.addProduct(lanes(0), scale(0))
                if n > 1 { a1.addProduct(lanes(1), scale(1)) }
                if n > 2 { a2.addProduct(lanes(2), scale(2)) }
                if n > 3 { a3.addProduct(lanes(3), scale(3)) }
                if n > 4 { a4.addProduct(lanes(4), scale(4)) }
                if n > 5 { a5.addProduct(lanes(5), scale(5)) }
                if n > 6 { a6.addProduct(lanes(6), scale(6)) }
                if n > 7 { a7.addProduct(lanes(7), scale(7)) }
            }
            storeResults(n, a0, a1, a2, a3, a4, a5, a6, a7, y + r, rowCount: rowCount)
        }
    }
}
#endif
