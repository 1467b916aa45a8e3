import GGUF
import Testing

@testable import Kernels

// MARK: - Test support shared by the dot / quantize / matmul tests

/// Deterministic SplitMix64 generator (tests must not depend on the system RNG).
struct DotTestRNG: RandomNumberGenerator {
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

enum DotTestData {
    /// Random activations in [-2, 2] with a few outliers up to ±12.
    static func activations(_ count: Int, _ rng: inout DotTestRNG) -> [Float] {
        (0..<count).map { i in
            let v = Float.random(in: -2...2, using: &rng)
            return i % 29 == 5 ? v * 6 : v
        }
    }

    /// A random but well-formed weight row of `cols` elements in `type`: random quant bytes, finite scales.
    static func weightRow(_ type: GGMLType, cols: Int, _ rng: inout DotTestRNG) -> [UInt8] {
        let bytes = type.rowBytes(cols)!
        var row = (0..<bytes).map { _ in UInt8.random(in: 0...255, using: &rng) }
        func put(_ v: Float, _ offset: Int) {
            let bits = Float16(v).bitPattern
            row[offset] = UInt8(bits & 0xFF)
            row[offset + 1] = UInt8(bits >> 8)
        }
        func scale() -> Float { Float.random(in: 0.001...0.05, using: &rng) }
        func offset() -> Float { Float.random(in: -0.1...0.1, using: &rng) }
        switch type {
        case .f32:
            for i in 0..<cols {
                withUnsafeBytes(of: Float.random(in: -1...1, using: &rng)) { for k in 0..<4 { row[4 * i + k] = $0[k] } }
            }
        case .f16:
            for i in 0..<cols { put(Float.random(in: -1...1, using: &rng), 2 * i) }
        case .bf16:
            for i in 0..<cols {
                let bits = Float.random(in: -1...1, using: &rng).bitPattern >> 16
                row[2 * i] = UInt8(bits & 0xFF)
                row[2 * i + 1] = UInt8(bits >> 8)
            }
        default:
            let size = type.typeSize
            for b in 0..<bytes / size {
                let o = b * size
                switch type {
                case .q4_0, .q5_0: put(scale(), o)
                case .q4_1, .q5_1: put(scale(), o); put(offset(), o + 2)
                case .q8_0:
                    put(scale(), o)
                    for j in 0..<32 where row[o + 2 + j] == 0x80 { row[o + 2 + j] = 0x81 }  // no -128
                case .q4_K, .q5_K: put(scale(), o); put(scale(), o + 2)
                case .q6_K: put(scale(), o + 208)
                default: fatalError("no generator for \(type.name)")
                }
            }
        }
        return row
    }

    /// Activations converted to `type` (Q8_0/Q8_1/Q8_K/F16/F32).
    static func quantized(_ x: [Float], as type: GGMLType) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: type.rowBytes(x.count)!)
        x.withUnsafeBufferPointer { xp in
            out.withUnsafeMutableBytes { MatMul.quantizeRow(xp.baseAddress!, $0.baseAddress!, cols: x.count, as: type) }
        }
        return out
    }

    /// Activation rows decoded back to floats (d · q for the Q8 formats).
    static func decodeActivations(_ bytes: [UInt8], as type: GGMLType, count: Int) -> [Float] {
        bytes.withUnsafeBytes { p in
            (0..<count).map { i -> Float in
                switch type {
                case .q8_0, .q8_1:
                    let size = type == .q8_0 ? 34 : 36, qs = type == .q8_0 ? 2 : 4
                    let b = i / 32
                    let d = Float(Float16(bitPattern: p.loadUnaligned(fromByteOffset: b * size, as: UInt16.self)))
                    return d * Float(p.load(fromByteOffset: b * size + qs + i % 32, as: Int8.self))
                case .q8_K:
                    let b = i / 256
                    let d = p.loadUnaligned(fromByteOffset: b * 292, as: Float.self)
                    return d * Float(p.load(fromByteOffset: b * 292 + 4 + i % 256, as: Int8.self))
                case .f16: return Float(p.loadUnaligned(fromByteOffset: 2 * i, as: Float16.self))
                case .f32: return p.loadUnaligned(fromByteOffset: 4 * i, as: Float.self)
                default: fatalError()
                }
            }
        }
    }

    static func dequantized(_ row: [UInt8], _ type: GGMLType, count: Int) -> [Float] {
        var out = [Float](repeating: 0, count: count)
        row.withUnsafeBytes { src in
            out.withUnsafeMutableBufferPointer { Dequantize.row(type, src.baseAddress!, $0.baseAddress!, count: count) }
        }
        return out
    }

    static let blockTypes: [GGMLType] = [.q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q4_K, .q5_K, .q6_K]
    static let floatTypes: [GGMLType] = [.f32, .f16, .bf16]
    /// Odd block counts: single block, pairs, and runs that are not multiples of 2, 4 or 8.
    static let blockCounts = [1, 2, 3, 7, 18]
    /// Float row lengths with and without a tail after the 32-element steps.
    static let floatCounts = [1, 7, 32, 33, 100, 576]
}

