import GGUF
import Testing

@testable import Kernels

@Suite("Activation quantizers")
struct QuantizeActivationTests {
    typealias Quantizer = @Sendable (UnsafePointer<Float>, UnsafeMutableRawPointer, Int) -> Void

    static func bytes(_ x: [Float], _ blockBytes: Int, _ blockSize: Int, _ f: Quantizer) -> [UInt8] {
        var out = [UInt8](repeating: 0xEE, count: x.count / blockSize * blockBytes)
        x.withUnsafeBufferPointer { xp in out.withUnsafeMutableBytes { f(xp.baseAddress!, $0.baseAddress!, x.count) } }
        return out
    }

    static let q8_0: Quantizer = { Quantize.q8_0($0, $1, count: $2) }
    static let q8_0_ref: Quantizer = { Quantize.q8_0_reference($0, $1, count: $2) }
    static let q8_1: Quantizer = { Quantize.q8_1($0, $1, count: $2) }
    static let q8_1_ref: Quantizer = { Quantize.q8_1_reference($0, $1, count: $2) }
    static let q8_K: Quantizer = { Quantize.q8_K($0, $1, count: $2) }
    static let q8_K_ref: Quantizer = { Quantize.q8_K_reference($0, $1, count: $2) }

    /// Inputs covering random data, zero blocks, a negative extreme and exact .5 ties.
    static func inputs(_ count: Int, seed: UInt64) -> [[Float]] {
        var rng = DotTestRNG(seed: seed)
        let random = DotTestData.activations(count, &rng)
        var withZeroBlock = random
        for i in 0..<min(count, 32) { withZeroBlock[i] = 0 }
        let negativeMax = random.enumerated().map { $0.offset == count / 2 ? -40 : $0.element }
        let ties = (0..<count).map { Float($0 % 64) * 0.5 - 16 }  // ±.5 values quantize exactly to ties
        return [random, withZeroBlock, negativeMax, ties, [Float](repeating: 0, count: count)]
    }

    @Test("Q8_0 / Q8_1 SIMD equal their twins byte for byte", arguments: [32, 64, 96, 224, 576, 1536])
    func q8TwinsExact(count: Int) {
        for x in Self.inputs(count, seed: UInt64(count)) {
            #expect(Self.bytes(x, 34, 32, Self.q8_0) == Self.bytes(x, 34, 32, Self.q8_0_ref))
            #expect(Self.bytes(x, 36, 32, Self.q8_1) == Self.bytes(x, 36, 32, Self.q8_1_ref))
        }
    }

    @Test("Q8_K SIMD equals its twin byte for byte", arguments: [256, 512, 768, 2048])
    func q8KTwinExact(count: Int) {
        for x in Self.inputs(count, seed: UInt64(count) + 1) {
            #expect(Self.bytes(x, 292, 256, Self.q8_K) == Self.bytes(x, 292, 256, Self.q8_K_ref))
        }
    }

    #if arch(x86_64)
    @Test("AVX2 quantizer steps equal the portable Swift SIMD twins byte for byte", arguments: [256, 512, 2048])
    func avx2Twins(count: Int) {
        for x in Self.inputs(count, seed: UInt64(count) + 7) {
            let k = Self.bytes(x, 292, 256, Self.q8_K)
            let kPortable = Self.bytes(x, 292, 256, { Quantize.q8_K_portable($0, $1, count: $2) })
            #expect(k == kPortable)
            x.withUnsafeBufferPointer { xp in
                for b in 0..<count / 32 {
                    let scale = Quantize.blockScale(xp.baseAddress! + 32 * b).id
                    var fast = [UInt8](repeating: 0, count: 32), twin = fast
                    let s1 = fast.withUnsafeMutableBytes { Quantize.q8Block_avx2(xp.baseAddress! + 32 * b, scale, $0.baseAddress!) }
                    let s2 = twin.withUnsafeMutableBytes { Quantize.q8Block_portable(xp.baseAddress! + 32 * b, scale, $0.baseAddress!) }
                    #expect(fast == twin && s1 == s2, "block \(b)")
                }
            }
        }
    }
    #endif

    @Test("Q8_0/Q8_1 follow the AVX2 build: d = amax/127, id = 127/amax, ties to even, s = d·Σq")
    func q8_1Semantics() {
        // amax = 127 → d = 1, id = 1: quants are x rounded half to even (2.5 → 2, 3.5 → 4, −2.5 → −2).
        var x = [Float](repeating: 0, count: 32)
        x[0] = 127; x[1] = 2.5; x[2] = 3.5; x[3] = -2.5; x[4] = -3.5; x[5] = 0.5; x[6] = 1.5; x[7] = -100.4
        let expected: [Int8] = [127, 2, 4, -2, -4, 0, 2, -100] + [Int8](repeating: 0, count: 24)
        let b1 = Self.bytes(x, 36, 32, Self.q8_1)
        #expect(b1[0] == 0x00 && b1[1] == 0x3C)  // d = 1.0 as f16
        let sum = expected.reduce(0) { $0 + Int($1) }
        #expect(UInt16(b1[2]) | UInt16(b1[3]) << 8 == Float16(Float(sum)).bitPattern)
        #expect(b1[4..<36].map { Int8(bitPattern: $0) } == expected)
        let b0 = Self.bytes(x, 34, 32, Self.q8_0)
        #expect(b0[2..<34].map { Int8(bitPattern: $0) } == expected)
    }

    @Test("Q8_0 reconstructs within half a step")
    func q8_0Error() {
        var rng = DotTestRNG(seed: 99)
        let x = DotTestData.activations(1024, &rng)
        let q = Self.bytes(x, 34, 32, Self.q8_0)
        let back = DotTestData.decodeActivations(q, as: .q8_0, count: 1024)
        for b in 0..<32 {
            let amax = x[32 * b..<32 * b + 32].map(abs).max()!
            let step = amax / 127
            for i in 32 * b..<32 * b + 32 {
                // d is rounded to f16 (relative error ≤ 2^-11), so allow half a step plus that drift.
                #expect(abs(back[i] - x[i]) <= step * 0.5 + amax * 0.001)
            }
        }
    }

    @Test("Q8_K uses the first element of largest magnitude for the sign of d", arguments: [true, false])
    func q8KSign(negativeFirst: Bool) {
        var x = [Float](repeating: 0, count: 256)
        x[3] = negativeFirst ? -127 : 127
        x[9] = negativeFirst ? 127 : -127
        x[10] = 2.5
        x[11] = -3.5
        let b = Self.bytes(x, 292, 256, Self.q8_K)
        let d = b.withUnsafeBytes { $0.loadUnaligned(as: Float.self) }
        let q = b[4..<260].map { Int8(bitPattern: $0) }
        // iscale = −127 / max; d = 1 / iscale; q = nearest_int(iscale · x) capped at 127.
        #expect(d == (negativeFirst ? 1 : -1))
        let sign: Int8 = negativeFirst ? 1 : -1
        #expect(q[3] == -127 && q[9] == 127)  // the first extreme always maps to −127
        #expect(q[10] == 2 * sign && q[11] == -4 * sign)  // ties to even
        let bsum0 = b.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 260, as: Int16.self) }
        #expect(Int(bsum0) == q[0..<16].reduce(0) { $0 + Int($1) })
    }
}
