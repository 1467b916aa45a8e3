// Prefill tiles on x86-64 for the K-quant orders llama.cpp runs on batches (``DotOrder``): the repacked Q4_K GEMM
// (one fma per sub-block pair), and the tiled Q4_K / Q6_K matmul (one fma per super-block). One weight row × 8
// tokens per pass: each 32-byte weight vector is unpacked once and `vpmaddubsw`ed with the 8 tokens' bytes; the
// exact integer totals of the 8 tokens come out of one transposed reduction as a vector over tokens, so the
// order's float chain runs for 8 tokens in the lanes of one vector — per lane the same operations, operands and
// order as `Q4_KGemmDot` / `Q4_KTiledDot` / `Q6_KTiledDot.accumulate` then `DotAccumulator.result`, hence
// bit-identical to `Dot.row(…, order:)` (tested). Other CPUs use the generic 2×4 tile.

#if arch(x86_64)
import _Builtin_intrinsics.intel

/// One row of a K-quant matrix against 8 packed tokens in one of llama.cpp's batch orders.
protocol KQuantTile8 {
    static var weightBytes: Int { get }
    /// The chains of the row `w` (`blocks` super-blocks) against the first `n` (1…8) packed tokens at `pk`: lane
    /// j < n holds token j's `DotAccumulator.s` and `m[0]` (the other accumulator fields stay zero in these
    /// orders); lanes past `n` are unspecified. `n` is a constant where this is inlined.
    static func chains(_ w: UnsafeRawPointer, _ pk: UnsafeRawPointer, blocks: Int, tokens n: Int) -> (s: SIMD8<Float>, m: SIMD8<Float>)
}

extension MatMul {
    /// Bytes of one super-block of 8 Q8_K tokens packed for the K-quant tiles:
    ///
    ///     0      [d_x0 … d_x7]                      8 × f32
    ///     32     token j's 256 quant bytes at 32 + 256j
    ///     2080   token j's 16 Int16 group sums (bsums) at 2080 + 32j
    ///     2336   per sub-block pair p = 0…3, 32 B at 2336 + 32p: Int16 pairs (q8s_j[2p], q8s_j[2p+1]) for
    ///            j = 0…7, q8s_j[i] = bsums_j[2i] + bsums_j[2i+1] (for the Q4_K mins, `vpmaddwd`-ready)
    static let packedQ8_KBlockBytes = 2464

    /// Packs `n` (1…8) Q8_K rows at `x` (`xBytes` apart), `blocks` super-blocks each; scales and group sums of
    /// lanes past `n` repeat the last token, quants are copied for the n tokens only. Values are copied or summed
    /// exactly (Int16 sums of at most 32 quants).
    static func packQ8_Kx8(_ x: UnsafeRawPointer, xBytes: Int, tokens n: Int, blocks: Int, into pk: UnsafeMutableRawPointer) {
        for b in 0..<blocks {
            let o = pk + b * packedQ8_KBlockBytes
            var dx = SIMD8<Float>()
            var pairs = (SIMD16<Int16>(), SIMD16<Int16>(), SIMD16<Int16>(), SIMD16<Int16>())
            for j in 0..<tileTokens {
                let xb = x + min(j, n - 1) * xBytes + b * 292
                dx[j] = xb.loadUnaligned(as: Float.self)
                for k in 0..<8 where j < n {
                    (o + 32 + 256 * j + 32 * k).storeBytes(of: (xb + 4 + 32 * k).loadUnaligned(as: __m256i.self), as: __m256i.self)
                }
                let bsums = (xb + 260).loadUnaligned(as: SIMD16<Int16>.self)
                (o + 2080 + 32 * j).storeBytes(of: bsums, as: SIMD16<Int16>.self)
                let q8s = bsums.evenHalf &+ bsums.oddHalf  // q8s[i] = bsums[2i] + bsums[2i+1]
                pairs.0[2 * j] = q8s[0]; pairs.0[2 * j + 1] = q8s[1]
                pairs.1[2 * j] = q8s[2]; pairs.1[2 * j + 1] = q8s[3]
                pairs.2[2 * j] = q8s[4]; pairs.2[2 * j + 1] = q8s[5]
                pairs.3[2 * j] = q8s[6]; pairs.3[2 * j + 1] = q8s[7]
            }
            o.storeBytes(of: dx, as: SIMD8<Float>.self)
            (o + 2336).storeBytes(of: pairs.0, as: SIMD16<Int16>.self)
            (o + 2368).storeBytes(of: pairs.1, as: SIMD16<Int16>.self)
            (o + 2400).storeBytes(of: pairs.2, as: SIMD16<Int16>.self)
            (o + 2432).storeBytes(of: pairs.3, as: SIMD16<Int16>.self)
        }
    }

