// Block steps of the K-quants against Q8_K activations, after ggml's `ggml_vec_dot_q{4,5,6}_K_q8_K`
// (ggml/src/ggml-cpu/arch/x86/quants.c, AVX2): per 256-element super-block an exact Int32 sum
// Σ_sub scale_sub · Σ q·q8 in ggml's lanes (lane k holds elements 4k…4k+3 of every 32-element group), one
// fma with d_w·d_x, and the mins term −dmin_w·d_x·Σ m_sub·bsums (Q4_K: in ggml's 4 float lanes, so Q4_K
// and Q6_K dots are bit-identical to ggml's).
//
// Bounds: Q4_K pair sums ≤ 4·15·127 = 7620 (× scale ≤ 63, 8 sub-blocks: < 2^22); Q5_K ≤ 4·31·127 = 15 748;
// Q6_K |q| ≤ 32, per 16-lane product ≤ 4064, pair sums ≤ 8128, × |scale| ≤ 128.

/// A K-quant block step: 256-element super-blocks against 292-byte Q8_K activation blocks
/// (`d f32 | qs i8[256] | bsums i16[16]`).
protocol KQuantDot: BlockDot {}

extension KQuantDot {
    static var elements: Int { 256 }
    static var activationBytes: Int { 292 }
}

/// Decodes the 12-byte packed 6-bit scales and mins of Q4_K/Q5_K (ggml `get_scale_min_k4`), sub-blocks 0…7.
@inline(__always)
func kScalesMins(_ q: UnsafeRawPointer) -> (scales: SIMD8<Int32>, mins: SIMD8<Int32>) {
    var sc = SIMD8<Int32>(), mn = SIMD8<Int32>()
    for j in 0..<4 {
        sc[j] = Int32(q.load(fromByteOffset: j, as: UInt8.self) & 63)
        mn[j] = Int32(q.load(fromByteOffset: j + 4, as: UInt8.self) & 63)
    }
    for j in 4..<8 {
        let a = q.load(fromByteOffset: j + 4, as: UInt8.self)
        let b = q.load(fromByteOffset: j - 4, as: UInt8.self)
        let c = q.load(fromByteOffset: j, as: UInt8.self)
        sc[j] = Int32((a & 0x0F) | ((b >> 6) << 4))
        mn[j] = Int32((a >> 4) | ((c >> 6) << 4))
    }
    return (sc, mn)
}

/// Σ_j mins[j] · (bsums[2j] + bsums[2j+1]) for the 16 Int16 group sums of a Q8_K block.
@inline(__always)
func kMinsDot(_ bsums: UnsafeRawPointer, _ mins: SIMD8<Int32>) -> Int32 {
    var b = SIMD16<Int16>()
    for i in 0..<16 { b[i] = bsums.loadUnaligned(fromByteOffset: 2 * i, as: Int16.self) }
    return (KSIMD.pairSum(b) &* mins).wrappedSum()
}

/// Q4_K · Q8_K. Weight block (144 B): d f16 | dmin f16 | scales[12] | qs[128]. Activation: Q8_K (292 B).
enum Q4_KDot: KQuantDot {
    static let weightBytes = 144

    @inline(__always)
    static func accumulate(_ w: UnsafeRawPointer, _ x: UnsafeRawPointer, _ acc: inout DotAccumulator) {
        let dx = x.loadUnaligned(as: Float.self)
        let h = KSIMD.halves4(w, w)  // d, dmin
        let (isum, mins) = q4KLanes(w, x)
        // Mins: 4 lanes of m_{2t}·(bsums of sub-block 2t) + m_{2t+1}·(…2t+1), fused with −d_x·dmin (ggml's acc_m).
        acc.m.addProduct(SIMD4<Float>(mins), SIMD4(repeating: -dx * h[1]))
        acc.v.addProduct(KSIMD.float(isum), SIMD8(repeating: h[0] * dx))
    }
}

