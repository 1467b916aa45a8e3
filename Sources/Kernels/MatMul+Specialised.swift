import GGUF

#if arch(x86_64)
import _Builtin_intrinsics.intel
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

// Kernels specialised for SmolLM2-135M Q4_1: Q4_1 weights × Q8_1 activations (every matrix but the output head).
//
// Same float operations per (row, token) as `Q4_1Dot.accumulate` — d_w·d_x rounded once and fused into 8
// lanes per block, m_w·s_x fused into a scalar chain, the same horizontal sum — so results are bit-identical to
// `Dot.row` (tested). What changes is the bookkeeping around them: the fp16 scales of 4 rows (or 4 tokens) are
// converted with one `vcvtph2ps`, the d_w·d_x products of a whole tile come from one multiply, and the m_w·s_x
// chains of a whole tile live in the lanes of one vector (lane-wise fused multiply-adds are the same scalar
// chains). The generic kernels spent more instructions on scales than on the integer dot itself.
//
// On x86-64 the integer part is ggml's `vpmaddubsw` on the raw bytes (``AVX2Lanes``): the activation quants
// need no even/odd split, so decode reads them in place and the prefill tile packs only scales and raw bytes.
// Elsewhere the `_portable` kernels below (16-bit `vpmaddwd`-shaped Swift SIMD on pre-split activations) run;
// they stay compiled and tested on x86-64 too. Both produce the same integers, hence the same floats.

/// A group size as a type: kernels generic over it are specialised per size (a runtime count, even with
/// `@inline(__always)`, was not: one shared body with a branch per token and all 8 accumulators live).
protocol TokenCount { static var n: Int { get } }
enum Tokens1: TokenCount { static var n: Int { 1 } }
enum Tokens2: TokenCount { static var n: Int { 2 } }
enum Tokens3: TokenCount { static var n: Int { 3 } }
enum Tokens4: TokenCount { static var n: Int { 4 } }
enum Tokens5: TokenCount { static var n: Int { 5 } }
enum Tokens6: TokenCount { static var n: Int { 6 } }
enum Tokens7: TokenCount { static var n: Int { 7 } }
enum Tokens8: TokenCount { static var n: Int { 8 } }

extension MatMul {
    /// Four fp16 pairs at `p0…p3` → `[a0, b0, a1, b1, a2, b2, a3, b3]`.
    @inline(__always)
    static func halfPairs4(_ p0: UnsafeRawPointer, _ p1: UnsafeRawPointer, _ p2: UnsafeRawPointer,
                           _ p3: UnsafeRawPointer) -> SIMD8<Float> {
        let v = SIMD4<UInt32>(p0.loadUnaligned(as: UInt32.self), p1.loadUnaligned(as: UInt32.self),
                              p2.loadUnaligned(as: UInt32.self), p3.loadUnaligned(as: UInt32.self))
        return KSIMD.widen(unsafeBitCast(v, to: SIMD8<Float16>.self))
    }

    /// y[r] for r in `rows` (decode), 4 weight rows per pass sharing one activation block.
    static func matvecQ4_1(_ w: UnsafeRawPointer, rowBytes: Int, _ x: UnsafeRawPointer, cols: Int,
                           _ y: UnsafeMutablePointer<Float>, rows: Range<Int>) {
        #if arch(x86_64)
        matvecQ4_1_avx2(w, rowBytes: rowBytes, x, cols: cols, y, rows: rows)
        #else
        matvecQ4_1_portable(w, rowBytes: rowBytes, x, cols: cols, y, rows: rows)
        #endif
    }

    /// y[t, r] for all tokens and r in `rows` (prefill, `tokens ≥ 2`), 1 weight row × 8 tokens per pass.
    static func matmulQ4_1(_ w: UnsafeRawPointer, rowBytes: Int, rowCount: Int, _ x: UnsafeRawPointer, xBytes: Int,
                           cols: Int, tokens: Int, _ y: UnsafeMutablePointer<Float>, rows: Range<Int>) {
        #if arch(x86_64)
        matmulQ4_1_avx2(w, rowBytes: rowBytes, rowCount: rowCount, x, xBytes: xBytes, cols: cols, tokens: tokens, y, rows: rows)
        #else
        matmulQ4_1_portable(w, rowBytes: rowBytes, rowCount: rowCount, x, xBytes: xBytes, cols: cols, tokens: tokens, y, rows: rows)
        #endif
    }

