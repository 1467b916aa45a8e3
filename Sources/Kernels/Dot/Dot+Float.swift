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
        for k in 0..<4 {
            acc.v.addProduct(
                w.loadUnaligned(fromByteOffset: 32 * k, as: SIMD8<Float>.self),
                x.loadUnaligned(fromByteOffset: 32 * k, as: SIMD8<Float>.self))
        }
    }

    @inline(__always)
    static func tail(_ w: UnsafeRawPointer, _ x: UnsafeRawPointer, count: Int, _ acc: inout DotAccumulator) {
        let a = w.assumingMemoryBound(to: Float.self), b = x.assumingMemoryBound(to: Float.self)
        for i in 0..<count { acc.s += a[i] * b[i] }
    }
}

/// F16 · F16 (both widened exactly, products accumulated in f32).
enum F16Dot: BlockDot {
    static let elements = 32
    static let weightBytes = 64
    static let activationBytes = 64

    @inline(__always)
    static func accumulate(_ w: UnsafeRawPointer, _ x: UnsafeRawPointer, _ acc: inout DotAccumulator) {
        for k in 0..<4 {
            acc.v.addProduct(
                KSIMD.widen(w.loadUnaligned(fromByteOffset: 16 * k, as: SIMD8<Float16>.self)),
                KSIMD.widen(x.loadUnaligned(fromByteOffset: 16 * k, as: SIMD8<Float16>.self)))
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
        for k in 0..<4 {
            acc.v.addProduct(widenBF16(w + 16 * k), x.loadUnaligned(fromByteOffset: 32 * k, as: SIMD8<Float>.self))
        }
    }

    @inline(__always)
    static func tail(_ w: UnsafeRawPointer, _ x: UnsafeRawPointer, count: Int, _ acc: inout DotAccumulator) {
        for i in 0..<count {
            let bits = UInt32(w.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) << 16
            acc.s += Float(bitPattern: bits) * x.loadUnaligned(fromByteOffset: 4 * i, as: Float.self)
        }
    }
}