/// Q4_K's exact integer parts in ggml's lanes: Σ_sub scale·Σ q·y (lane k: elements 4k…4k+3 of each group)
/// and the 4 mins lanes (``kMinsLanes(_:_:)``). AVX2 intrinsics on x86-64, the portable twin elsewhere.
@inline(__always)
func q4KLanes(_ w: UnsafeRawPointer, _ x: UnsafeRawPointer) -> (scaled: SIMD8<Int32>, mins: SIMD4<Int32>) {
    #if arch(x86_64)
    let p = AVX2Lanes.q4KPairs(w, x)
    return ((p.p0 &+ p.p1) &+ (p.p2 &+ p.p3), p.mins)
    #else
    return q4KLanes_portable(w, x)
    #endif
}

/// ``q4KLanes(_:_:)`` in portable Swift SIMD (16-bit products; the same integers).
@inline(__always)
func q4KLanes_portable(_ w: UnsafeRawPointer, _ x: UnsafeRawPointer) -> (scaled: SIMD8<Int32>, mins: SIMD4<Int32>) {
    let (sc, mn) = kScalesMins(w + 4)
    let m4 = KSIMD.splat16(0x0F), s4 = KSIMD.splat16(4)
    var isum = SIMD8<Int32>()
    for j in 0..<4 {
        // Bytes 32j…32j+31: low nibbles are elements 64j…64j+31, high nibbles 64j+32…64j+63.
        let q0 = KSIMD.zext16(w + 16 + 32 * j), q1 = KSIMD.zext16(w + 32 + 32 * j)
        let y = x + 4 + 64 * j
        let lo = KSIMD.quadLanes((q0 & m4) &* KSIMD.sext16(y), (q1 & m4) &* KSIMD.sext16(y + 16))
        let hi = KSIMD.quadLanes((q0 &>> s4) &* KSIMD.sext16(y + 32), (q1 &>> s4) &* KSIMD.sext16(y + 48))
        isum &+= lo &* KSIMD.splat(sc[2 * j]) &+ hi &* KSIMD.splat(sc[2 * j + 1])
    }
    return (isum, kMinsLanes(x + 260, mn))
}

/// The exact integer parts of a Q4_K · Q8_K super-block per sub-block pair sb = 0…3: `scaled[sb]` =
/// sc_{2sb}·Σ q·y (elements 64sb…64sb+31) + sc_{2sb+1}·Σ q·y (64sb+32…64sb+63), `mins[sb]` =
/// m_{2sb}·(y sum of sub-block 2sb) + m_{2sb+1}·(y sum of 2sb+1).
@inline(__always)
func q4KPairSums(_ w: UnsafeRawPointer, _ x: UnsafeRawPointer) -> (scaled: SIMD4<Int32>, mins: SIMD4<Int32>) {
    #if arch(x86_64)
    let p = AVX2Lanes.q4KPairs(w, x)
    return (KSIMD.lanesTotals(p.p0, p.p1, p.p2, p.p3), p.mins)
    #else
    return q4KPairSums_portable(w, x)
    #endif
}

/// ``q4KPairSums(_:_:)`` in portable Swift SIMD.
@inline(__always)
func q4KPairSums_portable(_ w: UnsafeRawPointer, _ x: UnsafeRawPointer) -> (scaled: SIMD4<Int32>, mins: SIMD4<Int32>) {
    let (sc, mn) = kScalesMins(w + 4)
    let m4 = KSIMD.splat16(0x0F), s4 = KSIMD.splat16(4)
    @inline(__always) func pair(_ j: Int) -> SIMD8<Int32> {
        let q0 = KSIMD.zext16(w + 16 + 32 * j), q1 = KSIMD.zext16(w + 32 + 32 * j)
        let y = x + 4 + 64 * j
        let lo = KSIMD.quadLanes((q0 & m4) &* KSIMD.sext16(y), (q1 & m4) &* KSIMD.sext16(y + 16))
        let hi = KSIMD.quadLanes((q0 &>> s4) &* KSIMD.sext16(y + 32), (q1 &>> s4) &* KSIMD.sext16(y + 48))
        return lo &* KSIMD.splat(sc[2 * j]) &+ hi &* KSIMD.splat(sc[2 * j + 1])
    }
    return (KSIMD.lanesTotals(pair(0), pair(1), pair(2), pair(3)), kMinsLanes(x + 260, mn))
}

