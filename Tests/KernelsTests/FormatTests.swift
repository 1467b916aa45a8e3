// Block layouts and dequantization: sizes agree with GGUF's GGMLType table, SIMD kernels are bitwise equal to
// their scalar twins on random valid blocks (odd block counts), hand-built blocks give exact values, and the
// checked entry point throws typed errors.

import GGUF
import Testing

@testable import Kernels

/// Deterministic SplitMix64 for the format tests.
struct FormatRNG: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Byte offsets of the fp16 scale fields per type (the rest of a block is arbitrary bits).
func fp16ScaleOffsets(_ type: GGMLType) -> [Int] {
    switch type {
    case .q4_0: [BlockQ4_0.d]
    case .q4_1: [BlockQ4_1.d, BlockQ4_1.m]
    case .q5_0: [BlockQ5_0.d]
    case .q5_1: [BlockQ5_1.d, BlockQ5_1.m]
    case .q8_0: [BlockQ8_0.d]
    case .q2_K: [BlockQ2_K.d, BlockQ2_K.dmin]
    case .q3_K: [BlockQ3_K.d]
    case .q4_K: [BlockQ4_K.d, BlockQ4_K.dmin]
    case .q5_K: [BlockQ5_K.d, BlockQ5_K.dmin]
    case .q6_K: [BlockQ6_K.d]
    default: []
    }
}

/// `blocks` random but valid blocks of `type`: random bits with finite fp16 scales of either sign.
func randomBlocks(_ type: GGMLType, blocks: Int, seed: UInt64) -> [UInt8] {
    var rng = FormatRNG(seed: seed)
    var bytes = (0..<(blocks * type.typeSize)).map { _ in UInt8.random(in: 0...255, using: &rng) }
    func put16(_ v: UInt16, _ at: Int) {
        bytes[at] = UInt8(v & 0xFF)
        bytes[at + 1] = UInt8(v >> 8)
    }
    switch type {
    case .f32:
        for i in 0..<blocks {
            let v = Float.random(in: -100...100, using: &rng).bitPattern
            for k in 0..<4 { bytes[4 * i + k] = UInt8((v >> (8 * UInt32(k))) & 0xFF) }
        }
    case .f16:
        for i in 0..<blocks { put16(Float16(Float.random(in: -65000...65000, using: &rng)).bitPattern, 2 * i) }
    case .bf16:
        for i in 0..<blocks { put16(UInt16(Float.random(in: -1e6...1e6, using: &rng).bitPattern >> 16), 2 * i) }
    default:
        for b in 0..<blocks {
            for off in fp16ScaleOffsets(type) {
                let v = Float.random(in: 1e-4...0.5, using: &rng) * (Bool.random(using: &rng) ? 1 : -1)
                put16(Float16(v).bitPattern, b * type.typeSize + off)
            }
        }
    }
    return bytes
}

/// Dequantizes `bytes` with `kernel` into a fresh array of `count` floats.
func dequantized(_ bytes: [UInt8], count: Int,
                 _ kernel: (UnsafeRawPointer, UnsafeMutablePointer<Float>, Int) -> Void) -> [Float] {
    var out = [Float](repeating: .nan, count: count)
    bytes.withUnsafeBytes { src in
        out.withUnsafeMutableBufferPointer { dst in kernel(src.baseAddress!, dst.baseAddress!, count) }
    }
    return out
}

/// Bitwise equality of two float arrays (NaN == NaN when both are NaN).
func bitwiseEqual(_ a: [Float], _ b: [Float]) -> Bool {
    a.count == b.count && zip(a, b).allSatisfy { $0.bitPattern == $1.bitPattern || ($0.isNaN && $1.isNaN) }
}

@Suite("Block layouts")
struct BlockLayoutTests {
    static let layouts: [(GGMLType, Int, Int)] = [
        (.q4_0, BlockQ4_0.elements, BlockQ4_0.size), (.q4_1, BlockQ4_1.elements, BlockQ4_1.size),
        (.q5_0, BlockQ5_0.elements, BlockQ5_0.size), (.q5_1, BlockQ5_1.elements, BlockQ5_1.size),
        (.q8_0, BlockQ8_0.elements, BlockQ8_0.size), (.q8_1, BlockQ8_1.elements, BlockQ8_1.size),
        (.q2_K, BlockQ2_K.elements, BlockQ2_K.size), (.q3_K, BlockQ3_K.elements, BlockQ3_K.size),
        (.q4_K, BlockQ4_K.elements, BlockQ4_K.size), (.q5_K, BlockQ5_K.elements, BlockQ5_K.size),
        (.q6_K, BlockQ6_K.elements, BlockQ6_K.size), (.q8_K, BlockQ8_K.elements, BlockQ8_K.size),
        (.f16, BlockF16.elements, BlockF16.size), (.bf16, BlockBF16.elements, BlockBF16.size),
        (.f32, BlockF32.elements, BlockF32.size),
    ]

