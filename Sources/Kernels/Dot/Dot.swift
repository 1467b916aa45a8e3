import GGUF

/// Dot products of one weight row with one activation row, the way ggml's `vec_dot` computes them.
///
/// Each function takes `count` elements: `w` points at a row in the weight format, `x` at the activation row
/// already in the partner format (`MatMul.vecDotType`), e.g. `q4_1_q8_1` wants `x` from `Quantize.q8_1`.
/// For block formats `count` must be a multiple of the block size (32, or 256 for K-quants) — a
/// precondition; `WeightMatrix` validates shapes at load. Pointers need no alignment.
///
/// Every kernel has a scalar `_reference` twin with the same signature (ggml's generic C semantics, exact
/// integer block sums); the SIMD versions agree with them to float rounding (see `DotTests`).
/// - Complexity: O(count), no allocation.
/// Which of llama.cpp's CPU kernels a dot product reproduces, operation for operation. The integer part of a
/// block is exact in all of them; they differ in where the float rounding happens.
public enum DotOrder: Sendable, Equatable, CustomStringConvertible {
    /// `ggml_vec_dot_*` (AVX2 lanes, one fma per block into 8 float lanes, ggml's horizontal sum).
    case vec
    /// The repacked Q4_K GEMM (`ggml_gemm_q4_K_8x8_q8_K`): one fma per sub-block pair into one chain, mins in
    /// a second chain, their difference.
    case repackedGemm
    /// The repacked Q4_K GEMV (`ggml_gemv_q4_K_8x8_q8_K`): the same with one fma per super-block.
    case repackedGemv
    /// The tiled K-quant matmul (ggml-cpu/tiled): `d_w·s1 − dmin_w·s2` per super-block, one fma with `d_x`.
    case tiled

    public var description: String {
        switch self { case .vec: "vec"; case .repackedGemm: "repacked GEMM"; case .repackedGemv: "repacked GEMV"; case .tiled: "tiled" }
    }
}

public enum Dot {
    public static func q4_0_q8_0(_ w: UnsafeRawPointer, _ x: UnsafeRawPointer, count: Int) -> Float {
        precondition(count % 32 == 0, "Dot.q4_0_q8_0: count must be a multiple of 32")
        return Q4_0Dot.dot(w, x, count: count)
    }
    public static func q4_1_q8_1(_ w: UnsafeRawPointer, _ x: UnsafeRawPointer, count: Int) -> Float {
        precondition(count % 32 == 0, "Dot.q4_1_q8_1: count must be a multiple of 32")
        return Q4_1Dot.dot(w, x, count: count)
    }
    public static func q5_0_q8_0(_ w: UnsafeRawPointer, _ x: UnsafeRawPointer, count: Int) -> Float {
        precondition(count % 32 == 0, "Dot.q5_0_q8_0: count must be a multiple of 32")
        return Q5_0Dot.dot(w, x, count: count)
    }
    public static func q5_1_q8_1(_ w: UnsafeRawPointer, _ x: UnsafeRawPointer, count: Int) -> Float {
        precondition(count % 32 == 0, "Dot.q5_1_q8_1: count must be a multiple of 32")
        return Q5_1Dot.dot(w, x, count: count)
    }
    public static func q8_0_q8_0(_ w: UnsafeRawPointer, _ x: UnsafeRawPointer, count: Int) -> Float {
        precondition(count % 32 == 0, "Dot.q8_0_q8_0: count must be a multiple of 32")
        return Q8_0Dot.dot(w, x, count: count)
    }
    public static func q4_K_q8_K(_ w: UnsafeRawPointer, _ x: UnsafeRawPointer, count: Int) -> Float {
        precondition(count % 256 == 0, "Dot.q4_K_q8_K: count must be a multiple of 256")
        return Q4_KDot.dot(w, x, count: count)
    }
    public static func q5_K_q8_K(_ w: UnsafeRawPointer, _ x: UnsafeRawPointer, count: Int) -> Float {
        precondition(count % 256 == 0, "Dot.q5_K_q8_K: count must be a multiple of 256")
        return Q5_KDot.dot(w, x, count: count)
    }
    public static func q6_K_q8_K(_ w: UnsafeRawPointer, _ x: UnsafeRawPointer, count: Int) -> Float {
        precondition(count % 256 == 0, "Dot.q6_K_q8_K: count must be a multiple of 256")
        return Q6_KDot.dot(w, x, count: count)
    }
    /// F16 weights · F16 activations (`x` holds `count` binary16 values).
    public static func f16_f16(_ w: UnsafeRawPointer, _ x: UnsafeRawPointer, count: Int) -> Float {
        F16Dot.dot(w, x, count: count)
    }
    /// F32 · F32.
    public static func f32_f32(_ w: UnsafeRawPointer, _ x: UnsafeRawPointer, count: Int) -> Float {
        F32Dot.dot(w, x, count: count)
    }
    /// BF16 weights · F32 activations.
    public static func bf16_f32(_ w: UnsafeRawPointer, _ x: UnsafeRawPointer, count: Int) -> Float {
        BF16Dot.dot(w, x, count: count)
    }

