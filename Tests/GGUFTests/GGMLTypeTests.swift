// GGMLType: ids, names and block layouts against ggml's type traits.

import Testing
@testable import GGUF

@Suite("GGMLType")
struct GGMLTypeTests {
    /// (type, ggml name, block size, type size) from ggml-common.h / ggml.c type_traits.
    static let layouts: [(GGMLType, String, Int, Int)] = [
        (.f32, "F32", 1, 4), (.f16, "F16", 1, 2), (.bf16, "BF16", 1, 2), (.q4_0, "Q4_0", 32, 18),
        (.q4_1, "Q4_1", 32, 20), (.q5_0, "Q5_0", 32, 22), (.q5_1, "Q5_1", 32, 24), (.q8_0, "Q8_0", 32, 34),
        (.q8_1, "Q8_1", 32, 36), (.q2_K, "Q2_K", 256, 84), (.q3_K, "Q3_K", 256, 110), (.q4_K, "Q4_K", 256, 144),
        (.q5_K, "Q5_K", 256, 176), (.q6_K, "Q6_K", 256, 210), (.q8_K, "Q8_K", 256, 292),
        (.iq2_xxs, "IQ2_XXS", 256, 66), (.iq4_nl, "IQ4_NL", 32, 18), (.iq4_xs, "IQ4_XS", 256, 136),
        (.i8, "I8", 1, 1), (.i64, "I64", 1, 8), (.f64, "F64", 1, 8), (.tq2_0, "TQ2_0", 256, 66),
        (.mxfp4, "MXFP4", 32, 17),
    ]

    @Test(arguments: layouts)
    func layout(_ type: GGMLType, _ name: String, _ blockSize: Int, _ typeSize: Int) {
        #expect(type.name == name && type.blockSize == blockSize && type.typeSize == typeSize)
        #expect(GGMLType(name: name.lowercased()) == type)
        #expect(type.hasLayout && type.isQuantized == (blockSize > 1))
    }

    @Test func idsAndNamesAreUnique() {
        #expect(Set(GGMLType.allCases.map(\.name)).count == GGMLType.allCases.count)
        #expect(GGMLType(rawValue: 30) == .bf16 && GGMLType(rawValue: 42) == nil && GGMLType(rawValue: 4) == .q4_2)
        for t in GGMLType.allCases where t.hasLayout {
            #expect(t.blockSize > 0 && t.typeSize > 0, "\(t)")
        }
    }

    @Test func rowBytes() {
        #expect(GGMLType.q4_1.rowBytes(576) == 18 * 20)
        #expect(GGMLType.q4_K.rowBytes(640) == nil)  // not a multiple of 256
        #expect(GGMLType.f32.rowBytes(0) == 0)
        #expect(GGMLType.f32.rowBytes(-1) == nil)
        #expect(GGMLType.f32.rowBytes(Int.max) == nil)  // overflow
        #expect(GGMLType.q4_0_4_4.rowBytes(32) == nil && !GGMLType.q4_0_4_4.hasLayout)
        #expect(GGMLType(name: "nope") == nil)
    }
}