    #if arch(x86_64)
    /// Bytes of one block of an 8-token group packed for ``matmulQ4_1_avx2``: `[d_x0 … d_x7]` f32,
    /// `[s_x0 … s_x7]` f32, then the 32 quant bytes of tokens 0…7 as they are.
    static let packedBlockBytes_avx2 = 64 + tileTokens * 32

    /// The decode matvec on x86-64: per block one activation load and one scale conversion for 4 rows; each row
    /// `vpmaddubsw` of its nibbles with the activation bytes read in place (no packing), then the float steps of
    /// `Q4_1Dot.accumulate` (d_w·d_x in 8 lanes, m_w·s_x in a chain held in the odd lanes of `ms`).
    static func matvecQ4_1_avx2(_ w: UnsafeRawPointer, rowBytes: Int, _ x: UnsafeRawPointer, cols: Int,
                                _ y: UnsafeMutablePointer<Float>, rows: Range<Int>) {
        let blocks = cols / 32
        var r = rows.lowerBound
        while r + 4 <= rows.upperBound {
            let w0 = w + r * rowBytes, w1 = w0 + rowBytes, w2 = w1 + rowBytes, w3 = w2 + rowBytes
            var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
            var ms = SIMD8<Float>()  // odd lanes: the m_w·s_x chains of rows 0…3
            let ahead = 4 * rowBytes  // the same bytes of the next 4 rows (decode streams from DRAM)
            for b in 0..<blocks {
                let o = b * 20, xb = x + b * 36
                prefetch(w0 + ahead + o); prefetch(w1 + ahead + o); prefetch(w2 + ahead + o); prefetch(w3 + ahead + o)
                let xs = halfPairs4(xb, xb, xb, xb)                 // d_x, s_x, d_x, s_x, …
                let ws = halfPairs4(w0 + o, w1 + o, w2 + o, w3 + o) // d_0, m_0, d_1, m_1, …
                let d = ws * xs                                    // even lanes: d_w·d_x
                ms.addProduct(ws, xs)                              // odd lanes: += m_w·s_x (fused)
                let q = xb.loadUnaligned(fromByteOffset: 4, as: __m256i.self)
                a0.addProduct(KSIMD.float(AVX2Lanes.unsignedDot(AVX2Lanes.nibbles(w0 + o + 4), q)), SIMD8(repeating: d[0]))
                a1.addProduct(KSIMD.float(AVX2Lanes.unsignedDot(AVX2Lanes.nibbles(w1 + o + 4), q)), SIMD8(repeating: d[2]))
                a2.addProduct(KSIMD.float(AVX2Lanes.unsignedDot(AVX2Lanes.nibbles(w2 + o + 4), q)), SIMD8(repeating: d[4]))
                a3.addProduct(KSIMD.float(AVX2Lanes.unsignedDot(AVX2Lanes.nibbles(w3 + o + 4), q)), SIMD8(repeating: d[6]))
            }
            UnsafeMutableRawPointer(y + r).storeBytes(of: KSIMD.hsum4(a0, a1, a2, a3) + SIMD4(ms[1], ms[3], ms[5], ms[7]),
                                                       as: SIMD4<Float>.self)
            r += 4
        }
        while r < rows.upperBound {
            y[r] = Q4_1Dot.dot(w + r * rowBytes, x, count: cols)
            r += 1
        }
    }

