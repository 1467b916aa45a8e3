// Block steps of the 32-element formats, after ggml's AVX2 `ggml_vec_dot_{q4_0,q4_1,q5_0,q5_1,q8_0}_q8_{0,1}`
// (ggml/src/ggml-cpu/arch/x86/quants.c): exact integer block dot, then one fma with d_w·d_x per block; the
// `_1` formats add m_w·s_x per block in a scalar. Layouts: Formats/BlockLayouts.swift.
//
// Q4_0, Q4_1, Q5_0 and Q8_0 use Clang's AVX2 intrinsics on x86-64 (`Dot+AVX2.swift`, `vpmaddubsw` as ggml) and
// their portable Swift SIMD `lanes_portable` elsewhere (the same integers; tested against each other). Q5_1 (on
// no hot path) stays portable.
// Overflow bounds of the Int16 products (|q8| ≤ 127, the activation quantizers never emit −128):
//   Q4_0 |(-8)·127|·2 = 2032, Q4_1 15·127·2 = 3810, Q5_0 16·127·2 = 4064, Q5_1 31·127·2 = 7874 per lane;
//   pair sums at most twice that. Q8_0·Q8_0 products (≤ 16 384) are pair-summed before any addition.

/// Q4_0 · Q8_0: `d | qs[16]` × `d | qs[32]`.
enum Q4_0Dot: BlockDot {
    static let elements = 32
    static let weightBytes = 18
    static let activationBytes = 34

    @inline(__always)
    static func accumulate(_ w: UnsafeRawPointer, _ x: UnsafeRawPointer, _ acc: inout DotAccumulator) {
        let h = KSIMD.halves2(w, x)
        #if arch(x86_64)
        let lanes = AVX2Lanes.q4_0(w + 2, x + 2)
        #else
        let lanes = lanes_portable(w, x)
        #endif
        acc.v.addProduct(KSIMD.float(lanes), SIMD8(repeating: h[0] * h[1]))
    }

    /// The block's integer lanes in portable Swift SIMD (lane k: elements 4k…4k+3, ggml's AVX2 order).
    @inline(__always)
    static func lanes_portable(_ w: UnsafeRawPointer, _ x: UnsafeRawPointer) -> SIMD8<Int32> {
        let q = KSIMD.zext16(w + 2)
        let eight = KSIMD.splat16(8)
        let lo = (q & KSIMD.splat16(0x0F)) &- eight
        let hi = (q &>> KSIMD.splat16(4)) &- eight
        return KSIMD.quadLanes(lo &* KSIMD.sext16(x + 2), hi &* KSIMD.sext16(x + 18))
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
        #if arch(x86_64)
        let lanes = AVX2Lanes.q4_1(w + 4, x + 4)
        #else
        let lanes = lanes_portable(w, x)
        #endif
        acc.v.addProduct(KSIMD.float(lanes), SIMD8(repeating: h[0] * h[2]))
        acc.s.addProduct(h[1], h[3])
    }

    /// The block's integer lanes in portable Swift SIMD (`vpmaddwd` on even/odd element lanes; lane k: elements
    /// 4k…4k+3, ggml's AVX2 order).
    @inline(__always)
    static func lanes_portable(_ w: UnsafeRawPointer, _ x: UnsafeRawPointer) -> SIMD8<Int32> {
        KSIMD.quadDot(KSIMD.nibblePairs(w + 4), KSIMD.signedPairs(x + 4))
    }
}

/// Bit i of the 16-bit word → 16 in lane i, else 0 (the fifth bit of Q5_0/Q5_1 quants).
@inline(__always)
func q5HighBits(_ bits16: UInt32) -> SIMD16<Int16> {
    let lanes = SIMD16<Int16>(
        1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, Int16.min)
    let t = SIMD16<Int16>(repeating: Int16(truncatingIfNeeded: bits16)) & lanes
    return SIMD16<Int16>(repeating: 0).replacing(with: KSIMD.splat16(16), where: t .!= SIMD16<Int16>(repeating: 0))
}

/// Q5_0 · Q8_0: `d | qh(u32) | qs[16]`; element j = (nibble | bit j of qh << 4) − 16.
enum Q5_0Dot: BlockDot {
    static let elements = 32
    static let weightBytes = 22
    static let activationBytes = 34

    @inline(__always)
    static func accumulate(_ w: UnsafeRawPointer, _ x: UnsafeRawPointer, _ acc: inout DotAccumulator) {
        let h = KSIMD.halves2(w, x)
        #if arch(x86_64)
        let lanes = AVX2Lanes.q5_0(w + 2, w + 6, x + 2)
        #else
        let lanes = lanes_portable(w, x)
        #endif
        acc.v.addProduct(KSIMD.float(lanes), SIMD8(repeating: h[0] * h[1]))
    }

    /// The block's integer lanes in portable Swift SIMD (lane k: elements 4k…4k+3, ggml's AVX2 order).
    @inline(__always)
    static func lanes_portable(_ w: UnsafeRawPointer, _ x: UnsafeRawPointer) -> SIMD8<Int32> {
        let qh = w.loadUnaligned(fromByteOffset: 2, as: UInt32.self)
        let q = KSIMD.zext16(w + 6)
        let sixteen = KSIMD.splat16(16)
        let lo = ((q & KSIMD.splat16(0x0F)) | q5HighBits(qh & 0xFFFF)) &- sixteen
        let hi = ((q &>> KSIMD.splat16(4)) | q5HighBits(qh >> 16)) &- sixteen
        return KSIMD.quadLanes(lo &* KSIMD.sext16(x + 2), hi &* KSIMD.sext16(x + 18))
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
        let qh = w.loadUnaligned(fromByteOffset: 4, as: UInt32.self)
        let q = KSIMD.zext16(w + 8)
        let lo = (q & KSIMD.splat16(0x0F)) | q5HighBits(qh & 0xFFFF)
        let hi = (q &>> KSIMD.splat16(4)) | q5HighBits(qh >> 16)
        let p = lo &* KSIMD.sext16(x + 4) &+ hi &* KSIMD.sext16(x + 20)
        acc.v.addProduct(KSIMD.float(KSIMD.pairSum(p)), SIMD8(repeating: dm[0]))
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
        #if arch(x86_64)
        let lanes = AVX2Lanes.q8_0(w + 2, x + 2)
        #else
        let lanes = lanes_portable(w, x)
        #endif
        acc.v.addProduct(KSIMD.float(lanes), SIMD8(repeating: h[0] * h[1]))
    }

    /// The block's integer lanes in portable Swift SIMD (lane k: elements 4k…4k+3, ggml's AVX2 order).
    @inline(__always)
    static func lanes_portable(_ w: UnsafeRawPointer, _ x: UnsafeRawPointer) -> SIMD8<Int32> {
        KSIMD.quadLanes(KSIMD.sext16(w + 2) &* KSIMD.sext16(x + 2), KSIMD.sext16(w + 18) &* KSIMD.sext16(x + 18))
    }
}