    /// y[t, r] for all tokens and r in `rows` in the order of `K` (every token of the batch in that order): per
    /// group of up to 8 tokens, pack them once (``packQ8_Kx8(_:xBytes:tokens:blocks:into:)``), then one pass per
    /// weight row. A group of n < 8 tokens (a few sequences decoding together) runs a copy specialised for n.
    static func matmulK8<K: KQuantTile8>(_ k: K.Type, _ w: UnsafeRawPointer, rowBytes: Int, rowCount: Int,
                                        _ x: UnsafeRawPointer, xBytes: Int, cols: Int, tokens: Int,
                                        _ y: UnsafeMutablePointer<Float>, rows: Range<Int>) {
        let blocks = cols / 256
        let pk = TileScratch.buffer(bytes: blocks * packedQ8_KBlockBytes)
        let stream = tokens <= tileTokens  // few tokens: the weights stream from DRAM, prefetch ahead
        var t = 0
        while t < tokens {
            let n = min(tileTokens, tokens - t)
            let xt = x + t * xBytes, yt = y + t * rowCount
            packQ8_Kx8(xt, xBytes: xBytes, tokens: n, blocks: blocks, into: pk)
            switch n {
            case 8: kGroup8(Tokens8.self, k, w, rowBytes: rowBytes, rowCount: rowCount, blocks: blocks, yt, rows: rows, pk, stream)
            case 7: kGroup8(Tokens7.self, k, w, rowBytes: rowBytes, rowCount: rowCount, blocks: blocks, yt, rows: rows, pk, stream)
            case 6: kGroup8(Tokens6.self, k, w, rowBytes: rowBytes, rowCount: rowCount, blocks: blocks, yt, rows: rows, pk, stream)
            case 5: kGroup8(Tokens5.self, k, w, rowBytes: rowBytes, rowCount: rowCount, blocks: blocks, yt, rows: rows, pk, stream)
            case 4: kGroup8(Tokens4.self, k, w, rowBytes: rowBytes, rowCount: rowCount, blocks: blocks, yt, rows: rows, pk, stream)
            case 3: kGroup8(Tokens3.self, k, w, rowBytes: rowBytes, rowCount: rowCount, blocks: blocks, yt, rows: rows, pk, stream)
            case 2: kGroup8(Tokens2.self, k, w, rowBytes: rowBytes, rowCount: rowCount, blocks: blocks, yt, rows: rows, pk, stream)
            default: kGroup8(Tokens1.self, k, w, rowBytes: rowBytes, rowCount: rowCount, blocks: blocks, yt, rows: rows, pk, stream)
            }
            t += n
        }
    }