    /// Packs `n` (1…8) tokens of Q8_1 rows at `x` (`xBytes` apart) for ``matmulQ4_1_avx2``. Per block, 320
    /// bytes: `[d_x0 … d_x7]` f32 (fp16 widened, exact), `[s_x0 … s_x7]` f32, then token j's 32 quant bytes at
    /// 64 + 32j (copied, j < n only). Scale lanes past `n` repeat the last token (finite values whose results
    /// are never stored); with `n` a constant (inlined) nothing else of the missing tokens is touched.
    @inline(__always)
    static func packQ8_1x8_avx2(_ x: UnsafeRawPointer, xBytes: Int, tokens n: Int, blocks: Int,
                                into pk: UnsafeMutableRawPointer) {
        @inline(__always) func row(_ j: Int) -> UnsafeRawPointer { x + min(j, n - 1) * xBytes }
        let x0 = x, x1 = row(1), x2 = row(2), x3 = row(3), x4 = row(4), x5 = row(5), x6 = row(6), x7 = row(7)
        for b in 0..<blocks {
            let p = b * 36, o = pk + b * packedBlockBytes_avx2
            let lo = halfPairs4(x0 + p, x1 + p, x2 + p, x3 + p)   // d_x0, s_x0, d_x1, s_x1, …
            let hi = halfPairs4(x4 + p, x5 + p, x6 + p, x7 + p)
            o.storeBytes(of: SIMD8<Float>(lo[0], lo[2], lo[4], lo[6], hi[0], hi[2], hi[4], hi[6]), as: SIMD8<Float>.self)
            (o + 32).storeBytes(of: SIMD8<Float>(lo[1], lo[3], lo[5], lo[7], hi[1], hi[3], hi[5], hi[7]), as: SIMD8<Float>.self)
            (o + 64).storeBytes(of: (x0 + p + 4).loadUnaligned(as: __m256i.self), as: __m256i.self)
            if n > 1 { (o + 96).storeBytes(of: (x1 + p + 4).loadUnaligned(as: __m256i.self), as: __m256i.self) }
            if n > 2 { (o + 128).storeBytes(of: (x2 + p + 4).loadUnaligned(as: __m256i.self), as: __m256i.self) }
            if n > 3 { (o + 160).storeBytes(of: (x3 + p + 4).loadUnaligned(as: __m256i.self), as: __m256i.self) }
            if n > 4 { (o + 192).storeBytes(of: (x4 + p + 4).loadUnaligned(as: __m256i.self), as: __m256i.self) }
            if n > 5 { (o + 224).storeBytes(of: (x5 + p + 4).loadUnaligned(as: __m256i.self), as: __m256i.self) }
            if n > 6 { (o + 256).storeBytes(of: (x6 + p + 4).loadUnaligned(as: __m256i.self), as: __m256i.self) }
            if n > 7 { (o + 288).storeBytes(of: (x7 + p + 4).loadUnaligned(as: __m256i.self), as: __m256i.self) }
        }
    }

    /// The prefill tile and few-row product on x86-64: for each group of up to 8 tokens, pack them once
    /// (``packQ8_1x8_avx2(_:xBytes:tokens:blocks:into:)``), then per weight row two passes over its blocks: the
    /// scale pass writes d_w·d_x of every block and token to scratch (and runs the m_w·s_x chains, one lane per
    /// token), the integer pass unpacks the nibbles once per block and `vpmaddubsw`s them with each token's
    /// bytes, broadcasting the token's scale from memory. Float steps as ``matmulQ4_1_portable``. A group of
    /// n < 8 tokens (a few sequences decoding together, or the end of a prefill chunk) runs a copy of the tile
    /// specialised for n: no padded work, each weight block read once for the n tokens.
    static func matmulQ4_1_avx2(_ w: UnsafeRawPointer, rowBytes: Int, rowCount: Int, _ x: UnsafeRawPointer, xBytes: Int,
                                cols: Int, tokens: Int, _ y: UnsafeMutablePointer<Float>, rows: Range<Int>) {
        let blocks = cols / 32
        // Scratch: the packed group (blocks × 320 B), then the row's scales (blocks × 8 f32).
        let pk = TileScratch.buffer(bytes: blocks * (packedBlockBytes_avx2 + 32))
        // Few tokens (decode of several sequences) stream the weights from DRAM: prefetch ahead of the row.
        let stream = tokens <= tileTokens
        var t = 0
        while t < tokens {
            let n = min(tileTokens, tokens - t)
            let xt = x + t * xBytes, yt = y + t * rowCount
            switch n {
            case 8: q4_1Group_avx2(Tokens8.self, w, rowBytes: rowBytes, rowCount: rowCount, xt, xBytes: xBytes, blocks: blocks, yt, rows: rows, pk, stream)
            case 7: q4_1Group_avx2(Tokens7.self, w, rowBytes: rowBytes, rowCount: rowCount, xt, xBytes: xBytes, blocks: blocks, yt, rows: rows, pk, stream)
            case 6: q4_1Group_avx2(Tokens6.self, w, rowBytes: rowBytes, rowCount: rowCount, xt, xBytes: xBytes, blocks: blocks, yt, rows: rows, pk, stream)
            case 5: q4_1Group_avx2(Tokens5.self, w, rowBytes: rowBytes, rowCount: rowCount, xt, xBytes: xBytes, blocks: blocks, yt, rows: rows, pk, stream)
            case 4: q4_1Group_avx2(Tokens4.self, w, rowBytes: rowBytes, rowCount: rowCount, xt, xBytes: xBytes, blocks: blocks, yt, rows: rows, pk, stream)
            case 3: q4_1Group_avx2(Tokens3.self, w, rowBytes: rowBytes, rowCount: rowCount, xt, xBytes: xBytes, blocks: blocks, yt, rows: rows, pk, stream)
            case 2: q4_1Group_avx2(Tokens2.self, w, rowBytes: rowBytes, rowCount: rowCount, xt, xBytes: xBytes, blocks: blocks, yt, rows: rows, pk, stream)
            default: q4_1Group_avx2(Tokens1.self, w, rowBytes: rowBytes, rowCount: rowCount, xt, xBytes: xBytes, blocks: blocks, yt, rows: rows, pk, stream)
            }
            t += n
        }
    }