    @Test("sizes agree with GGMLType.blockSize/typeSize", arguments: layouts.indices)
    func sizesAgreeWithGGUF(_ index: Int) {
        let (type, elements, size) = Self.layouts[index]
        #expect(type.blockSize == elements, "\(type.name) blockSize")
        #expect(type.typeSize == size, "\(type.name) typeSize")
    }

    @Test func blockConstants() {
        #expect(BlockSize.QK == 32)
        #expect(BlockSize.QK_K == 256)
        #expect(GGMLType.q4_0.blockSize == BlockSize.QK && GGMLType.q4_K.blockSize == BlockSize.QK_K)
    }

    @Test("last field ends at the block size")
    func fieldsFillTheBlock() {
        #expect(BlockQ4_0.qs + 16 == BlockQ4_0.size)
        #expect(BlockQ4_1.qs + 16 == BlockQ4_1.size)
        #expect(BlockQ5_0.qs + 16 == BlockQ5_0.size)
        #expect(BlockQ5_1.qs + 16 == BlockQ5_1.size)
        #expect(BlockQ8_0.qs + 32 == BlockQ8_0.size)
        #expect(BlockQ8_1.qs + 32 == BlockQ8_1.size)
        #expect(BlockQ2_K.dmin + 2 == BlockQ2_K.size)
        #expect(BlockQ3_K.d + 2 == BlockQ3_K.size)
        #expect(BlockQ4_K.qs + 128 == BlockQ4_K.size)
        #expect(BlockQ5_K.qs + 128 == BlockQ5_K.size)
        #expect(BlockQ6_K.d + 2 == BlockQ6_K.size)
        #expect(BlockQ8_K.bsums + 32 == BlockQ8_K.size)
    }
}

@Suite("Dequantize")
struct DequantizeTests {
    static let types: [GGMLType] = [.f32, .f16, .bf16, .q4_0, .q4_1, .q5_0, .q5_1, .q8_0,
                                    .q2_K, .q3_K, .q4_K, .q5_K, .q6_K]

    @Test("SIMD row equals the scalar reference bitwise",
          arguments: types, [1, 2, 3, 7, 33])
    func simdMatchesReference(_ type: GGMLType, blocks: Int) {
        // Odd offsets in the source (1 byte in) exercise unaligned loads.
        var bytes = randomBlocks(type, blocks: blocks, seed: UInt64(type.rawValue) &* 1000 &+ UInt64(blocks))
        bytes.insert(0xAB, at: 0)
        let count = blocks * type.blockSize
        let fast = dequantized(bytes, count: count) { s, d, n in Dequantize.row(type, s + 1, d, count: n) }
        let slow = dequantized(bytes, count: count) { s, d, n in Dequantize.row_reference(type, s + 1, d, count: n) }
        #expect(bitwiseEqual(fast, slow), "\(type.name) × \(blocks) blocks")
        #expect(fast.allSatisfy { $0.isFinite }, "\(type.name): finite scales must give finite values")
    }