    /// `row` in one of llama.cpp's accumulation orders (``DotOrder``; only K-quants have orders other than
    /// `.vec`, and only where llama.cpp runs them: see ``MatMul/dotOrder(type:rows:token:tokens:)``).
    public static func row(_ type: GGMLType, _ w: UnsafeRawPointer, _ x: UnsafeRawPointer, count: Int, order: DotOrder) -> Float {
        switch (type, order) {
        case (_, .vec): return row(type, w, x, count: count)
        case (.q4_K, .repackedGemm): return Q4_KGemmDot.dot(w, x, count: count)
        case (.q4_K, .repackedGemv): return Q4_KGemvDot.dot(w, x, count: count)
        case (.q4_K, .tiled): return Q4_KTiledDot.dot(w, x, count: count)
        case (.q5_K, .tiled): return Q5_KTiledDot.dot(w, x, count: count)
        case (.q6_K, .tiled): return Q6_KTiledDot.dot(w, x, count: count)
        default: preconditionFailure("Dot.row: \(type.name) has no \(order) order")
        }
    }

    /// Dispatches on the weight type; `x` must be in `MatMul.vecDotType(for: type)`.
    /// Precondition: the type is supported (`MatMul.vecDotType(for:) != nil`).
    public static func row(_ type: GGMLType, _ w: UnsafeRawPointer, _ x: UnsafeRawPointer, count: Int) -> Float {
        switch type {
        case .q4_0: return q4_0_q8_0(w, x, count: count)
        case .q4_1: return q4_1_q8_1(w, x, count: count)
        case .q5_0: return q5_0_q8_0(w, x, count: count)
        case .q5_1: return q5_1_q8_1(w, x, count: count)
        case .q8_0: return q8_0_q8_0(w, x, count: count)
        case .q4_K: return q4_K_q8_K(w, x, count: count)
        case .q5_K: return q5_K_q8_K(w, x, count: count)
        case .q6_K: return q6_K_q8_K(w, x, count: count)
        case .f16: return f16_f16(w, x, count: count)
        case .f32: return f32_f32(w, x, count: count)
        case .bf16: return bf16_f32(w, x, count: count)
        default: preconditionFailure("Dot.row: no kernel for \(type.name)")
        }
    }

    /// The scalar twin of `row`.
    public static func row_reference(_ type: GGMLType, _ w: UnsafeRawPointer, _ x: UnsafeRawPointer,
                                     count: Int) -> Float {
        switch type {
        case .q4_0: return q4_0_q8_0_reference(w, x, count: count)
        case .q4_1: return q4_1_q8_1_reference(w, x, count: count)
        case .q5_0: return q5_0_q8_0_reference(w, x, count: count)
        case .q5_1: return q5_1_q8_1_reference(w, x, count: count)
        case .q8_0: return q8_0_q8_0_reference(w, x, count: count)
        case .q4_K: return q4_K_q8_K_reference(w, x, count: count)
        case .q5_K: return q5_K_q8_K_reference(w, x, count: count)
        case .q6_K: return q6_K_q8_K_reference(w, x, count: count)
        case .f16: return f16_f16_reference(w, x, count: count)
        case .f32: return f32_f32_reference(w, x, count: count)
        case .bf16: return bf16_f32_reference(w, x, count: count)
        default: preconditionFailure("Dot.row_reference: no kernel for \(type.name)")
        }
    }
}