/// SIMD vs scalar twin: both sum exact integer blocks; only the float summation order differs.
let dotTwinTolerance: Double = 1e-5
/// Dot vs Σ dequant(w)·dequant(x) in Float64: catches any disagreement with ggml's block semantics.
let dotSemanticTolerance: Double = 1e-4

@Suite("Dot products")
struct DotTests {
    /// The dot of one random weight row and one random activation row, SIMD and reference, plus Σ|w·x|.
    static func run(_ type: GGMLType, cols: Int, seed: UInt64) -> (fast: Float, reference: Float, exact: Double,
                                                                    magnitude: Double) {
        var rng = DotTestRNG(seed: seed)
        let actType = MatMul.vecDotType(for: type)!
        let w = DotTestData.weightRow(type, cols: cols, &rng)
        let x = DotTestData.activations(cols, &rng)
        let xq = DotTestData.quantized(x, as: actType)
        let (fast, reference) = w.withUnsafeBytes { wp in
            xq.withUnsafeBytes { xp in
                (Dot.row(type, wp.baseAddress!, xp.baseAddress!, count: cols),
                 Dot.row_reference(type, wp.baseAddress!, xp.baseAddress!, count: cols))
            }
        }
        let wf = DotTestData.dequantized(w, type, count: cols)
        let xf = DotTestData.decodeActivations(xq, as: actType, count: cols)
        var exact = 0.0, magnitude = 0.0
        for i in 0..<cols {
            exact += Double(wf[i]) * Double(xf[i])
            magnitude += abs(Double(wf[i]) * Double(xf[i]))
        }
        return (fast, reference, exact, magnitude)
    }

    @Test("SIMD block dots match their scalar twins", arguments: DotTestData.blockTypes, DotTestData.blockCounts)
    func blockTwin(type: GGMLType, blocks: Int) {
        let r = Self.run(type, cols: blocks * type.blockSize, seed: UInt64(blocks) * 7919 + UInt64(type.rawValue))
        let bound = dotTwinTolerance * r.magnitude + 1e-6
        let fast = Double(r.fast), reference = Double(r.reference)
        #expect(abs(fast - reference) <= bound, "\(type.name) × \(blocks) blocks: \(fast) vs \(reference)")
    }