    /// One packed group of `n` (`N.n`, 1…8: a constant in each specialisation) tokens of ``matmulK8(_:_:rowBytes:rowCount:_:xBytes:cols:tokens:_:rows:)``.
    static func kGroup8<K: KQuantTile8, N: TokenCount>(_: N.Type, _: K.Type, _ w: UnsafeRawPointer, rowBytes: Int, rowCount: Int, blocks: Int,
                                       _ y: UnsafeMutablePointer<Float>, rows: Range<Int>, _ pk: UnsafeMutableRawPointer,
                                       _ stream: Bool) {
        let n = N.n  // a constant in each specialisation
        for r in rows {
            let wr = w + r * rowBytes
            if stream {  // the next row's lines (K-quant rows are short: 720 B for 1280 columns of Q4_K)
                var line = 0
                while line < rowBytes { prefetch(wr + 2 * rowBytes + line); line += 64 }
            }
            let (s, m) = K.chains(wr, pk, blocks: blocks, tokens: n)
            let out = y + r
            for j in 0..<n {
                out[j * rowCount] = DotAccumulator.result(SIMD8<Float>(), s: s[j], m: SIMD4(m[j], 0, 0, 0))
            }
        }
    }
}

enum KTile {
    /// Lane j = the total of the 8 lanes of `v_j`: one transposed reduction (exact integers).
    @inline(__always)
    static func totals(_ v0: __m256i, _ v1: __m256i, _ v2: __m256i, _ v3: __m256i,
                       _ v4: __m256i, _ v5: __m256i, _ v6: __m256i, _ v7: __m256i) -> SIMD8<Int32> {
        @inline(__always) func pair(_ a: __m256i, _ b: __m256i) -> __m256i {
            // [a0+a2, b0+b2, a1+a3, b1+b3 | a4+a6, b4+b6, a5+a7, b5+b7]
            _mm256_add_epi32(_mm256_unpacklo_epi32(a, b), _mm256_unpackhi_epi32(a, b))
        }
        @inline(__always) func quad(_ ab: __m256i, _ cd: __m256i) -> SIMD8<Int32> {
            // [A, B, C, D | A', B', C', D']: the low and high halves' totals of a, b, c, d
            unsafeBitCast(_mm256_add_epi32(_mm256_unpacklo_epi64(ab, cd), _mm256_unpackhi_epi64(ab, cd)), to: SIMD8<Int32>.self)
        }
        let lo = quad(pair(v0, v1), pair(v2, v3)), hi = quad(pair(v4, v5), pair(v6, v7))
        return SIMD8(lowHalf: lo.lowHalf, highHalf: hi.lowHalf) &+ SIMD8(lowHalf: lo.highHalf, highHalf: hi.highHalf)
    }

    /// The 16-bit lanes of `v` in 32-bit lane `i` (0…7), broadcast (`vpermd`).
    @inline(__always)
    static func broadcast32(_ v: __m256i, _ i: Int32) -> __m256i {
        _mm256_permutevar8x32_epi32(v, _mm256_set1_epi32(i))
    }

    /// Σ over one Q4_K sub-block pair p (bytes 32p…32p+31 of qs: low nibbles elements 64p…, high 64p+32…) of
    /// sc_lo·(low-nibble lanes) + sc_hi·(high-nibble lanes), for the first `n` packed tokens: lane j = token j's
    /// total (0 past `n`).
    @inline(__always)
    static func q4KPairTotals(_ w: UnsafeRawPointer, _ q: UnsafeRawPointer, _ p: Int, _ scales: __m256i,
                              tokens n: Int) -> SIMD8<Int32> {
        let m4 = _mm256_set1_epi8(0x0F)
        let bits = w.loadUnaligned(fromByteOffset: 16 + 32 * p, as: __m256i.self)
        let lo = _mm256_and_si256(bits, m4), hi = _mm256_and_si256(_mm256_srli_epi16(bits, 4), m4)
        let sl = AVX2Lanes.broadcast16(scales, 2 * p), sh = AVX2Lanes.broadcast16(scales, 2 * p + 1)
        @inline(__always) func token(_ j: Int) -> __m256i {
            if j >= n { return _mm256_setzero_si256() }  // folds away: n is a constant
            let y = q + 32 + 256 * j + 64 * p
            return _mm256_add_epi32(_mm256_madd_epi16(sl, _mm256_maddubs_epi16(lo, y.load(as: __m256i.self))),
                                    _mm256_madd_epi16(sh, _mm256_maddubs_epi16(hi, y.load(fromByteOffset: 32, as: __m256i.self))))
        }
        return totals(token(0), token(1), token(2), token(3), token(4), token(5), token(6), token(7))
    }

