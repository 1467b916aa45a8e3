// Type-dispatched row dequantization over GGUF's GGMLType.

import GGUF

extension Dequantize {
    /// The types `row` can dequantize.
    public static let supportedTypes: Set<GGMLType> = [
        .f32, .f16, .bf16, .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q2_K, .q3_K, .q4_K, .q5_K, .q6_K,
    ]

    /// Whether `row` has a kernel for `type`.
    public static func isSupported(_ type: GGMLType) -> Bool {
        supportedTypes.contains(type)
    }

    /// Dequantizes `count` elements (a multiple of `type.blockSize`) of one row to Float32, bit-exact with ggml.
    ///
    /// Uses the SIMD kernel where there is one (all but Q2_K and Q3_K), else the scalar one.
    /// Preconditions: `isSupported(type)` and a whole number of blocks (see `checkedRow` for a throwing form).
    /// - Parameters:
    ///   - src: `type.rowBytes(count)` bytes; no alignment needed.
    ///   - dst: `count` floats.
    /// - Complexity: O(count); no allocation.
    public static func row(_ type: GGMLType, _ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>,
                           count: Int) {
        switch type {
        case .f32: f32(src, dst, count: count)
        case .f16: f16(src, dst, count: count)
        case .bf16: bf16(src, dst, count: count)
        case .q4_0: q4_0(src, dst, count: count)
        case .q4_1: q4_1(src, dst, count: count)
        case .q5_0: q5_0(src, dst, count: count)
        case .q5_1: q5_1(src, dst, count: count)
        case .q8_0: q8_0(src, dst, count: count)
        case .q2_K: q2_K(src, dst, count: count)
        case .q3_K: q3_K(src, dst, count: count)
        case .q4_K: q4_K(src, dst, count: count)
        case .q5_K: q5_K(src, dst, count: count)
        case .q6_K: q6_K(src, dst, count: count)
        default: preconditionFailure("Dequantize.row: unsupported type \(type.name); check isSupported first")
        }
    }

    /// Scalar twin of `row`: dispatches to the `_reference` kernels.
    public static func row_reference(_ type: GGMLType, _ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>,
                                     count: Int) {
        switch type {
        case .f32: f32_reference(src, dst, count: count)
        case .f16: f16_reference(src, dst, count: count)
        case .bf16: bf16_reference(src, dst, count: count)
        case .q4_0: q4_0_reference(src, dst, count: count)
        case .q4_1: q4_1_reference(src, dst, count: count)
        case .q5_0: q5_0_reference(src, dst, count: count)
        case .q5_1: q5_1_reference(src, dst, count: count)
        case .q8_0: q8_0_reference(src, dst, count: count)
        case .q2_K: q2_K_reference(src, dst, count: count)
        case .q3_K: q3_K_reference(src, dst, count: count)
        case .q4_K: q4_K_reference(src, dst, count: count)
        case .q5_K: q5_K_reference(src, dst, count: count)
        case .q6_K: q6_K_reference(src, dst, count: count)
        default: preconditionFailure("Dequantize.row_reference: unsupported type \(type.name)")
        }
    }

    /// `row` with its preconditions turned into errors.
    /// - Throws: `KernelError.unsupportedType` for a type without a kernel, `KernelError.invalidCount` when
    ///   `count` is negative or not a multiple of `type.blockSize`.
    public static func checkedRow(_ type: GGMLType, _ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>,
                                  count: Int) throws(KernelError) {
        guard isSupported(type) else { throw .unsupportedType(type.name) }
        guard count >= 0, count % type.blockSize == 0 else {
            throw .invalidCount(type: type.name, count: count, blockSize: type.blockSize)
        }
        row(type, src, dst, count: count)
    }
}
