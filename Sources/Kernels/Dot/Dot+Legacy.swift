// Block steps of the 32-element formats, after ggml's AVX2 `ggml_vec_dot_{q4_0,q4_1,q5_0,q5_1,q8_0}_q8_{0,1}`
// (ggml/src/ggml-cpu/arch/x86/quants.c): exact integer block dot, then one fma with d_w·d_x per block; the
// `_1` formats add m_w·s_x per block in a scalar. Layouts: Formats/BlockLayouts.swift.
//
// Every block dot is `KSIMD.quadDot`: both operands split into even/odd element lanes of Int16, two `vpmaddwd`
// and one add give lane k = Σ elements 4k…4k+3 — ggml's lane order — exactly in Int32 (|products| ≤ 31·128).

/// Q4_0 · Q8_0: `d | qs[16]` × `d | qs[32]`.
enum Q4_0Dot: BlockDot {
    static let elements = 32
    static let weightBytes = 18
    static let activationBytes = 34

    @inline(__always)
    static func accumulate(_ w: UnsafeRawPointer, _ x: UnsafeRawPointer, _ acc: inout DotAccumulator) {
        let h = KSIMD.halves2(w, x)
        let q = KSIMD.nibblePairs(w + 2), eight = KSIMD.splat16(8)
        let lanes = KSIMD.quadDot((q.even &- eight, q.odd &- eight), KSIMD.signedPairs(x + 2))
        acc.v.addProduct(KSIMD.float(lanes), SIMD8(repeating: h[0] * h[1]))
    }
}

/// Q4_1 · Q8_1: `d | m | qs[16]` × `d | s | qs[32]`; x·y = d_w d_x Σ q·q8 + m_w s_x.
enum Q4_1Dot: BlockDot {
    static let elements = 32
    static let weightBytes = 20
    static let activationBytes = 36

    @inline(__always)
    static func accumulate(_ w: UnsafeRawPointer, _ x: UnsafeRawPointer, _ acc: inout DotAccumulator) {
        // ggml's AVX2 order: lane k sums elements 4k…4k+3, one fused multiply-add by d_w·d_x per lane, and
        // m_w·s_x fused into the scalar.
        let h = KSIMD.halves4(w, x)  // d_w, m_w, d_x, s_x
        let lanes = KSIMD.quadDot(KSIMD.nibblePairs(w + 4), KSIMD.signedPairs(x + 4))
        acc.v.addProduct(KSIMD.float(lanes), SIMD8(repeating: h[0] * h[2]))
        acc.s.addProduct(h[1], h[3])
    }
}

/// The fifth bit of Q5_0/Q5_1 quants in even/odd element lanes: `even[i]` = 16 if bit 2i of `qh` is set,
/// `odd[i]` = 16 if bit 2i+1 is, else 0.
@inline(__always)
func q5HighPairs(_ qh: UInt32) -> (even: SIMD16<Int16>, odd: SIMD16<Int16>) {
    let v = SIMD16<Int16>(lowHalf: SIMD8(repeating: Int16(truncatingIfNeeded: qh)),
                          highHalf: SIMD8(repeating: Int16(truncatingIfNeeded: qh >> 16)))
    let evenBits = SIMD16<Int16>(1, 4, 16, 64, 256, 1024, 4096, 16384, 1, 4, 16, 64, 256, 1024, 4096, 16384)
    let oddBits = SIMD16<Int16>(2, 8, 32, 128, 512, 2048, 8192, Int16.min, 2, 8, 32, 128, 512, 2048, 8192, Int16.min)
    let zero = SIMD16<Int16>(), sixteen = KSIMD.splat16(16)
    return (zero.replacing(with: sixteen, where: (v & evenBits) .!= zero),
            zero.replacing(with: sixteen, where: (v & oddBits) .!= zero))
}

/// Q5_0 · Q8_0: `d | qh(u32) | qs[16]`; element j = (nibble | bit j of qh << 4) − 16.
enum Q5_0Dot: BlockDot {
    static let elements = 32
    static let weightBytes = 22
    static let activationBytes = 34

    @inline(__always)
    static func accumulate(_ w: UnsafeRawPointer, _ x: UnsafeRawPointer, _ acc: inout DotAccumulator) {
        let h = KSIMD.halves2(w, x)
        let hb = q5HighPairs(w.loadUnaligned(fromByteOffset: 2, as: UInt32.self))
        let q = KSIMD.nibblePairs(w + 6), sixteen = KSIMD.splat16(16)
        let lanes = KSIMD.quadDot(((q.even | hb.even) &- sixteen, (q.odd | hb.odd) &- sixteen), KSIMD.signedPairs(x + 2))
        acc.v.addProduct(KSIMD.float(lanes), SIMD8(repeating: h[0] * h[1]))
    }
}

/// Q5_1 · Q8_1: `d | m | qh(u32) | qs[16]`; element j = nibble | bit j of qh << 4; plus m_w s_x.
enum Q5_1Dot: BlockDot {
    static let elements = 32
    static let weightBytes = 24
    static let activationBytes = 36

    @inline(__always)
    static func accumulate(_ w: UnsafeRawPointer, _ x: UnsafeRawPointer, _ acc: inout DotAccumulator) {
        let dm = KSIMD.scaleAndOffset(w, x)  // (d_w·d_x, m_w·s_x)
        let hb = q5HighPairs(w.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
        let q = KSIMD.nibblePairs(w + 8)
        let lanes = KSIMD.quadDot((q.even | hb.even, q.odd | hb.odd), KSIMD.signedPairs(x + 4))
        acc.v.addProduct(KSIMD.float(lanes), SIMD8(repeating: dm[0]))
        acc.s += dm[1]
    }
}

/// Q8_0 · Q8_0: `d | qs[32]` × `d | qs[32]`.
enum Q8_0Dot: BlockDot {
    /// Measured on a 49152×576 head: one row per pass is ~15% faster than 4 rows (memory-stream bound).
    static let streamsRows = true
    static let elements = 32
    static let weightBytes = 34
    static let activationBytes = 34

    @inline(__always)
    static func accumulate(_ w: UnsafeRawPointer, _ x: UnsafeRawPointer, _ acc: inout DotAccumulator) {
        let h = KSIMD.halves2(w, x)
        // ggml's AVX2 order: lane k sums elements 4k…4k+3.
        let lanes = KSIMD.quadDot(KSIMD.signedPairs(w + 2), KSIMD.signedPairs(x + 2))
        acc.v.addProduct(KSIMD.float(lanes), SIMD8(repeating: h[0] * h[1]))
    }
}