    /// The Q4_K scales (both 128-bit halves: Int16 scales 0…7) and the raw scales-and-mins vector of a block.
    @inline(__always)
    static func q4KScales(_ w: UnsafeRawPointer) -> (scales: __m256i, scalesMins: __m256i) {
        let sm = AVX2Lanes.kScalesMins(w + 4)
        let sc128 = unsafeBitCast(unsafeBitCast(sm, to: SIMD16<Int16>.self).lowHalf, to: __m128i.self)
        return (_mm256_broadcastsi128_si256(sc128), sm)
    }

    /// The mins term of sub-block pair p for the 8 packed tokens: m_{2p}·q8s_j[2p] + m_{2p+1}·q8s_j[2p+1].
    @inline(__always)
    static func q4KPairMins(_ scalesMins: __m256i, _ q: UnsafeRawPointer, _ p: Int) -> SIMD8<Int32> {
        // Int16 lanes 8 + 2p, 9 + 2p of `scalesMins` are m_{2p}, m_{2p+1}: 32-bit lane 4 + p.
        let mins = broadcast32(scalesMins, Int32(4 + p))
        return unsafeBitCast(_mm256_madd_epi16(q.load(fromByteOffset: 2336 + 32 * p, as: __m256i.self), mins),
                             to: SIMD8<Int32>.self)
    }
}

/// Q4_K in the repacked GEMM order (``Q4_KGemmDot``): per sub-block pair, s += Σ·(d_w·d_x), m += −M·(dmin_w·d_x).
enum Q4_KGemmTile: KQuantTile8 {
    static let weightBytes = 144

    @inline(__always)
    static func chains(_ w: UnsafeRawPointer, _ pk: UnsafeRawPointer, blocks: Int, tokens n: Int) -> (s: SIMD8<Float>, m: SIMD8<Float>) {
        var s = SIMD8<Float>(), m = SIMD8<Float>()
        for b in 0..<blocks {
            let wb = w + b * weightBytes, q = pk + b * MatMul.packedQ8_KBlockBytes
            let dx = q.load(as: SIMD8<Float>.self)
            let h = KSIMD.halves4(wb, wb)  // d, dmin
            let d = SIMD8<Float>(repeating: h[0]) * dx, dmin = SIMD8<Float>(repeating: h[1]) * dx
            let (scales, sm) = KTile.q4KScales(wb)
            for p in 0..<4 {
                s.addProduct(KSIMD.float(KTile.q4KPairTotals(wb, q, p, scales, tokens: n)), d)
                m.addProduct(-KSIMD.float(KTile.q4KPairMins(sm, q, p)), dmin)
            }
        }
        return (s, m)
    }
}

/// Q4_K in the tiled order (``Q4_KTiledDot``): per super-block res = d_w·S − dmin_w·M (fused), s += res·d_x.
enum Q4_KTiledTile: KQuantTile8 {
    static let weightBytes = 144

    @inline(__always)
    static func chains(_ w: UnsafeRawPointer, _ pk: UnsafeRawPointer, blocks: Int, tokens n: Int) -> (s: SIMD8<Float>, m: SIMD8<Float>) {
        var s = SIMD8<Float>()
        for b in 0..<blocks {
            let wb = w + b * weightBytes, q = pk + b * MatMul.packedQ8_KBlockBytes
            let h = KSIMD.halves4(wb, wb)
            let (scales, sm) = KTile.q4KScales(wb)
            var total = SIMD8<Int32>(), mins = SIMD8<Int32>()
            for p in 0..<4 {
                total &+= KTile.q4KPairTotals(wb, q, p, scales, tokens: n)
                mins &+= KTile.q4KPairMins(sm, q, p)
            }
            let res = (SIMD8<Float>(repeating: h[0]) * KSIMD.float(total))
                .addingProduct(SIMD8<Float>(repeating: -h[1]), KSIMD.float(mins))
            s.addProduct(res, q.load(as: SIMD8<Float>.self))
        }
        return (s, SIMD8<Float>())
    }
}