    @Test("every fp16 bit pattern converts exactly (SIMD and scalar)")
    func f16Exhaustive() {
        let patterns = (0...UInt16.max).map { $0 }
        let bytes = patterns.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }
        let fast = dequantized(bytes, count: patterns.count) { Dequantize.f16($0, $1, count: $2) }
        let slow = dequantized(bytes, count: patterns.count) { Dequantize.f16_reference($0, $1, count: $2) }
        #expect(bitwiseEqual(fast, slow))
        for (i, p) in patterns.enumerated() where !Float16(bitPattern: p).isNaN {
            if fast[i] != Float(Float16(bitPattern: p)) {
                Issue.record("fp16 0x\(String(p, radix: 16)) → \(fast[i])")
                break
            }
        }
        #expect(fast[0x3C00] == 1 && fast[0xC000] == -2 && fast[0x0001] == 0x1p-24 && fast[0x7C00] == .infinity)
    }

    @Test("hand-built Q4_0 block: x = (q - 8) * d")
    func q4_0HandBlock() {
        // d = 0.5 (fp16 0x3800); byte j = (j) | (15 - j) << 4 → element j = j - 8, element j+16 = 7 - j.
        var block: [UInt8] = [0x00, 0x38]
        for j in 0..<16 { block.append(UInt8(j) | UInt8(15 - j) << 4) }
        let y = dequantized(block, count: 32) { Dequantize.q4_0($0, $1, count: $2) }
        #expect(y[0] == -4 && y[8] == 0 && y[15] == 3.5)
        #expect(y[16] == 3.5 && y[31] == -4)
    }

    @Test("hand-built Q4_1 block: x = q * d + m")
    func q4_1HandBlock() {
        // d = 2 (0x4000), m = -1.5 (0xBE00); low nibbles 0…15, high nibbles all 3.
        var block: [UInt8] = [0x00, 0x40, 0x00, 0xBE]
        for j in 0..<16 { block.append(UInt8(j) | 0x30) }
        let y = dequantized(block, count: 32) { Dequantize.q4_1($0, $1, count: $2) }
        #expect(y[0] == -1.5 && y[1] == 0.5 && y[15] == 28.5)
        #expect(y[16...].allSatisfy { $0 == 4.5 })
    }

    @Test("hand-built Q8_0 block: x = q * d")
    func q8_0HandBlock() {
        // d = 0.25 (0x3400); qs = -16 … 15.
        var block: [UInt8] = [0x00, 0x34]
        for j in 0..<32 { block.append(UInt8(bitPattern: Int8(j - 16))) }
        let y = dequantized(block, count: 32) { Dequantize.q8_0($0, $1, count: $2) }
        for j in 0..<32 { #expect(y[j] == Float(j - 16) * 0.25) }
    }

    @Test("hand-built Q5_0 block: the 5th bit comes from qh bit j")
    func q5_0HandBlock() {
        // d = 1; qs all zero; qh = 0x8000_0001 → element 0 and element 31 have q = 16 → 0, others -16.
        let block: [UInt8] = [0x00, 0x3C, 0x01, 0x00, 0x00, 0x80] + [UInt8](repeating: 0, count: 16)
        let y = dequantized(block, count: 32) { Dequantize.q5_0($0, $1, count: $2) }
        #expect(y[0] == 0 && y[31] == 0)
        #expect(y[1...30].allSatisfy { $0 == -16 })
    }

    @Test("hand-built Q6_K block: x = (d * sc) * (q - 32)")
    func q6_KHandBlock() {
        // ql = 0x21 everywhere (low nibble 1, high 2), qh = 0 → q = 1 or 2; scales = 1…16; d = 1.
        var block = [UInt8](repeating: 0x21, count: 128) + [UInt8](repeating: 0, count: 64)
        block += (1...16).map { UInt8($0) }
        block += [0x00, 0x3C]
        let y = dequantized(block, count: 256) { Dequantize.q6_K($0, $1, count: $2) }
        // Element 0: sub-block 0 (scale 1), low nibble of ql[0] → (1 - 32) * 1.
        #expect(y[0] == -31)
        // Element 64: sub-block 4 (scale 5), high nibble of ql[0] → (2 - 32) * 5.
        #expect(y[64] == -150)
        // Element 255: sub-block 15 (scale 16), high nibble of ql[127] → (2 - 32) * 16.
        #expect(y[255] == -480)
    }

    @Test func supportedTypes() {
        for type in Self.types { #expect(Dequantize.isSupported(type), "\(type.name)") }
        for type in [GGMLType.iq2_xxs, .q8_K, .tq1_0, .i32] { #expect(!Dequantize.isSupported(type)) }
    }

    @Test("checkedRow throws typed errors with a hint")
    func checkedRowErrors() {
        var out = [Float](repeating: 0, count: 64)
        let bytes = [UInt8](repeating: 0, count: 256)
        bytes.withUnsafeBytes { src in
            out.withUnsafeMutableBufferPointer { dst in
                #expect(throws: KernelError.self) {
                    try Dequantize.checkedRow(.iq2_xxs, src.baseAddress!, dst.baseAddress!, count: 256)
                }
                #expect(throws: KernelError.self) {
                    try Dequantize.checkedRow(.q4_0, src.baseAddress!, dst.baseAddress!, count: 33)
                }
                #expect(throws: Never.self) {
                    try Dequantize.checkedRow(.q4_0, src.baseAddress!, dst.baseAddress!, count: 64)
                }
            }
        }
        let message = KernelError.unsupportedType("IQ2_XXS").description
        #expect(message.contains("IQ2_XXS") && message.contains("Hint"))
        #expect(KernelError.invalidCount(type: "Q4_0", count: 33, blockSize: 32).description.contains("multiple of 32"))
    }
}