/// Q4_K · Q8_K in the order of llama.cpp's AVX2 **repacked GEMV** (`ggml_gemv_q4_K_8x8_q8_K`, what llama.cpp
/// runs for Q4_K matrices whose row count is a multiple of 8, for single rows of activations): per super-block
/// one fma of the exact integer total with d_w·d_x into one chain, one of the mins total with dmin_w·d_x into a
/// second chain, the result their difference (the second chain is kept negated in `acc.m[0]`).
enum Q4_KGemvDot: KQuantDot {
    static let weightBytes = 144

    @inline(__always)
    static func accumulate(_ w: UnsafeRawPointer, _ x: UnsafeRawPointer, _ acc: inout DotAccumulator) {
        let dx = x.loadUnaligned(as: Float.self)
        let h = KSIMD.halves4(w, w)  // d, dmin
        let (scaled, mins) = q4KPairSums(w, x)
        acc.s.addProduct(Float(scaled.wrappedSum()), h[0] * dx)
        acc.m[0].addProduct(-Float(mins.wrappedSum()), h[1] * dx)
    }
}

/// Q4_K · Q8_K in the order of llama.cpp's AVX2 **repacked GEMM** (`ggml_gemm_q4_K_8x8_q8_K`, for activation
/// rows in groups of 4): like ``Q4_KGemvDot`` but one fma per sub-block pair (four per super-block) in each chain.
enum Q4_KGemmDot: KQuantDot {
    static let weightBytes = 144

    @inline(__always)
    static func accumulate(_ w: UnsafeRawPointer, _ x: UnsafeRawPointer, _ acc: inout DotAccumulator) {
        let dx = x.loadUnaligned(as: Float.self)
        let h = KSIMD.halves4(w, w)
        let (scaled, mins) = q4KPairSums(w, x)
        let d = h[0] * dx, dmin = h[1] * dx
        for sb in 0..<4 {
            acc.s.addProduct(Float(scaled[sb]), d)
            acc.m[0].addProduct(-Float(mins[sb]), dmin)
        }
    }
}

/// ggml's Q4_K mins lanes: t = 0…3 holds m_{2t}·(b_{4t} + b_{4t+1}) + m_{2t+1}·(b_{4t+2} + b_{4t+3}) over the
/// 16 Int16 group sums b of a Q8_K block (`_mm_hadd_epi16` then `_mm_madd_epi16`).
@inline(__always)
func kMinsLanes(_ bsums: UnsafeRawPointer, _ mins: SIMD8<Int32>) -> SIMD4<Int32> {
    var b = SIMD16<Int16>()
    for i in 0..<16 { b[i] = bsums.loadUnaligned(fromByteOffset: 2 * i, as: Int16.self) }
    let sub = KSIMD.pairSum(b) &* mins          // m_j · (b_{2j} + b_{2j+1}), j = 0…7
    return sub.evenHalf &+ sub.oddHalf
}

/// Q5_K · Q8_K. Weight block (176 B): d | dmin | scales[12] | qh[32] | qs[128]; element of sub-block s at
/// byte l gets bit s of qh[l] as its fifth bit.
enum Q5_KDot: KQuantDot {
    static let weightBytes = 176

    @inline(__always)
    static func accumulate(_ w: UnsafeRawPointer, _ x: UnsafeRawPointer, _ acc: inout DotAccumulator) {
        let dx = x.loadUnaligned(as: Float.self)
        let h = KSIMD.halves4(w, w)
        let (isum, mins) = q5KLanes(w, x)
        // ggml: summs += dmin · Σ (one scalar, fused by gcc's default contraction), dmin = −d_x·dmin_w.
        acc.s.addProduct(-dx * h[1], Float(mins))
        acc.v.addProduct(KSIMD.float(isum), SIMD8(repeating: h[0] * dx))
    }
}