/// Q6_K in the tiled order (``Q6_KTiledDot``): per super-block s += (d_w·T)·d_x.
enum Q6_KTiledTile: KQuantTile8 {
    static let weightBytes = 210

    @inline(__always)
    static func chains(_ w: UnsafeRawPointer, _ pk: UnsafeRawPointer, blocks: Int, tokens n: Int) -> (s: SIMD8<Float>, m: SIMD8<Float>) {
        var s = SIMD8<Float>()
        for b in 0..<blocks {
            let wb = w + b * weightBytes, q = pk + b * MatMul.packedQ8_KBlockBytes
            let total = superBlockTotals(wb, q, tokens: n)
            s.addProduct(SIMD8<Float>(repeating: KSIMD.half(wb + 208)) * KSIMD.float(total), q.load(as: SIMD8<Float>.self))
        }
        return (s, SIMD8<Float>())
    }

    /// Lane j: token j's exact Σ_g scale_g·Σ (q − 32)·y over the super-block (``q6KLanes(_:_:)`` summed).
    @inline(__always)
    static func superBlockTotals(_ w: UnsafeRawPointer, _ q: UnsafeRawPointer, tokens n: Int) -> SIMD8<Int32> {
        let (p0, p1, p2, p3, p4, p5, p6, p7) = superBlockLanes(w, q, tokens: n)
        return KTile.totals(p0, p1, p2, p3, p4, p5, p6, p7)
    }

    /// Token j's exact integer lanes (`q6KLanes` of its activation) for the first `n` packed tokens, zero past
    /// `n` (folded away: `n` is a constant where this is inlined).
    @inline(__always)
    static func superBlockLanes(_ w: UnsafeRawPointer, _ q: UnsafeRawPointer, tokens n: Int)
        -> (__m256i, __m256i, __m256i, __m256i, __m256i, __m256i, __m256i, __m256i) {
        let m3 = _mm256_set1_epi8(3), m15 = _mm256_set1_epi8(15)
        var p0 = _mm256_setzero_si256(), p1 = p0, p2 = p0, p3 = p0, p4 = p0, p5 = p0, p6 = p0, p7 = p0
        for half in 0..<2 {
            let s16 = _mm256_broadcastsi128_si256(_mm_cvtepi8_epi16(w.loadUnaligned(fromByteOffset: 192 + 8 * half, as: __m128i.self)))
            for g in 0..<4 {
                // Group g of half `half`: low (g < 2) or high nibbles of ql[64·half + 32(g % 2)…], bits 2g, 2g + 1 of qh.
                let ql = w.loadUnaligned(fromByteOffset: 64 * half + 32 * (g % 2), as: __m256i.self)
                let qh = w.loadUnaligned(fromByteOffset: 128 + 32 * half, as: __m256i.self)
                let low = g < 2 ? _mm256_and_si256(ql, m15) : _mm256_and_si256(_mm256_srli_epi16(ql, 4), m15)
                let high = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, Int32(2 * g)), m3), 4)
                let qv = _mm256_or_si256(low, high)
                let scale = _mm256_shuffle_epi8(s16, _mm256_set_m128i(_mm_set1_epi16(Int16(4 * g + 2) | Int16(4 * g + 3) << 8),
                                                                      _mm_set1_epi16(Int16(4 * g) | Int16(4 * g + 1) << 8)))
                @inline(__always) func token(_ j: Int, _ acc: inout __m256i) {
                    if j >= n { return }
                    let y = q.load(fromByteOffset: 32 + 256 * j + 128 * half + 32 * g, as: __m256i.self)
                    acc = _mm256_add_epi32(acc, _mm256_madd_epi16(scale, _mm256_maddubs_epi16(qv, y)))
                }
                token(0, &p0); token(1, &p1); token(2, &p2); token(3, &p3)
                token(4, &p4); token(5, &p5); token(6, &p6); token(7, &p7)
            }
        }
        // − 32·Σ_g scale_g·bsums_g per lane pair (ggml's `q8sclsub`).
        let scales16 = _mm256_cvtepi8_epi16(w.loadUnaligned(fromByteOffset: 192, as: __m128i.self))
        @inline(__always) func sub(_ j: Int, _ acc: __m256i) -> __m256i {
            if j >= n { return acc }
            return _mm256_sub_epi32(acc, _mm256_slli_epi32(_mm256_madd_epi16(q.load(fromByteOffset: 2080 + 32 * j, as: __m256i.self), scales16), 5))
        }
        return (sub(0, p0), sub(1, p1), sub(2, p2), sub(3, p3), sub(4, p4), sub(5, p5), sub(6, p6), sub(7, p7))
    }
}

