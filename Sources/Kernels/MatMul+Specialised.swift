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

extension MatMul {
    /// Four fp16 pairs at `p0…p3` → `[a0, b0, a1, b1, a2, b2, a3, b3]`.
    @inline(__always)
    static func halfPairs4(_ p0: UnsafeRawPointer, _ p1: UnsafeRawPointer, _ p2: UnsafeRawPointer,
                           _ p3: UnsafeRawPointer) -> SIMD8<Float> {
        let v = SIMD4<UInt32>(p0.loadUnaligned(as: UInt32.self), p1.loadUnaligned(as: UInt32.self),
                              p2.loadUnaligned(as: UInt32.self), p3.loadUnaligned(as: UInt32.self))
        return KSIMD.widen(unsafeBitCast(v, to: SIMD8<Float16>.self))
    }

    /// y[r] for r in `rows` (decode): 4 rows per pass sharing the unpacked activation block.
    static func matvecQ4_1(_ w: UnsafeRawPointer, rowBytes: Int, _ x: UnsafeRawPointer, cols: Int,
                           _ y: UnsafeMutablePointer<Float>, rows: Range<Int>) {
        let blocks = cols / 32
        var r = rows.lowerBound
        while r + 4 <= rows.upperBound {
            let w0 = w + r * rowBytes, w1 = w0 + rowBytes, w2 = w1 + rowBytes, w3 = w2 + rowBytes
            var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
            var ms = SIMD8<Float>()  // odd lanes: the m_w·s_x chains of rows 0…3
            for b in 0..<blocks {
                let o = b * 20, xb = x + b * 36
                let xs = halfPairs4(xb, xb, xb, xb)               // d_x, s_x, d_x, s_x, …
                let ws = halfPairs4(w0 + o, w1 + o, w2 + o, w3 + o) // d_0, m_0, d_1, m_1, …
                let d = ws * xs                                    // even lanes: d_w·d_x
                ms.addProduct(ws, xs)                              // odd lanes: += m_w·s_x (fused)
                let xp = KSIMD.signedPairs(xb + 4)
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

    /// Bytes of one block of a packed 4-token group (see ``packQ8_1x4(_:xBytes:blocks:into:)``).
    static let packedBlockBytes = 320

    /// Packs tokens `0..<4` of Q8_1 rows at `x` (`xBytes` apart) for the 2×4 tile. Per block, 320 bytes:
    ///
    ///     [d_x0 d_x1 d_x2 d_x3 d_x0 d_x1 d_x2 d_x3]  8 × f32   (fp16 scales widened, exact)
    ///     [s_x0 s_x1 s_x2 s_x3 s_x0 s_x1 s_x2 s_x3]  8 × f32
    ///     token j = 0…3: even Int16 lanes (elements 0, 2, …, 30), odd Int16 lanes (1, 3, …, 31)  4 × 64 B
    ///
    /// The split into even/odd 16-bit lanes (`KSIMD.signedPairs`) is what every row of the tile needs before
    /// `vpmaddwd`; done here once per token group instead of once per row pair, and the tile's multiplies then
    /// take it straight from memory. Values are copied, never rounded: results stay bit-identical.
    @inline(__always)
    static func packQ8_1x4(_ x: UnsafeRawPointer, xBytes: Int, blocks: Int, into pk: UnsafeMutableRawPointer) {
        let x0 = x, x1 = x0 + xBytes, x2 = x1 + xBytes, x3 = x2 + xBytes
        for b in 0..<blocks {
            let p = b * 36, o = pk + b * packedBlockBytes
            let xs = halfPairs4(x0 + p, x1 + p, x2 + p, x3 + p)   // d_x0, s_x0, d_x1, s_x1, …
            o.storeBytes(of: SIMD8<Float>(xs[0], xs[2], xs[4], xs[6], xs[0], xs[2], xs[4], xs[6]), as: SIMD8<Float>.self)
            (o + 32).storeBytes(of: SIMD8<Float>(xs[1], xs[3], xs[5], xs[7], xs[1], xs[3], xs[5], xs[7]), as: SIMD8<Float>.self)
            let s0 = KSIMD.signedPairs(x0 + p + 4), s1 = KSIMD.signedPairs(x1 + p + 4)
            let s2 = KSIMD.signedPairs(x2 + p + 4), s3 = KSIMD.signedPairs(x3 + p + 4)
            (o + 64).storeBytes(of: s0.even, as: SIMD16<Int16>.self); (o + 96).storeBytes(of: s0.odd, as: SIMD16<Int16>.self)
            (o + 128).storeBytes(of: s1.even, as: SIMD16<Int16>.self); (o + 160).storeBytes(of: s1.odd, as: SIMD16<Int16>.self)
            (o + 192).storeBytes(of: s2.even, as: SIMD16<Int16>.self); (o + 224).storeBytes(of: s2.odd, as: SIMD16<Int16>.self)
            (o + 256).storeBytes(of: s3.even, as: SIMD16<Int16>.self); (o + 288).storeBytes(of: s3.odd, as: SIMD16<Int16>.self)
        }
    }

    /// y[t, r] for all tokens and r in `rows` (prefill): for each group of 4 tokens, pack their activations
    /// once (``packQ8_1x4(_:xBytes:blocks:into:)``, into this thread's ``TileScratch``), then 2-row × 4-token
    /// tiles over the rows; generic dots for an odd last row and the last `tokens % 4` tokens.
    static func matmulQ4_1(_ w: UnsafeRawPointer, rowBytes: Int, rowCount: Int, _ x: UnsafeRawPointer, xBytes: Int,
                           cols: Int, tokens: Int, _ y: UnsafeMutablePointer<Float>, rows: Range<Int>) {
        let blocks = cols / 32
        let pk = tokens >= 4 ? TileScratch.buffer(bytes: blocks * packedBlockBytes) : nil
        var t = 0
        while t + 4 <= tokens, let pk {
            packQ8_1x4(x + t * xBytes, xBytes: xBytes, blocks: blocks, into: pk)
            var r = rows.lowerBound
            while r + 2 <= rows.upperBound {
                let w0 = w + r * rowBytes, w1 = w0 + rowBytes
                var a00 = SIMD8<Float>(), a01 = SIMD8<Float>(), a02 = SIMD8<Float>(), a03 = SIMD8<Float>()
                var a10 = SIMD8<Float>(), a11 = SIMD8<Float>(), a12 = SIMD8<Float>(), a13 = SIMD8<Float>()
                var ms = SIMD8<Float>()  // lane 4i + j: the m_w·s_x chain of (row i, token j)
                for b in 0..<blocks {
                    let o = b * 20, q = UnsafeRawPointer(pk + b * packedBlockBytes)
                    let dx = q.load(as: SIMD8<Float>.self), sx = q.load(fromByteOffset: 32, as: SIMD8<Float>.self)
                    let ws = halfPairs4(w0 + o, w0 + o, w1 + o, w1 + o)  // d_0, m_0, d_0, m_0, d_1, m_1, d_1, m_1
                    let dw = SIMD8<Float>(ws[0], ws[0], ws[0], ws[0], ws[4], ws[4], ws[4], ws[4])
                    let mw = SIMD8<Float>(ws[1], ws[1], ws[1], ws[1], ws[5], ws[5], ws[5], ws[5])
                    let d = dw * dx
                    ms.addProduct(mw, sx)
                    let q0 = KSIMD.nibblePairs(w0 + o + 4), q1 = KSIMD.nibblePairs(w1 + o + 4)
                    let p0 = Self.pairs(q, 64), p1 = Self.pairs(q, 128), p2 = Self.pairs(q, 192), p3 = Self.pairs(q, 256)
                    a00.addProduct(KSIMD.float(KSIMD.quadDot(q0, p0)), SIMD8(repeating: d[0]))
                    a01.addProduct(KSIMD.float(KSIMD.quadDot(q0, p1)), SIMD8(repeating: d[1]))
                    a02.addProduct(KSIMD.float(KSIMD.quadDot(q0, p2)), SIMD8(repeating: d[2]))
                    a03.addProduct(KSIMD.float(KSIMD.quadDot(q0, p3)), SIMD8(repeating: d[3]))
                    a10.addProduct(KSIMD.float(KSIMD.quadDot(q1, p0)), SIMD8(repeating: d[4]))
                    a11.addProduct(KSIMD.float(KSIMD.quadDot(q1, p1)), SIMD8(repeating: d[5]))
                    a12.addProduct(KSIMD.float(KSIMD.quadDot(q1, p2)), SIMD8(repeating: d[6]))
                    a13.addProduct(KSIMD.float(KSIMD.quadDot(q1, p3)), SIMD8(repeating: d[7]))
                }
                y[t * rowCount + r] = KSIMD.hsum(a00) + ms[0]
                y[(t + 1) * rowCount + r] = KSIMD.hsum(a01) + ms[1]
                y[(t + 2) * rowCount + r] = KSIMD.hsum(a02) + ms[2]
                y[(t + 3) * rowCount + r] = KSIMD.hsum(a03) + ms[3]
                y[t * rowCount + r + 1] = KSIMD.hsum(a10) + ms[4]
                y[(t + 1) * rowCount + r + 1] = KSIMD.hsum(a11) + ms[5]
                y[(t + 2) * rowCount + r + 1] = KSIMD.hsum(a12) + ms[6]
                y[(t + 3) * rowCount + r + 1] = KSIMD.hsum(a13) + ms[7]
                r += 2
            }
            if r < rows.upperBound {
                for j in t..<t + 4 { y[j * rowCount + r] = Q4_1Dot.dot(w + r * rowBytes, x + j * xBytes, count: cols) }
            }
            t += 4
        }
        while t < tokens {
            for r in rows { y[t * rowCount + r] = Q4_1Dot.dot(w + r * rowBytes, x + t * xBytes, count: cols) }
            t += 1
        }
    }

    /// The packed (even, odd) lanes of one token at byte `offset` of a packed block.
    @inline(__always)
    private static func pairs(_ q: UnsafeRawPointer, _ offset: Int) -> (even: SIMD16<Int16>, odd: SIMD16<Int16>) {
        (q.load(fromByteOffset: offset, as: SIMD16<Int16>.self), q.load(fromByteOffset: offset + 32, as: SIMD16<Int16>.self))
    }
}

/// Per-thread scratch for packed tile operands (``MatMul/packQ8_1x4(_:xBytes:blocks:into:)``): a 64-byte
/// aligned heap block owned by the calling thread (a `pthread` key; freed when the thread exits), grown on
/// first use to the widest row seen and then reused, so a steady-state matmul allocates nothing. SmolLM2's
/// widest Q4_1 row (1536 columns) needs 15 KiB per thread.
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

    /// At least `bytes` bytes of this thread's scratch. Contents are undefined; valid until the next call on
    /// this thread. - Complexity: O(1); allocates only when `bytes` exceeds every earlier request here.
    static func buffer(bytes: Int) -> UnsafeMutableRawPointer {
        // Layout: capacity (Int) in the first 64 bytes, then the usable bytes.
        if let p = pthread_getspecific(key) {
            let base = UnsafeMutableRawPointer(p)
            if base.load(as: Int.self) >= bytes { return base + 64 }
            base.deallocate()
        }
        let capacity = max(bytes, 16 << 10)
        let base = UnsafeMutableRawPointer.allocate(byteCount: capacity + 64, alignment: 64)
        base.storeBytes(of: capacity, as: Int.self)
        pthread_setspecific(key, base)
        return base + 64
    }
}