/// Q5_K's exact integer parts in ggml's lanes: Σ_sub scale·Σ q·y (lane k: elements 4k…4k+3 of each group)
/// and Σ_sub m_sub·(y sum of the sub-block).
@inline(__always)
func q5KLanes(_ w: UnsafeRawPointer, _ x: UnsafeRawPointer) -> (scaled: SIMD8<Int32>, mins: Int32) {
    let (sc, mn) = kScalesMins(w + 4)
    let m4 = KSIMD.splat16(0x0F), s4 = KSIMD.splat16(4), one = KSIMD.splat16(1)
    let qh0 = KSIMD.zext16(w + 16), qh1 = KSIMD.zext16(w + 32)
    var isum = SIMD8<Int32>()
    for j in 0..<4 {
        let q0 = KSIMD.zext16(w + 48 + 32 * j), q1 = KSIMD.zext16(w + 64 + 32 * j)
        let sl = KSIMD.splat16(Int16(2 * j)), sh = KSIMD.splat16(Int16(2 * j + 1))
        let l0 = (q0 & m4) | (((qh0 &>> sl) & one) &<< s4)
        let l1 = (q1 & m4) | (((qh1 &>> sl) & one) &<< s4)
        let h0 = (q0 &>> s4) | (((qh0 &>> sh) & one) &<< s4)
        let h1 = (q1 &>> s4) | (((qh1 &>> sh) & one) &<< s4)
        let y = x + 4 + 64 * j
        let pl = KSIMD.quadLanes(l0 &* KSIMD.sext16(y), l1 &* KSIMD.sext16(y + 16))
        let ph = KSIMD.quadLanes(h0 &* KSIMD.sext16(y + 32), h1 &* KSIMD.sext16(y + 48))
        isum &+= pl &* KSIMD.splat(sc[2 * j]) &+ ph &* KSIMD.splat(sc[2 * j + 1])
    }
    return (isum, kMinsDot(x + 260, mn))
}

/// Q6_K · Q8_K. Weight block (210 B): ql[128] | qh[64] | scales i8[16] | d f16; element e = 6-bit q − 32
/// with scale scales[e / 16].
enum Q6_KDot: KQuantDot {
    /// Measured (640×2048): one row per pass ~10% faster; the 4-row pass spills the 16 activation vectors.
    static let streamsRows = true
    static let weightBytes = 210

    @inline(__always)
    static func accumulate(_ w: UnsafeRawPointer, _ x: UnsafeRawPointer, _ acc: inout DotAccumulator) {
        let dx = x.loadUnaligned(as: Float.self)
        let d = KSIMD.half(w + 208)
        acc.v.addProduct(KSIMD.float(q6KLanes(w, x)), SIMD8(repeating: d * dx))
    }
}

/// Q6_K's exact integer part Σ_g scale_g·Σ (q − 32)·y in ggml's AVX2 lanes (intrinsics on x86-64).
@inline(__always)
func q6KLanes(_ w: UnsafeRawPointer, _ x: UnsafeRawPointer) -> SIMD8<Int32> {
    #if arch(x86_64)
    return AVX2Lanes.q6K(w, x)
    #else
    return q6KLanes_portable(w, x)
    #endif
}

