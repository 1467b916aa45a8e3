// Block steps of the float formats, 32 elements per step (ggml's AVX2 GGML_F32_STEP / GGML_F16_STEP) plus a
// scalar tail. F16 weights pair with F16 activations (ggml converts activations to f16 for F16 weights);
// BF16 weights are widened exactly and pair with F32 activations (ggml would round activations to bf16).

/// F32 · F32.
enum F32Dot: BlockDot {
    static let elements = 32
    static let weightBytes = 128
    static let activationBytes = 128

    @inline(__always)
    static func accumulate(_ w: UnsafeRawPointer, _ x: UnsafeRawPointer, _ acc: inout DotAccumulator) {
        // Two independent product chains per step, so the loop-carried dependency is one add per 32 elements.
        let a0 = w.loadUnaligned(as: SIMD8<Float>.self), a1 = w.loadUnaligned(fromByteOffset: 32, as: SIMD8<Float>.self)
        let a2 = w.loadUnaligned(fromByteOffset: 64, as: SIMD8<Float>.self)
        let a3 = w.loadUnaligned(fromByteOffset: 96, as: SIMD8<Float>.self)
        let b0 = x.loadUnaligned(as: SIMD8<Float>.self), b1 = x.loadUnaligned(fromByteOffset: 32, as: SIMD8<Float>.self)
        let b2 = x.loadUnaligned(fromByteOffset: 64, as: SIMD8<Float>.self)
        let b3 = x.loadUnaligned(fromByteOffset: 96, as: SIMD8<Float>.self)
        var p = a0 * b0, q = a2 * b2
        p.addProduct(a1, b1)
        q.addProduct(a3, b3)
        acc.v += p + q
    }

    @inline(__always)
    static func tail(_ w: UnsafeRawPointer, _ x: UnsafeRawPointer, count: Int, _ acc: inout DotAccumulator) {
        let a = w.assumingMemoryBound(to: Float.self), b = x.assumingMemoryBound(to: Float.self)
        for i in 0..<count { acc.s += a[i] * b[i] }
    }
}

/// F16 · F16 (both widened exactly, products accumulated in f32).
enum F16Dot: BlockDot {
    @inline(__always)
    static func half8(_ p: UnsafeRawPointer) -> SIMD8<Float> {
        KSIMD.widen(unsafeBitCast(p.loadUnaligned(as: SIMD2<UInt64>.self), to: SIMD8<Float16>.self))
    }

    static let elements = 32
    static let weightBytes = 64
    static let activationBytes = 64

    @inline(__always)
    static func accumulate(_ w: UnsafeRawPointer, _ x: UnsafeRawPointer, _ acc: inout DotAccumulator) {
        // Loading through SIMD2<UInt64> keeps LLVM on whole-ymm vcvtph2ps (a direct SIMD8<Float16> load was
        // split into xmm halves here).
        for k in 0..<4 {
            acc.v.addProduct(half8(w + 16 * k), half8(x + 16 * k))
        }
    }

    @inline(__always)
    static func tail(_ w: UnsafeRawPointer, _ x: UnsafeRawPointer, count: Int, _ acc: inout DotAccumulator) {
        for i in 0..<count {
            acc.s += Float(w.loadUnaligned(fromByteOffset: 2 * i, as: Float16.self))
                * Float(x.loadUnaligned(fromByteOffset: 2 * i, as: Float16.self))
        }
    }
}

/// BF16 · F32 (bf16 widened exactly by a 16-bit shift).
enum BF16Dot: BlockDot {
    static let elements = 32
    static let weightBytes = 64
    static let activationBytes = 128

    @inline(__always)
    static func widenBF16(_ p: UnsafeRawPointer) -> SIMD8<Float> {
        var r = SIMD8<UInt32>()
        for i in 0..<8 { r[i] = UInt32(p.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) }
        return unsafeBitCast(r &<< SIMD8<UInt32>(repeating: 16), to: SIMD8<Float>.self)
    }

    @inline(__always)
    static func accumulate(_ w: UnsafeRawPointer, _ x: UnsafeRawPointer, _ acc: inout DotAccumulator) {
        let b0 = x.loadUnaligned(as: SIMD8<Float>.self), b1 = x.loadUnaligned(fromByteOffset: 32, as: SIMD8<Float>.self)
        let b2 = x.loadUnaligned(fromByteOffset: 64, as: SIMD8<Float>.self)
        let b3 = x.loadUnaligned(fromByteOffset: 96, as: SIMD8<Float>.self)
        var p = widenBF16(w) * b0, q = widenBF16(w + 32) * b2
        p.addProduct(widenBF16(w + 16), b1)
        q.addProduct(widenBF16(w + 48), b3)
        acc.v += p + q
    }

    @inline(__always)
    static func tail(_ w: UnsafeRawPointer, _ x: UnsafeRawPointer, count: Int, _ acc: inout DotAccumulator) {
        for i in 0..<count {
            let bits = UInt32(w.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) << 16
            acc.s += Float(bitPattern: bits) * x.loadUnaligned(fromByteOffset: 4 * i, as: Float.self)
        }
    }
}