    /// The K-quant orders of llama.cpp's repacked and tiled kernels: exact integer sub-block sums, then scalar
    /// float chains, so the SIMD kernel and its scalar twin agree to the bit; and each is the same dot (semantic
    /// tolerance) as the `vec` order.
    @Test("K-quant orders (repacked GEMM/GEMV, tiled) equal their scalar twins bit for bit",
          arguments: [(GGMLType.q4_K, DotOrder.repackedGemm), (.q4_K, .repackedGemv), (.q4_K, .tiled), (.q5_K, .tiled), (.q6_K, .tiled)],
          DotTestData.blockCounts)
    func kQuantOrders(_ c: (GGMLType, DotOrder), blocks: Int) {
        let (type, order) = c
        let cols = blocks * 256
        var rng = DotTestRNG(seed: UInt64(blocks) * 31 + UInt64(type.rawValue))
        let w = DotTestData.weightRow(type, cols: cols, &rng)
        let xq = DotTestData.quantized(DotTestData.activations(cols, &rng), as: .q8_K)
        let (fast, twin, vec) = w.withUnsafeBytes { wp in
            xq.withUnsafeBytes { xp in
                (Dot.row(type, wp.baseAddress!, xp.baseAddress!, count: cols, order: order),
                 Dot.kQuant_reference(type, order: order, wp.baseAddress!, xp.baseAddress!, count: cols),
                 Dot.row(type, wp.baseAddress!, xp.baseAddress!, count: cols))
            }
        }
        #expect(fast.bitPattern == twin.bitPattern, "\(type.name) \(order) × \(blocks): \(fast) vs \(twin)")
        #expect(abs(Double(fast) - Double(vec)) <= dotSemanticTolerance * max(1, abs(Double(vec))) + 1e-3,
                "\(type.name) \(order): \(fast) vs vec \(vec)")
    }

    #if arch(x86_64)
    @Test("AVX2 intrinsic block sums (vpmaddubsw) equal the portable Swift SIMD twins bit for bit",
          arguments: [GGMLType.q4_0, .q4_1, .q5_0, .q8_0])
    func avx2Lanes(type: GGMLType) {
        var rng = DotTestRNG(seed: 77 + UInt64(type.rawValue))
        let act = MatMul.vecDotType(for: type)!
        for blocks in DotTestData.blockCounts {
            let cols = blocks * 32
            let w = DotTestData.weightRow(type, cols: cols, &rng)
            let xq = DotTestData.quantized(DotTestData.activations(cols, &rng), as: act)
            let xBlock = act.typeSize
            w.withUnsafeBytes { wp in
                xq.withUnsafeBytes { xp in
                    for b in 0..<blocks {
                        let wb = wp.baseAddress! + b * type.typeSize, xb = xp.baseAddress! + b * xBlock
                        let (fast, twin): (SIMD8<Int32>, SIMD8<Int32>)
                        switch type {
                        case .q4_0: (fast, twin) = (AVX2Lanes.q4_0(wb + 2, xb + 2), Q4_0Dot.lanes_portable(wb, xb))
                        case .q4_1: (fast, twin) = (AVX2Lanes.q4_1(wb + 4, xb + 4), Q4_1Dot.lanes_portable(wb, xb))
                        case .q5_0: (fast, twin) = (AVX2Lanes.q5_0(wb + 2, wb + 6, xb + 2), Q5_0Dot.lanes_portable(wb, xb))
                        default: (fast, twin) = (AVX2Lanes.q8_0(wb + 2, xb + 2), Q8_0Dot.lanes_portable(wb, xb))
                        }
                        #expect(fast == twin, "\(type.name) block \(b)")
                    }
                }
            }
        }
    }

    /// Extreme quants too: all-15 nibbles / all-63 6-bit values against ±127 activations (the int16 pair sums
    /// of `vpmaddubsw` at their largest), besides random blocks.
    @Test("AVX2 K-quant super-block sums (lanes, sub-block pair totals, mins) equal the portable twins bit for bit",
          arguments: [GGMLType.q4_K, .q6_K])
    func avx2KQuantLanes(type: GGMLType) {
        var rng = DotTestRNG(seed: 91 + UInt64(type.rawValue))
        for blocks in DotTestData.blockCounts {
            let cols = blocks * 256
            var w = DotTestData.weightRow(type, cols: cols, &rng)
            var x = DotTestData.activations(cols, &rng)
            if blocks == 2 {  // block 1: every quant and scale at its maximum, activations at ±127
                let o = type.typeSize
                if type == .q4_K {
                    for i in 4..<144 { w[o + i] = 0xFF }
                } else {
                    for i in 0..<192 { w[o + i] = 0xFF }
                    for i in 192..<208 { w[o + i] = UInt8(bitPattern: i % 2 == 0 ? 127 : -128) }
                }
                for i in 256..<512 { x[i] = i % 3 == 0 ? -1 : 1 }
            }
            let xq = DotTestData.quantized(x, as: .q8_K)
            w.withUnsafeBytes { wp in
                xq.withUnsafeBytes { xp in
                    for b in 0..<blocks {
                        let wb = wp.baseAddress! + b * type.typeSize, xb = xp.baseAddress! + b * 292
                        if type == .q4_K {
                            let (fast, twin) = (q4KLanes(wb, xb), q4KLanes_portable(wb, xb))
                            #expect(fast.scaled == twin.scaled && fast.mins == twin.mins, "q4_K lanes block \(b)")
                            let (fp, tp) = (q4KPairSums(wb, xb), q4KPairSums_portable(wb, xb))
                            #expect(fp.scaled == tp.scaled && fp.mins == tp.mins, "q4_K pair sums block \(b)")
                        } else {
                            #expect(q6KLanes(wb, xb) == q6KLanes_portable(wb, xb), "q6_K block \(b)")
                        }
                    }
                }
            }
        }
    }
    #endif

    @Test("llama.cpp's kernel choice per activation row: repacked Q4_K GEMM in groups of 4, GEMV after; tiled from 8 rows")
    func dotOrderRule() {
        #expect((0..<6).map { MatMul.dotOrder(type: .q4_K, rows: 640, token: $0, tokens: 6) }
                == [.repackedGemm, .repackedGemm, .repackedGemm, .repackedGemm, .repackedGemv, .repackedGemv])
        #expect(MatMul.dotOrder(type: .q4_K, rows: 640, token: 0, tokens: 1) == .repackedGemv)
        #expect(MatMul.dotOrder(type: .q4_K, rows: 644, token: 0, tokens: 8) == .tiled)    // not repacked: rows % 8 ≠ 0
        #expect(MatMul.dotOrder(type: .q4_K, rows: 644, token: 0, tokens: 7) == .vec)
        #expect(MatMul.dotOrder(type: .q6_K, rows: 640, token: 3, tokens: 8) == .tiled)
        #expect(MatMul.dotOrder(type: .q6_K, rows: 640, token: 3, tokens: 7) == .vec)
        #expect(MatMul.dotOrder(type: .q5_0, rows: 640, token: 3, tokens: 64) == .vec)
        #expect(MatMul.dotOrder(type: .q4_1, rows: 640, token: 3, tokens: 64) == .vec)
    }

    @Test("Block dots equal the dot of the dequantized rows", arguments: DotTestData.blockTypes, DotTestData.blockCounts)
    func blockSemantics(type: GGMLType, blocks: Int) {
        let r = Self.run(type, cols: blocks * type.blockSize, seed: UInt64(blocks) * 104_729 + UInt64(type.rawValue))
        let bound = dotSemanticTolerance * r.magnitude + 1e-6
        let fast = Double(r.fast), reference = Double(r.reference)
        #expect(abs(fast - r.exact) <= bound, "\(type.name) × \(blocks) blocks: \(fast) vs exact \(r.exact)")
        #expect(abs(reference - r.exact) <= bound)
    }

    @Test("Float dots (with tails) match their twins and the exact dot", arguments: DotTestData.floatTypes,
          DotTestData.floatCounts)
    func floatDots(type: GGMLType, count: Int) {
        let r = Self.run(type, cols: count, seed: UInt64(count) &* 31 + UInt64(type.rawValue))
        #expect(abs(Double(r.fast) - Double(r.reference)) <= dotTwinTolerance * r.magnitude + 1e-6)
        #expect(abs(Double(r.fast) - r.exact) <= dotTwinTolerance * r.magnitude + 1e-6)
    }

    @Test("Q4_1·Q8_1 on a hand-built block gives the exact value")
    func handBuiltQ4_1() {
        // Weight: d = 0.5, m = -1, element j = j % 16 → w_j = 0.5·(j % 16) − 1.
        // Activation: d = 0.25, q_j = j − 16, s = d·Σq = 0.25·(−16) = −4.
        var w = [UInt8](repeating: 0, count: 20)
        var x = [UInt8](repeating: 0, count: 36)
        func put(_ a: inout [UInt8], _ v: Float, _ o: Int) {
            let b = Float16(v).bitPattern
            a[o] = UInt8(b & 0xFF)
            a[o + 1] = UInt8(b >> 8)
        }
        put(&w, 0.5, 0); put(&w, -1, 2)
        for j in 0..<16 { w[4 + j] = UInt8(j) | UInt8(j) << 4 }
        put(&x, 0.25, 0); put(&x, -4, 2)
        for j in 0..<32 { x[4 + j] = UInt8(bitPattern: Int8(j - 16)) }
        var expected = 0.0
        for j in 0..<32 { expected += (0.5 * Double(j % 16) - 1) * (0.25 * Double(j - 16)) }
        let got = w.withUnsafeBytes { wp in x.withUnsafeBytes { Dot.q4_1_q8_1(wp.baseAddress!, $0.baseAddress!, count: 32) } }
        let ref = w.withUnsafeBytes { wp in
            x.withUnsafeBytes { Dot.q4_1_q8_1_reference(wp.baseAddress!, $0.baseAddress!, count: 32) }
        }
        #expect(Double(got) == expected)
        #expect(Double(ref) == expected)
    }

    @Test("Q8_0·Q8_0 with extreme quants (±127) does not overflow")
    func q8ExtremeValues() {
        var w = [UInt8](repeating: 0, count: 34 * 2)
        for b in 0..<2 {
            w[34 * b] = 0x00; w[34 * b + 1] = 0x3C  // d = 1.0
            for j in 0..<32 { w[34 * b + 2 + j] = UInt8(bitPattern: j % 2 == 0 ? 127 : -127) }
        }
        let x = w
        let got = w.withUnsafeBytes { wp in x.withUnsafeBytes { Dot.q8_0_q8_0(wp.baseAddress!, $0.baseAddress!, count: 64) } }
        #expect(got == Float(64 * 127 * 127))
    }
}