/// ``q6KLanes(_:_:)`` in portable Swift SIMD (16-bit products; the same integers).
@inline(__always)
func q6KLanes_portable(_ w: UnsafeRawPointer, _ x: UnsafeRawPointer) -> SIMD8<Int32> {
    let m4 = KSIMD.splat16(0x0F), m30 = KSIMD.splat16(0x30)
    let two = KSIMD.splat16(2), four = KSIMD.splat16(4)
    // ggml's order: per 32-element group t of 128-element half n, the unsigned 6-bit q·y summed four
    // elements per lane (maddubs, madd) × scales[8n + 2t] on lanes 0…3 and scales[8n + 2t + 1] on lanes
    // 4…7; the −32 offset once per super-block through the Q8_K group sums: lane k −= 32·(sc[2k]·b[2k] +
    // sc[2k+1]·b[2k+1]) (`q8sclsub`). Exact integers, in ggml's lanes.
    var isum = SIMD8<Int32>()
    for n in 0..<2 {
        let ql = w + 64 * n, qh = w + 128 + 32 * n, sc = w + 192 + 8 * n, y = x + 4 + 128 * n
        let a0 = KSIMD.zext16(ql), a1 = KSIMD.zext16(ql + 16)
        let b0 = KSIMD.zext16(ql + 32), b1 = KSIMD.zext16(ql + 48)
        let h0 = KSIMD.zext16(qh), h1 = KSIMD.zext16(qh + 16)
        @inline(__always) func group(_ t: Int, _ q0: SIMD16<Int16>, _ q1: SIMD16<Int16>) {
            let lanes = KSIMD.quadLanes(q0 &* KSIMD.sext16(y + 32 * t), q1 &* KSIMD.sext16(y + 32 * t + 16))
            let scale = SIMD8<Int32>(lowHalf: SIMD4(repeating: Int32(sc.load(fromByteOffset: 2 * t, as: Int8.self))),
                                     highHalf: SIMD4(repeating: Int32(sc.load(fromByteOffset: 2 * t + 1, as: Int8.self))))
            isum &+= lanes &* scale
        }
        group(0, (a0 & m4) | ((h0 &<< four) & m30), (a1 & m4) | ((h1 &<< four) & m30))
        group(1, (b0 & m4) | ((h0 &<< two) & m30), (b1 & m4) | ((h1 &<< two) & m30))
        group(2, (a0 &>> four) | (h0 & m30), (a1 &>> four) | (h1 & m30))
        group(3, (b0 &>> four) | ((h0 &>> two) & m30), (b1 &>> four) | ((h1 &>> two) & m30))
    }
    var scb = SIMD16<Int16>()
    var bs = SIMD16<Int16>()
    for g in 0..<16 {
        scb[g] = Int16(w.load(fromByteOffset: 192 + g, as: Int8.self))
        bs[g] = x.loadUnaligned(fromByteOffset: 260 + 2 * g, as: Int16.self)
    }
    isum &-= KSIMD.madd(scb, bs) &<< KSIMD.splat(5)
    return isum
}

// MARK: - llama.cpp's tiled K-quant matmul (ggml-cpu/tiled, batches of ≥ 8 activation rows)

/// The order of llama.cpp's AVX2 tiled matmul (`tiled_run_microtile_avx2`, taken for non-repacked K-quant
/// matrices when a batch has at least `MatMul.tiledMinimumRows` activation rows): per super-block the exact
/// integer totals, `res = d_w·s1` (minus `dmin_w·s2` fused, for formats with mins), then one fma `acc += res·d_x`.

/// Q4_K in the tiled order (for Q4_K matrices llama.cpp does not repack: rows not a multiple of 8).
enum Q4_KTiledDot: KQuantDot {
    static let weightBytes = 144

    @inline(__always)
    static func accumulate(_ w: UnsafeRawPointer, _ x: UnsafeRawPointer, _ acc: inout DotAccumulator) {
        let dx = x.loadUnaligned(as: Float.self)
        let h = KSIMD.halves4(w, w)
        let (scaled, mins) = q4KPairSums(w, x)
        let res = (h[0] * Float(scaled.wrappedSum())).addingProduct(-h[1], Float(mins.wrappedSum()))
        acc.s.addProduct(res, dx)
    }
}

/// Q5_K in the tiled order.
enum Q5_KTiledDot: KQuantDot {
    static let weightBytes = 176

    @inline(__always)
    static func accumulate(_ w: UnsafeRawPointer, _ x: UnsafeRawPointer, _ acc: inout DotAccumulator) {
        let dx = x.loadUnaligned(as: Float.self)
        let h = KSIMD.halves4(w, w)
        let (scaled, mins) = q5KLanes(w, x)
        let res = (h[0] * Float(scaled.wrappedSum())).addingProduct(-h[1], Float(mins))
        acc.s.addProduct(res, dx)
    }
}

/// Q6_K in the tiled order.
enum Q6_KTiledDot: KQuantDot {
    static let streamsRows = true
    static let weightBytes = 210

    @inline(__always)
    static func accumulate(_ w: UnsafeRawPointer, _ x: UnsafeRawPointer, _ acc: inout DotAccumulator) {
        let dx = x.loadUnaligned(as: Float.self)
        let d = KSIMD.half(w + 208)
        acc.s.addProduct(d * Float(q6KLanes(w, x).wrappedSum()), dx)
    }
}
