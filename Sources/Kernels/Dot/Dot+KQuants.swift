// Block steps of the K-quants against Q8_K activations, after ggml's `ggml_vec_dot_q{4,5,6}_K_q8_K`
// (ggml/src/ggml-cpu/quants.c reference semantics, AVX2 structure): per 256-element super-block an exact
// Int32 sum Σ_sub scale_sub · Σ q·q8, one fma with d_w·d_x, and the mins term −dmin_w·d_x·Σ m_sub·bsums.
//
// Bounds: Q4_K pair sums ≤ 4·15·127 = 7620 (× scale ≤ 63, 8 sub-blocks: < 2^22); Q5_K ≤ 4·31·127 = 15 748;
// Q6_K |q| ≤ 32, per 16-lane product ≤ 4064, pair sums ≤ 8128, × |scale| ≤ 128.

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
enum Q4_KDot: BlockDot {
    static let elements = 256
    static let weightBytes = 144
    static let activationBytes = 292

    @inline(__always)
    static func accumulate(_ w: UnsafeRawPointer, _ x: UnsafeRawPointer, _ acc: inout DotAccumulator) {
        let dx = x.loadUnaligned(as: Float.self)
        let h = KSIMD.halves4(w, w)  // d, dmin
        let (sc, mn) = kScalesMins(w + 4)
        acc.s -= (h[1] * dx) * Float(kMinsDot(x + 260, mn))
        let m4 = KSIMD.splat16(0x0F), s4 = KSIMD.splat16(4)
        var isum = SIMD8<Int32>()
        for j in 0..<4 {
            let q0 = KSIMD.zext16(w + 16 + 32 * j), q1 = KSIMD.zext16(w + 32 + 32 * j)
            let y = x + 4 + 64 * j
            let pl = (q0 & m4) &* KSIMD.sext16(y) &+ (q1 & m4) &* KSIMD.sext16(y + 16)
            let ph = (q0 &>> s4) &* KSIMD.sext16(y + 32) &+ (q1 &>> s4) &* KSIMD.sext16(y + 48)
            isum &+= KSIMD.pairSum(pl) &* KSIMD.splat(sc[2 * j]) &+ KSIMD.pairSum(ph) &* KSIMD.splat(sc[2 * j + 1])
        }
        acc.v.addProduct(KSIMD.float(isum), SIMD8(repeating: h[0] * dx))
    }
}

/// Q5_K · Q8_K. Weight block (176 B): d | dmin | scales[12] | qh[32] | qs[128]; element of sub-block s at
/// byte l gets bit s of qh[l] as its fifth bit.
enum Q5_KDot: BlockDot {
    static let elements = 256
    static let weightBytes = 176
    static let activationBytes = 292

    @inline(__always)
    static func accumulate(_ w: UnsafeRawPointer, _ x: UnsafeRawPointer, _ acc: inout DotAccumulator) {
        let dx = x.loadUnaligned(as: Float.self)
        let h = KSIMD.halves4(w, w)
        let (sc, mn) = kScalesMins(w + 4)
        acc.s -= (h[1] * dx) * Float(kMinsDot(x + 260, mn))
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
            let pl = l0 &* KSIMD.sext16(y) &+ l1 &* KSIMD.sext16(y + 16)
            let ph = h0 &* KSIMD.sext16(y + 32) &+ h1 &* KSIMD.sext16(y + 48)
            isum &+= KSIMD.pairSum(pl) &* KSIMD.splat(sc[2 * j]) &+ KSIMD.pairSum(ph) &* KSIMD.splat(sc[2 * j + 1])
        }
        acc.v.addProduct(KSIMD.float(isum), SIMD8(repeating: h[0] * dx))
    }
}

@inline(__always)
func q6Scale(_ sc: UnsafeRawPointer, _ i: Int) -> SIMD8<Int32> {
    KSIMD.splat(Int32(sc.load(fromByteOffset: i, as: Int8.self)))
}

/// Q6_K · Q8_K. Weight block (210 B): ql[128] | qh[64] | scales i8[16] | d f16; element e = 6-bit q − 32
/// with scale scales[e / 16].
enum Q6_KDot: BlockDot {
    /// Measured (640×2048): one row per pass ~10% faster; the 4-row pass spills the 16 activation vectors.
    static let streamsRows = true
    static let elements = 256
    static let weightBytes = 210
    static let activationBytes = 292

    @inline(__always)
    static func accumulate(_ w: UnsafeRawPointer, _ x: UnsafeRawPointer, _ acc: inout DotAccumulator) {
        let dx = x.loadUnaligned(as: Float.self)
        let d = KSIMD.half(w + 208)
        let m4 = KSIMD.splat16(0x0F), m30 = KSIMD.splat16(0x30)
        let two = KSIMD.splat16(2), four = KSIMD.splat16(4)
        // Quants are summed unsigned (0…63); the −32 offset is applied once per super-block through the
        // Q8_K group sums: Σ sc·(q−32)·y = Σ sc·q·y − 32·Σ_g sc_g·bsums_g (exact integer identity).
        var isum = SIMD8<Int32>()
        for n in 0..<2 {
            let ql = w + 64 * n, qh = w + 128 + 32 * n, sc = w + 192 + 8 * n, y = x + 4 + 128 * n
            for half in 0..<2 {
                let a = KSIMD.zext16(ql + 16 * half), b = KSIMD.zext16(ql + 32 + 16 * half)
                let hb = KSIMD.zext16(qh + 16 * half)
                let q1 = (a & m4) | ((hb &<< four) & m30)
                let q2 = (b & m4) | ((hb &<< two) & m30)
                let q3 = (a &>> four) | (hb & m30)
                let q4 = (b &>> four) | ((hb &>> two) & m30)
                isum &+= KSIMD.pairSum(q1 &* KSIMD.sext16(y + 16 * half)) &* q6Scale(sc, 0 + half)
                isum &+= KSIMD.pairSum(q2 &* KSIMD.sext16(y + 32 + 16 * half)) &* q6Scale(sc, 2 + half)
                isum &+= KSIMD.pairSum(q3 &* KSIMD.sext16(y + 64 + 16 * half)) &* q6Scale(sc, 4 + half)
                isum &+= KSIMD.pairSum(q4 &* KSIMD.sext16(y + 96 + 16 * half)) &* q6Scale(sc, 6 + half)
            }
        }
        // Σ_g sc_g · bsums_g over the 16 groups of 16 (scales i8, bsums i16), lane-wise in Int32.
        var scLo = SIMD8<Int32>(), scHi = SIMD8<Int32>(), bsLo = SIMD8<Int32>(), bsHi = SIMD8<Int32>()
        for g in 0..<8 {
            scLo[g] = Int32(w.load(fromByteOffset: 192 + g, as: Int8.self))
            scHi[g] = Int32(w.load(fromByteOffset: 200 + g, as: Int8.self))
            bsLo[g] = Int32(x.loadUnaligned(fromByteOffset: 260 + 2 * g, as: Int16.self))
            bsHi[g] = Int32(x.loadUnaligned(fromByteOffset: 276 + 2 * g, as: Int16.self))
        }
        isum &-= (scLo &* bsLo &+ scHi &* bsHi) &<< KSIMD.splat(5)
        acc.v.addProduct(KSIMD.float(isum), SIMD8(repeating: d * dx))
    }
}