/// Q4_K in the repacked GEMV order (``Q4_KGemvDot``, the order of a decode row of a repacked matrix): per
/// super-block s += S·(d_w·d_x), m += −M·(dmin_w·d_x) — the tile for several sequences decoding together.
enum Q4_KGemvTile: KQuantTile8 {
    static let weightBytes = 144

    @inline(__always)
    static func chains(_ w: UnsafeRawPointer, _ pk: UnsafeRawPointer, blocks: Int, tokens n: Int) -> (s: SIMD8<Float>, m: SIMD8<Float>) {
        var s = SIMD8<Float>(), m = SIMD8<Float>()
        for b in 0..<blocks {
            let wb = w + b * weightBytes, q = pk + b * MatMul.packedQ8_KBlockBytes
            let dx = q.load(as: SIMD8<Float>.self)
            let h = KSIMD.halves4(wb, wb)  // d, dmin
            let (scales, sm) = KTile.q4KScales(wb)
            var total = SIMD8<Int32>(), mins = SIMD8<Int32>()
            for p in 0..<4 {
                total &+= KTile.q4KPairTotals(wb, q, p, scales, tokens: n)
                mins &+= KTile.q4KPairMins(sm, q, p)
            }
            s.addProduct(KSIMD.float(total), SIMD8<Float>(repeating: h[0]) * dx)
            m.addProduct(-KSIMD.float(mins), SIMD8<Float>(repeating: h[1]) * dx)
        }
        return (s, m)
    }
}

extension MatMul {
    /// y[t, r] for all tokens and r in `rows` of a Q6_K matrix in the vec order (``Q6_KDot``, each token's own
    /// 8 float lanes: the order of decode rows, and of batches under 8 rows): per group of up to 8 tokens,
    /// pack them once (``packQ8_Kx8(_:xBytes:tokens:blocks:into:)``), then per weight row each 6-bit weight
    /// vector is unpacked once and `vpmaddubsw`ed with the group's tokens. Per token the float steps of
    /// `Q6_KDot.accumulate` (one fma of the lanes with d_w·d_x per super-block) and `DotAccumulator.result`.
    static func matmulQ6_KVec(_ w: UnsafeRawPointer, rowBytes: Int, rowCount: Int, _ x: UnsafeRawPointer, xBytes: Int,
                              cols: Int, tokens: Int, _ y: UnsafeMutablePointer<Float>, rows: Range<Int>) {
        let blocks = cols / 256
        let pk = TileScratch.buffer(bytes: blocks * packedQ8_KBlockBytes)
        let stream = tokens <= tileTokens
        var t = 0
        while t < tokens {
            let n = min(tileTokens, tokens - t)
            let xt = x + t * xBytes, yt = y + t * rowCount
            packQ8_Kx8(xt, xBytes: xBytes, tokens: n, blocks: blocks, into: pk)
            switch n {
            case 8: q6KVecGroup(Tokens8.self, w, rowBytes: rowBytes, rowCount: rowCount, blocks: blocks, yt, rows: rows, pk, stream)
            case 7: q6KVecGroup(Tokens7.self, w, rowBytes: rowBytes, rowCount: rowCount, blocks: blocks, yt, rows: rows, pk, stream)
            case 6: q6KVecGroup(Tokens6.self, w, rowBytes: rowBytes, rowCount: rowCount, blocks: blocks, yt, rows: rows, pk, stream)
            case 5: q6KVecGroup(Tokens5.self, w, rowBytes: rowBytes, rowCount: rowCount, blocks: blocks, yt, rows: rows, pk, stream)
            case 4: q6KVecGroup(Tokens4.self, w, rowBytes: rowBytes, rowCount: rowCount, blocks: blocks, yt, rows: rows, pk, stream)
            case 3: q6KVecGroup(Tokens3.self, w, rowBytes: rowBytes, rowCount: rowCount, blocks: blocks, yt, rows: rows, pk, stream)
            case 2: q6KVecGroup(Tokens2.self, w, rowBytes: rowBytes, rowCount: rowCount, blocks: blocks, yt, rows: rows, pk, stream)
            default: q6KVecGroup(Tokens1.self, w, rowBytes: rowBytes, rowCount: rowCount, blocks: blocks, yt, rows: rows, pk, stream)
            }
            t += n
        }
    }

