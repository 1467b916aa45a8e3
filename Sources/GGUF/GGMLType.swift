// GGMLType: every ggml tensor type id with its ggml name and block layout.
// Layouts follow ggml's type traits (ggml/src/ggml.c, ggml-common.h static_asserts).

/// A ggml tensor element type, as stored in a GGUF tensor info (`ggml_type`).
///
/// Every id ggml has ever assigned is a case, so any real file parses. Types that ggml removed
/// (`Q4_2`, `Q4_3`, the `*_4_4`/`*_4_8`/`*_8_8` repacked types) have no block layout
/// (`hasLayout == false`): a file containing them still parses, and asking for such a tensor through
/// ``GGUFFile/requireTensor(_:)`` throws ``GGUFError/unsupportedType(name:tensor:)``.
public enum GGMLType: UInt32, Sendable, CaseIterable, CustomStringConvertible {
    case f32 = 0, f16 = 1, q4_0 = 2, q4_1 = 3
    case q4_2 = 4, q4_3 = 5  // removed from ggml; no layout
    case q5_0 = 6, q5_1 = 7, q8_0 = 8, q8_1 = 9
    case q2_K = 10, q3_K = 11, q4_K = 12, q5_K = 13, q6_K = 14, q8_K = 15
    case iq2_xxs = 16, iq2_xs = 17, iq3_xxs = 18, iq1_s = 19, iq4_nl = 20, iq3_s = 21, iq2_s = 22, iq4_xs = 23
    case i8 = 24, i16 = 25, i32 = 26, i64 = 27, f64 = 28
    case iq1_m = 29, bf16 = 30
    case q4_0_4_4 = 31, q4_0_4_8 = 32, q4_0_8_8 = 33  // removed from ggml (runtime repacking); no layout
    case tq1_0 = 34, tq2_0 = 35
    case iq4_nl_4_4 = 36, iq4_nl_4_8 = 37, iq4_nl_8_8 = 38  // removed from ggml; no layout
    case mxfp4 = 39, nvfp4 = 40, q1_0 = 41

    /// The ggml spelling of the type name ("F32", "Q4_1", "IQ2_XXS", "BF16", …).
    public var name: String {
        switch self {
        case .f32: "F32"
        case .f16: "F16"
        case .q4_0: "Q4_0"
        case .q4_1: "Q4_1"
        case .q4_2: "Q4_2"
        case .q4_3: "Q4_3"
        case .q5_0: "Q5_0"
        case .q5_1: "Q5_1"
        case .q8_0: "Q8_0"
        case .q8_1: "Q8_1"
        case .q2_K: "Q2_K"
        case .q3_K: "Q3_K"
        case .q4_K: "Q4_K"
        case .q5_K: "Q5_K"
        case .q6_K: "Q6_K"
        case .q8_K: "Q8_K"
        case .iq2_xxs: "IQ2_XXS"
        case .iq2_xs: "IQ2_XS"
        case .iq3_xxs: "IQ3_XXS"
        case .iq1_s: "IQ1_S"
        case .iq4_nl: "IQ4_NL"
        case .iq3_s: "IQ3_S"
        case .iq2_s: "IQ2_S"
        case .iq4_xs: "IQ4_XS"
        case .i8: "I8"
        case .i16: "I16"
        case .i32: "I32"
        case .i64: "I64"
        case .f64: "F64"
        case .iq1_m: "IQ1_M"
        case .bf16: "BF16"
        case .q4_0_4_4: "Q4_0_4_4"
        case .q4_0_4_8: "Q4_0_4_8"
        case .q4_0_8_8: "Q4_0_8_8"
        case .tq1_0: "TQ1_0"
        case .tq2_0: "TQ2_0"
        case .iq4_nl_4_4: "IQ4_NL_4_4"
        case .iq4_nl_4_8: "IQ4_NL_4_8"
        case .iq4_nl_8_8: "IQ4_NL_8_8"
        case .mxfp4: "MXFP4"
        case .nvfp4: "NVFP4"
        case .q1_0: "Q1_0"
        }
    }

    public var description: String { name }

    /// Looks a type up by its ggml name, case-insensitively (`GGMLType(name: "q4_k") == .q4_K`).
    public init?(name: String) {
        let upper = name.uppercased()
        guard let match = GGMLType.allCases.first(where: { $0.name == upper }) else { return nil }
        self = match
    }

    /// (elements per block, bytes per block); (0, 0) for the removed types that have no layout.
    private var layout: (blockSize: Int, typeSize: Int) {
        switch self {
        case .f32: (1, 4)
        case .f16: (1, 2)
        case .q4_0: (32, 18)  // f16 d + 16 B nibbles
        case .q4_1: (32, 20)  // f16 d, f16 m + 16 B nibbles
        case .q5_0: (32, 22)  // f16 d + 4 B high bits + 16 B nibbles
        case .q5_1: (32, 24)  // f16 d, f16 m + 4 B high bits + 16 B nibbles
        case .q8_0: (32, 34)  // f16 d + 32 × i8
        case .q8_1: (32, 36)  // f16 d, f16 s + 32 × i8 (ggml-common.h; gguf-py's table still says 40)
        case .q2_K: (256, 84)
        case .q3_K: (256, 110)
        case .q4_K: (256, 144)
        case .q5_K: (256, 176)
        case .q6_K: (256, 210)
        case .q8_K: (256, 292)  // f32 d + 256 × i8 + 16 × i16 bsums
        case .iq2_xxs: (256, 66)
        case .iq2_xs: (256, 74)
        case .iq3_xxs: (256, 98)
        case .iq1_s: (256, 50)
        case .iq4_nl: (32, 18)
        case .iq3_s: (256, 110)
        case .iq2_s: (256, 82)
        case .iq4_xs: (256, 136)
        case .i8: (1, 1)
        case .i16: (1, 2)
        case .i32: (1, 4)
        case .i64: (1, 8)
        case .f64: (1, 8)
        case .iq1_m: (256, 56)
        case .bf16: (1, 2)
        case .tq1_0: (256, 54)
        case .tq2_0: (256, 66)
        case .mxfp4: (32, 17)
        case .nvfp4: (64, 36)
        case .q1_0: (128, 18)
        case .q4_2, .q4_3, .q4_0_4_4, .q4_0_4_8, .q4_0_8_8, .iq4_nl_4_4, .iq4_nl_4_8, .iq4_nl_8_8: (0, 0)
        }
    }

    /// Elements per block: 1 for F32/F16/BF16/integers, 32 for the legacy quants, 256 for K and most IQ
    /// quants. 0 for removed types without a layout (see ``hasLayout``).
    public var blockSize: Int { layout.blockSize }

    /// Bytes per block (0 for removed types without a layout).
    public var typeSize: Int { layout.typeSize }

    /// False for the ids ggml removed (Q4_2, Q4_3, Q4_0_4_4, …): their bytes cannot be sized or decoded.
    public var hasLayout: Bool { layout.blockSize > 0 }

    /// True for block-quantized types (blockSize > 1).
    public var isQuantized: Bool { layout.blockSize > 1 }

    /// Bytes taken by a row of `elements` values.
    ///
    /// - Returns: nil when the type has no layout, `elements` is negative or not a multiple of
    ///   ``blockSize``, or the size overflows `Int`.
    /// - Complexity: O(1).
    public func rowBytes(_ elements: Int) -> Int? {
        let (bs, ts) = layout
        guard bs > 0, elements >= 0, elements % bs == 0 else { return nil }
        let (bytes, overflow) = (elements / bs).multipliedReportingOverflow(by: ts)
        return overflow ? nil : bytes
    }
}