    /// One group of `n` (`N.n`, 1…8: a constant in each specialisation) tokens of ``matmulQ4_1_avx2``: accumulators, loads and
    /// stores of tokens past `n` fold away.
    static func q4_1Group_avx2<N: TokenCount>(_: N.Type, _ w: UnsafeRawPointer, rowBytes: Int, rowCount: Int, _ x: UnsafeRawPointer,
                               xBytes: Int, blocks: Int, _ y: UnsafeMutablePointer<Float>, rows: Range<Int>,
                               _ pk: UnsafeMutableRawPointer, _ stream: Bool) {
        let n = N.n  // a constant in each specialisation
        let ds = pk + blocks * packedBlockBytes_avx2
        packQ8_1x8_avx2(x, xBytes: xBytes, tokens: n, blocks: blocks, into: pk)
        for r in rows {
            let w0 = w + r * rowBytes
            var ms = SIMD8<Float>()  // lane j: the m_w·s_x chain of token j
            for b in 0..<blocks {
                let q = UnsafeRawPointer(pk + b * packedBlockBytes_avx2)
                let dx = q.load(as: SIMD8<Float>.self), sx = q.load(fromByteOffset: 32, as: SIMD8<Float>.self)
                let ws = halfPairs4(w0 + b * 20, w0 + b * 20, w0 + b * 20, w0 + b * 20)   // d_w, m_w, …
                (ds + 32 * b).storeBytes(of: SIMD8<Float>(repeating: ws[0]) * dx, as: SIMD8<Float>.self)  // d_w·d_xj
                ms.addProduct(SIMD8<Float>(repeating: ws[1]), sx)
            }
            var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
            var a4 = SIMD8<Float>(), a5 = SIMD8<Float>(), a6 = SIMD8<Float>(), a7 = SIMD8<Float>()
            for b in 0..<blocks {
                if stream { prefetch(w0 + streamAhead + b * 20) }
                let q = UnsafeRawPointer(pk + b * packedBlockBytes_avx2), d = UnsafeRawPointer(ds + 32 * b)
                let wq = AVX2Lanes.nibbles(w0 + b * 20 + 4)
                @inline(__always) func lanes(_ j: Int) -> SIMD8<Float> {
                    KSIMD.float(AVX2Lanes.unsignedDot(wq, q.load(fromByteOffset: 64 + 32 * j, as: __m256i.self)))
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
            storeSums(n, a0, a1, a2, a3, a4, a5, a6, a7, plus: ms, y + r, rowCount: rowCount)
        }
    }
    #endif

    /// Bytes of one block of a packed decode activation (see ``packQ8_1x1(_:blocks:into:)``; portable kernels only).
    static let packedVectorBlockBytes = 96

    /// Packs one Q8_1 activation row for the 4-row matvec. Per block, 96 bytes: `[d_x s_x d_x s_x d_x s_x d_x s_x]`
    /// (f32, widened exactly), then the even and the odd Int16 lanes of the 32 quants.
    @inline(__always)
    static func packQ8_1x1(_ x: UnsafeRawPointer, blocks: Int, into pk: UnsafeMutableRawPointer) {
        for b in 0..<blocks {
            let xb = x + b * 36, o = pk + b * packedVectorBlockBytes
            o.storeBytes(of: halfPairs4(xb, xb, xb, xb), as: SIMD8<Float>.self)
            storePairs(xb + 4, o + 32)
        }
    }

    /// y[r] for r in `rows` (decode): the activation packed once (``packQ8_1x1(_:blocks:into:)``), then 4 rows
    /// per pass reading it from memory.
    static func matvecQ4_1_portable(_ w: UnsafeRawPointer, rowBytes: Int, _ x: UnsafeRawPointer, cols: Int,
                           _ y: UnsafeMutablePointer<Float>, rows: Range<Int>) {
        let blocks = cols / 32
        let pk = TileScratch.buffer(bytes: blocks * packedVectorBlockBytes)
        packQ8_1x1(x, blocks: blocks, into: pk)
        var r = rows.lowerBound
        while r + 4 <= rows.upperBound {
            let w0 = w + r * rowBytes, w1 = w0 + rowBytes, w2 = w1 + rowBytes, w3 = w2 + rowBytes
            var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
            var ms = SIMD8<Float>()  // odd lanes: the m_w·s_x chains of rows 0…3
            for b in 0..<blocks {
                let o = b * 20, q = UnsafeRawPointer(pk + b * packedVectorBlockBytes)
                let xs = q.load(as: SIMD8<Float>.self)              // d_x, s_x, d_x, s_x, …
                let ws = halfPairs4(w0 + o, w1 + o, w2 + o, w3 + o) // d_0, m_0, d_1, m_1, …
                let d = ws * xs                                    // even lanes: d_w·d_x
                ms.addProduct(ws, xs)                              // odd lanes: += m_w·s_x (fused)
                let xp = pairs(q, 32)
                a0.addProduct(KSIMD.float(KSIMD.quadDot(KSIMD.nibblePairs(w0 + o + 4), xp)), SIMD8(repeating: d[0]))
                a1.addProduct(KSIMD.float(KSIMD.quadDot(KSIMD.nibblePairs(w1 + o + 4), xp)), SIMD8(repeating: d[2]))
                a2.addProduct(KSIMD.float(KSIMD.quadDot(KSIMD.nibblePairs(w2 + o + 4), xp)), SIMD8(repeating: d[4]))
                a3.addProduct(KSIMD.float(KSIMD.quadDot(KSIMD.nibblePairs(w3 + o + 4), xp)), SIMD8(repeating: d[6]))
            }
            y[r] = KSIMD.hsum(a0) + ms[1]
            y[r + 1] = KSIMD.hsum(a1) + ms[3]
            y[r + 2] = KSIMD.hsum(a2) + ms[5]
            y[r + 3] = KSIMD.hsum(a3) + ms[7]
            r += 4
        }
        while r < rows.upperBound {
            y[r] = Q4_1Dot.dot(w + r * rowBytes, x, count: cols)
            r += 1
        }
    }

    /// Tokens per packed group: one weight row against 8 tokens per pass (8 accumulators, the unpacked
    /// weight block and the scales fit the 16 ymm registers without spills; 2 rows × 4 tokens spilled).
    static let tileTokens = 8
    /// Bytes of one block of a packed 8-token group (see ``packQ8_1x8_portable(_:xBytes:tokens:blocks:into:)``).
    static let packedBlockBytes_portable = 64 + tileTokens * 64

    /// Packs `n` (1…8) tokens of Q8_1 rows at `x` (`xBytes` apart) for the 1×8 tile; scale lanes past `n` repeat
    /// the last token (valid data whose results are never stored), quants are packed for the n tokens only
    /// (`n` is a constant where this is inlined). Per block, 576 bytes:
    ///
    ///     [d_x0 … d_x7]  8 × f32   (fp16 scales widened, exact)
    ///     [s_x0 … s_x7]  8 × f32
    ///     token j = 0…7: even Int16 lanes (elements 0, 2, …, 30), odd Int16 lanes (1, 3, …, 31)   8 × 64 B
    ///
    /// The split into even/odd 16-bit lanes (`KSIMD.signedPairs`) is what every row needs before `vpmaddwd`;
    /// done here once per token group instead of once per row, and the tile's multiplies then take it
    /// straight from memory. Values are copied, never rounded: results stay bit-identical to `Dot.row`.
    @inline(__always)
    static func packQ8_1x8_portable(_ x: UnsafeRawPointer, xBytes: Int, tokens n: Int, blocks: Int,
                           into pk: UnsafeMutableRawPointer) {
        @inline(__always) func row(_ j: Int) -> UnsafeRawPointer { x + min(j, n - 1) * xBytes }
        let x0 = x, x1 = row(1), x2 = row(2), x3 = row(3), x4 = row(4), x5 = row(5), x6 = row(6), x7 = row(7)
        for b in 0..<blocks {
            let p = b * 36, o = pk + b * packedBlockBytes_portable
            let lo = halfPairs4(x0 + p, x1 + p, x2 + p, x3 + p)   // d_x0, s_x0, d_x1, s_x1, …
            let hi = halfPairs4(x4 + p, x5 + p, x6 + p, x7 + p)
            o.storeBytes(of: SIMD8<Float>(lo[0], lo[2], lo[4], lo[6], hi[0], hi[2], hi[4], hi[6]), as: SIMD8<Float>.self)
            (o + 32).storeBytes(of: SIMD8<Float>(lo[1], lo[3], lo[5], lo[7], hi[1], hi[3], hi[5], hi[7]), as: SIMD8<Float>.self)
            storePairs(x0 + p + 4, o + 64)
            if n > 1 { storePairs(x1 + p + 4, o + 128) }
            if n > 2 { storePairs(x2 + p + 4, o + 192) }
            if n > 3 { storePairs(x3 + p + 4, o + 256) }
            if n > 4 { storePairs(x4 + p + 4, o + 320) }
            if n > 5 { storePairs(x5 + p + 4, o + 384) }
            if n > 6 { storePairs(x6 + p + 4, o + 448) }
            if n > 7 { storePairs(x7 + p + 4, o + 512) }
        }
    }

    @inline(__always)
    private static func storePairs(_ qs: UnsafeRawPointer, _ o: UnsafeMutableRawPointer) {
        let s = KSIMD.signedPairs(qs)
        o.storeBytes(of: s.even, as: SIMD16<Int16>.self)
        (o + 32).storeBytes(of: s.odd, as: SIMD16<Int16>.self)
    }

    /// The packed (even, odd) lanes of one token at byte `offset` of a packed block.
    @inline(__always)
    private static func pairs(_ q: UnsafeRawPointer, _ offset: Int) -> (even: SIMD16<Int16>, odd: SIMD16<Int16>) {
        (q.load(fromByteOffset: offset, as: SIMD16<Int16>.self), q.load(fromByteOffset: offset + 32, as: SIMD16<Int16>.self))
    }

    /// y[t, r] for all tokens and r in `rows` (prefill, `tokens ≥ 2`): for each group of up to 8 tokens,
    /// pack their activations once (``packQ8_1x8_portable(_:xBytes:tokens:blocks:into:)``, into this thread's
    /// ``TileScratch``), then one weight row × 8 tokens per pass over the rows. A short group (a few sequences
    /// decoding together, the end of a chunk) runs a copy specialised for its size: no padded work.
    static func matmulQ4_1_portable(_ w: UnsafeRawPointer, rowBytes: Int, rowCount: Int, _ x: UnsafeRawPointer, xBytes: Int,
                           cols: Int, tokens: Int, _ y: UnsafeMutablePointer<Float>, rows: Range<Int>) {
        let blocks = cols / 32
        let pk = TileScratch.buffer(bytes: blocks * packedBlockBytes_portable)
        var t = 0
        while t < tokens {
            let n = min(tileTokens, tokens - t)
            let xt = x + t * xBytes, yt = y + t * rowCount
            switch n {
            case 8: q4_1Group_portable(Tokens8.self, w, rowBytes: rowBytes, rowCount: rowCount, xt, xBytes: xBytes, blocks: blocks, yt, rows: rows, pk)
            case 7: q4_1Group_portable(Tokens7.self, w, rowBytes: rowBytes, rowCount: rowCount, xt, xBytes: xBytes, blocks: blocks, yt, rows: rows, pk)
            case 6: q4_1Group_portable(Tokens6.self, w, rowBytes: rowBytes, rowCount: rowCount, xt, xBytes: xBytes, blocks: blocks, yt, rows: rows, pk)
            case 5: q4_1Group_portable(Tokens5.self, w, rowBytes: rowBytes, rowCount: rowCount, xt, xBytes: xBytes, blocks: blocks, yt, rows: rows, pk)
            case 4: q4_1Group_portable(Tokens4.self, w, rowBytes: rowBytes, rowCount: rowCount, xt, xBytes: xBytes, blocks: blocks, yt, rows: rows, pk)
            case 3: q4_1Group_portable(Tokens3.self, w, rowBytes: rowBytes, rowCount: rowCount, xt, xBytes: xBytes, blocks: blocks, yt, rows: rows, pk)
            case 2: q4_1Group_portable(Tokens2.self, w, rowBytes: rowBytes, rowCount: rowCount, xt, xBytes: xBytes, blocks: blocks, yt, rows: rows, pk)
            default: q4_1Group_portable(Tokens1.self, w, rowBytes: rowBytes, rowCount: rowCount, xt, xBytes: xBytes, blocks: blocks, yt, rows: rows, pk)
            }
            t += n
        }
    }

    /// One group of `n` (`N.n`, 1…8: a constant in each specialisation) tokens of ``matmulQ4_1_portable``.
    static func q4_1Group_portable<N: TokenCount>(_: N.Type, _ w: UnsafeRawPointer, rowBytes: Int, rowCount: Int, _ x: UnsafeRawPointer,
                                   xBytes: Int, blocks: Int, _ y: UnsafeMutablePointer<Float>, rows: Range<Int>,
                                   _ pk: UnsafeMutableRawPointer) {
        let n = N.n  // a constant in each specialisation
        packQ8_1x8_portable(x, xBytes: xBytes, tokens: n, blocks: blocks, into: pk)
        for r in rows {
            let w0 = w + r * rowBytes
            var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
            var a4 = SIMD8<Float>(), a5 = SIMD8<Float>(), a6 = SIMD8<Float>(), a7 = SIMD8<Float>()
            var ms = SIMD8<Float>()  // lane j: the m_w·s_x chain of token j
            for b in 0..<blocks {
                let o = b * 20, q = UnsafeRawPointer(pk + b * packedBlockBytes_portable)
                let dx = q.load(as: SIMD8<Float>.self), sx = q.load(fromByteOffset: 32, as: SIMD8<Float>.self)
                let ws = halfPairs4(w0 + o, w0 + o, w0 + o, w0 + o)   // d_w, m_w, …
                let d = SIMD8<Float>(repeating: ws[0]) * dx           // lane j: d_w·d_xj
                ms.addProduct(SIMD8<Float>(repeating: ws[1]), sx)
                let q0 = KSIMD.nibblePairs(w0 + o + 4)
                a0.addProduct(KSIMD.float(KSIMD.quadDot(q0, pairs(q, 64))), SIMD8(repeating: d[0]))
                if n > 1 { a1.addProduct(KSIMD.float(KSIMD.quadDot(q0, pairs(q, 128))), SIMD8(repeating: d[1])) }
                if n > 2 { a2.addProduct(KSIMD.float(KSIMD.quadDot(q0, pairs(q, 192))), SIMD8(repeating: d[2])) }
                if n > 3 { a3.addProduct(KSIMD.float(KSIMD.quadDot(q0, pairs(q, 256))), SIMD8(repeating: d[3])) }
                if n > 4 { a4.addProduct(KSIMD.float(KSIMD.quadDot(q0, pairs(q, 320))), SIMD8(repeating: d[4])) }
                if n > 5 { a5.addProduct(KSIMD.float(KSIMD.quadDot(q0, pairs(q, 384))), SIMD8(repeating: d[5])) }
                if n > 6 { a6.addProduct(KSIMD.float(KSIMD.quadDot(q0, pairs(q, 448))), SIMD8(repeating: d[6])) }
                if n > 7 { a7.addProduct(KSIMD.float(KSIMD.quadDot(q0, pairs(q, 512))), SIMD8(repeating: d[7])) }
            }
            let out = y + r
            out[0] = KSIMD.hsum(a0) + ms[0]
            if n > 1 { out[rowCount] = KSIMD.hsum(a1) + ms[1] }
            if n > 2 { out[2 * rowCount] = KSIMD.hsum(a2) + ms[2] }
            if n > 3 { out[3 * rowCount] = KSIMD.hsum(a3) + ms[3] }
            if n > 4 { out[4 * rowCount] = KSIMD.hsum(a4) + ms[4] }
            if n > 5 { out[5 * rowCount] = KSIMD.hsum(a5) + ms[5] }
            if n > 6 { out[6 * rowCount] = KSIMD.hsum(a6) + ms[6] }
            if n > 7 { out[7 * rowCount] = KSIMD.hsum(a7) + ms[7] }
        }
    }
}

extension MatMul {
    /// Bytes of per-thread scratch (``TileScratch``) a product of a `type` matrix with `cols` columns and
    /// `tokens` activation rows makes each participating thread hold, at most: packed activations of the
    /// tiles (x86-64 prefill: Q4_1 352 B per 32 columns, Q4_0/Q5_0 576 B, Q8_0 320 B, Q4_K/Q6_K
    /// 2464 B per 256 columns; x86-64 decode: none; other CPUs: Q4_1 only, 96 B per block for decode and
    /// 576 B for prefill), at least the 16 KiB first allocation when any; 0 otherwise.
    /// The buffer stays with the thread for its lifetime. - Complexity: O(1).
    public static func threadScratchBytes(type: GGMLType, cols: Int, tokens: Int) -> Int {
        guard tokens > 0 else { return 0 }
        #if arch(x86_64)
        guard tokens > 1 else { return 0 }  // the AVX2 matvecs read the activation in place
        switch type {
        case .q4_1: return TileScratch.allocationBytes(for: cols / 32 * (packedBlockBytes_avx2 + 32))
        case .q4_0, .q5_0: return TileScratch.allocationBytes(for: cols / 32 * (packedQ8_0SumsBlockBytes + 32))
        case .q8_0: return TileScratch.allocationBytes(for: cols / 32 * (packedQ8_0BlockBytes + 32))
        case .q4_K, .q6_K: return TileScratch.allocationBytes(for: cols / 256 * packedQ8_KBlockBytes)
        default: return 0
        }
        #else
        guard type == .q4_1 else { return 0 }
        let need = cols / 32 * (tokens == 1 ? packedVectorBlockBytes : packedBlockBytes_portable)
        return TileScratch.allocationBytes(for: need)
        #endif
    }
}

/// Per-thread scratch for packed tile operands (``MatMul/packQ8_1x8_avx2(_:xBytes:tokens:blocks:into:)``): a 64-byte
/// aligned heap block owned by the calling thread (a `pthread` key; freed when the thread exits), grown on
/// first use to the widest row seen and then reused, so a steady-state matmul allocates nothing. SmolLM2's
/// widest Q4_1 row (1536 columns) needs 16.5 KiB per thread on x86-64 (27 KiB with the portable kernels).
enum TileScratch {
    private static let key: pthread_key_t = {
        var k = pthread_key_t()
        #if canImport(Darwin)
        pthread_key_create(&k) { $0.deallocate() }
        #else
        pthread_key_create(&k) { $0?.deallocate() }
        #endif
        return k
    }()

    /// The first allocation's usable bytes.
    static let minimumCapacity = 16 << 10

    /// Heap bytes a thread holds after asking for `bytes` (header included).
    static func allocationBytes(for bytes: Int) -> Int { max(bytes, minimumCapacity) + 64 }

    /// At least `bytes` bytes of this thread's scratch. Contents are undefined; valid until the next call on
    /// this thread. - Complexity: O(1); allocates only when `bytes` exceeds every earlier request here.
    static func buffer(bytes: Int) -> UnsafeMutableRawPointer {
        // Layout: capacity (Int) in the first 64 bytes, then the usable bytes.
        if let p = pthread_getspecific(key) {
            let base = UnsafeMutableRawPointer(p)
            if base.load(as: Int.self) >= bytes { return base + 64 }
            base.deallocate()
        }
        let capacity = max(bytes, minimumCapacity)
        let base = UnsafeMutableRawPointer.allocate(byteCount: capacity + 64, alignment: 64)
        base.storeBytes(of: capacity, as: Int.self)
        pthread_setspecific(key, base)
        return base + 64
    }
}