    /// One packed group of `n` (`N.n`, 1…8: a constant in each specialisation) tokens of ``matmulQ6_KVec(_:rowBytes:rowCount:_:xBytes:cols:tokens:_:rows:)``.
    static func q6KVecGroup<N: TokenCount>(_: N.Type, _ w: UnsafeRawPointer, rowBytes: Int, rowCount: Int, blocks: Int,
                            _ y: UnsafeMutablePointer<Float>, rows: Range<Int>, _ pk: UnsafeMutableRawPointer, _ stream: Bool) {
        let n = N.n  // a constant in each specialisation
        for r in rows {
            let wr = w + r * rowBytes
            if stream {
                var line = 0
                while line < rowBytes { prefetch(wr + 2 * rowBytes + line); line += 64 }
            }
            var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
            var a4 = SIMD8<Float>(), a5 = SIMD8<Float>(), a6 = SIMD8<Float>(), a7 = SIMD8<Float>()
            for b in 0..<blocks {
                let wb = wr + b * Q6_KTiledTile.weightBytes, q = UnsafeRawPointer(pk + b * packedQ8_KBlockBytes)
                let (p0, p1, p2, p3, p4, p5, p6, p7) = Q6_KTiledTile.superBlockLanes(wb, q, tokens: n)
                let d = SIMD8<Float>(repeating: KSIMD.half(wb + 208)) * q.load(as: SIMD8<Float>.self)  // lane j: d_w·d_xj
                @inline(__always) func lanes(_ v: __m256i) -> SIMD8<Float> { KSIMD.float(unsafeBitCast(v, to: SIMD8<Int32>.self)) }
                a0.addProduct(lanes(p0), SIMD8(repeating: d[0]))
                if n > 1 { a1.addProduct(lanes(p1), SIMD8(repeating: d[1])) }
                if n > 2 { a2.addProduct(lanes(p2), SIMD8(repeating: d[2])) }
                if n > 3 { a3.addProduct(lanes(p3), SIMD8(repeating: d[3])) }
                if n > 4 { a4.addProduct(lanes(p4), SIMD8(repeating: d[4])) }
                if n > 5 { a5.addProduct(lanes(p5), SIMD8(repeating: d[5])) }
                if n > 6 { a6.addProduct(lanes(p6), SIMD8(repeating: d[6])) }
                if n > 7 { a7.addProduct(lanes(p7), SIMD8(repeating: d[7])) }
            }
            storeResults(n, a0, a1, a2, a3, a4, a5, a6, a7, y + r, rowCount: rowCount)
        }
    }
}
#endif
