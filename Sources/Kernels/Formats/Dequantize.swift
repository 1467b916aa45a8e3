// Dequantization of ggml tensor rows to Float32, bit-exact with ggml's reference `dequantize_row_*`
// (ggml/src/ggml-quants.c) and with llama.cpp's Python `gguf.quants.dequantize`.
//
// Bit-exactness rules followed by every kernel here:
// - fp16 → f32 is exact: `Float(Float16(bitPattern:))`.
// - The float operations and their order are ggml's: e.g. Q4_1 `q * d + m` as a rounded multiply then a
//   rounded add (never a fused multiply-add: Swift does not contract `a * b + c`); K-quants form the sub-block
//   products `d * sc` and `dmin * m` first, then `d1 * q - m1`.
// - The SIMD versions perform exactly the same per-element operations as the `_reference` twins (only the
//   integer unpacking is vectorised), so they are bitwise identical, which the tests check.
//
// Layouts: see BlockLayouts.swift.

/// Row dequantizers (quantized bytes → Float32), one per ggml type, each with a scalar `_reference` twin.
///
/// All functions take `count` elements, which must be a multiple of the type's block size (a precondition:
/// use `Dequantize.checkedRow` to get a `KernelError` instead). `src` needs no alignment.
/// - Complexity: O(count); no allocation.
public enum Dequantize {}

// MARK: - Shared scalar/SIMD helpers (internal)

/// Internal namespace of lane helpers shared by the format and op kernels (kept out of the module's global
/// namespace so they cannot collide with helpers of other kernel files).
enum Lane {
    /// Loads the f16 at `p + offset` and widens it exactly to Float.
    @inline(__always)
    static func f16(_ p: UnsafeRawPointer, _ offset: Int) -> Float {
        Float(Float16(bitPattern: p.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
    }

    /// 8 unsigned bytes zero-extended to Int32 lanes (vpmovzxbd).
    @inline(__always)
    static func zext8(_ p: UnsafeRawPointer) -> SIMD8<Int32> {
        var r = SIMD8<Int32>()
        for i in 0..<8 { r[i] = Int32(p.load(fromByteOffset: i, as: UInt8.self)) }
        return r
    }

    /// 8 signed bytes sign-extended to Int32 lanes (vpmovsxbd).
    @inline(__always)
    static func sext8(_ p: UnsafeRawPointer) -> SIMD8<Int32> {
        var r = SIMD8<Int32>()
        for i in 0..<8 { r[i] = Int32(p.load(fromByteOffset: i, as: Int8.self)) }
        return r
    }

    /// Int32 lanes to Float lanes (vcvtdq2ps); exact for |v| < 2^24.
    @inline(__always)
    static func float(_ v: SIMD8<Int32>) -> SIMD8<Float> {
        var r = SIMD8<Float>()
        for i in 0..<8 { r[i] = Float(v[i]) }
        return r
    }

    /// Stores 8 floats at `p + index` without alignment requirements.
    @inline(__always)
    static func store8(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>, _ index: Int) {
        UnsafeMutableRawPointer(p + index).storeBytes(of: v, as: SIMD8<Float>.self)
    }
}

extension Dequantize {
    @inline(__always)
    static func checkBlocks(_ count: Int, _ blockSize: Int, _ name: StaticString) {
        precondition(count >= 0 && count % blockSize == 0,
                     "Dequantize.\(name): count is not a multiple of the block size")
    }
}

// MARK: - F32, F16, BF16

extension Dequantize {
    /// F32 → F32: a copy (`src` may be unaligned).
    public static func f32(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, count: Int) {
        precondition(count >= 0)
        UnsafeMutableRawPointer(dst).copyMemory(from: src, byteCount: count * 4)
    }

    /// Scalar twin of `f32`.
    public static func f32_reference(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, count: Int) {
        precondition(count >= 0)
        for i in 0..<count { dst[i] = src.loadUnaligned(fromByteOffset: 4 * i, as: Float.self) }
    }

    /// F16 → F32, exact; 8 lanes at a time (vcvtph2ps with `-march=x86-64-v3`).
    public static func f16(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, count: Int) {
        precondition(count >= 0)
        var i = 0
        while i + 8 <= count {
            let h = unsafeBitCast(src.loadUnaligned(fromByteOffset: 2 * i, as: SIMD8<UInt16>.self),
                                  to: SIMD8<Float16>.self)
            var f = SIMD8<Float>()
            for l in 0..<8 { f[l] = Float(h[l]) }
            Lane.store8(f, dst, i)
            i += 8
        }
        while i < count {
            dst[i] = Lane.f16(src, 2 * i)
            i += 1
        }
    }

    /// Scalar twin of `f16`.
    public static func f16_reference(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, count: Int) {
        precondition(count >= 0)
        for i in 0..<count { dst[i] = Lane.f16(src, 2 * i) }
    }

    /// BF16 → F32, exact (the 16 bits become the top half of the binary32).
    public static func bf16(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, count: Int) {
        precondition(count >= 0)
        var i = 0
        while i + 8 <= count {
            var w = SIMD8<UInt32>()
            for l in 0..<8 { w[l] = UInt32(src.loadUnaligned(fromByteOffset: 2 * (i + l), as: UInt16.self)) }
            Lane.store8(unsafeBitCast(w &<< SIMD8<UInt32>(repeating: 16), to: SIMD8<Float>.self), dst, i)
            i += 8
        }
        while i < count {
            dst[i] = Float(bitPattern: UInt32(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) << 16)
            i += 1
        }
    }

    /// Scalar twin of `bf16`.
    public static func bf16_reference(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, count: Int) {
        precondition(count >= 0)
        for i in 0..<count {
            dst[i] = Float(bitPattern: UInt32(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) << 16)
        }
    }
}
