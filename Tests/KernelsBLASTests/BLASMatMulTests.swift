import GGUF
import Kernels
import KernelsBLAS
import Testing

/// BLAS and the Swift F32 path sum the same f32 products in different orders.
let blasTolerance: Double = 1e-5

@Suite("OpenBLAS prefill backend")
struct BLASMatMulTests {
    struct RNG: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    /// Random weights in `type`, made by quantizing random floats with the Q4_0/Q8_0… weight quantizers
    /// where they exist, else raw random bytes with finite scales.
    static func weights(_ type: GGMLType, rows: Int, cols: Int, _ rng: inout RNG) -> [UInt8] {
        let rowBytes = type.rowBytes(cols)!
        var out = [UInt8](repeating: 0, count: rows * rowBytes)
        switch type {
        case .f32:
            out.withUnsafeMutableBytes { p in
                for i in 0..<rows * cols { p.storeBytes(of: Float.random(in: -1...1, using: &rng), toByteOffset: 4 * i, as: Float.self) }
            }
        default:
            for i in 0..<out.count { out[i] = UInt8.random(in: 0...255, using: &rng) }
            let size = type.typeSize
            let blocks = out.count / size
            out.withUnsafeMutableBytes { p in
                for b in 0..<blocks {
                    let d = Float16(Float.random(in: 0.001...0.05, using: &rng)).bitPattern
                    switch type {
                    case .q6_K: p.storeBytes(of: d, toByteOffset: b * size + 208, as: UInt16.self)
                    case .q4_1, .q4_K: p.storeBytes(of: d, toByteOffset: b * size, as: UInt16.self)
                        p.storeBytes(of: d, toByteOffset: b * size + 2, as: UInt16.self)
                    default: p.storeBytes(of: d, toByteOffset: b * size, as: UInt16.self)
                    }
                }
            }
        }
        return out
    }

    @Test("BLAS equals the Swift f32 path on dequantized weights",
          arguments: [GGMLType.q4_1, .q8_0, .q4_K, .q6_K, .f32], [(rows: 7, tokens: 2), (rows: 300, tokens: 9)])
    func matchesSwiftF32(type: GGMLType, shape: (rows: Int, tokens: Int)) throws {
        var rng = RNG(state: UInt64(type.rawValue) * 31 + UInt64(shape.rows))
        let cols = type.blockSize == 256 ? 512 : 96
        let wBytes = Self.weights(type, rows: shape.rows, cols: cols, &rng)
        let x = (0..<shape.tokens * cols).map { _ in Float.random(in: -2...2, using: &rng) }
        // Swift reference: dequantize to an F32 matrix and use the F32 kernels.
        var dense = [Float](repeating: 0, count: shape.rows * cols)
        wBytes.withUnsafeBytes { wp in
            dense.withUnsafeMutableBufferPointer { dp in
                for r in 0..<shape.rows {
                    Dequantize.row(type, wp.baseAddress! + r * type.rowBytes(cols)!, dp.baseAddress! + r * cols, count: cols)
                }
            }
        }
        let pool = ThreadPool(threads: 2)
        let gemm = BLASMatMul(tileRows: 64, maxCols: 256, threads: 1)  // forces buffer growth too
        var yBLAS = [Float](repeating: .nan, count: shape.tokens * shape.rows)
        var ySwift = yBLAS
        var scratch = [UInt8](repeating: 0, count: 16)
        try wBytes.withUnsafeBytes { wp in
            try dense.withUnsafeBytes { dp in
                let w = try WeightMatrix(type: type, rows: shape.rows, cols: cols, data: wp.baseAddress!)
                let wf = try WeightMatrix(type: .f32, rows: shape.rows, cols: cols, data: dp.baseAddress!)
                x.withUnsafeBufferPointer { xp in
                    yBLAS.withUnsafeMutableBufferPointer { gemm.mul(w, xp.baseAddress!, tokens: shape.tokens, $0.baseAddress!, pool: pool) }
                    ySwift.withUnsafeMutableBufferPointer { yp in
                        scratch.withUnsafeMutableBytes {
                            MatMul.mul(wf, xp.baseAddress!, tokens: shape.tokens, yp.baseAddress!, scratch: $0.baseAddress!, pool: pool)
                        }
                    }
                }
            }
        }
        for t in 0..<shape.tokens {
            for r in 0..<shape.rows {
                var magnitude = 0.0
                for c in 0..<cols { magnitude += abs(Double(dense[r * cols + c]) * Double(x[t * cols + c])) }
                let i = t * shape.rows + r
                #expect(abs(Double(yBLAS[i]) - Double(ySwift[i])) <= blasTolerance * magnitude + 1e-6,
                        "\(type.name) t \(t) r \(r): \(yBLAS[i]) vs \(ySwift[i])")
            }
        }
    }

    @Test("KernelBackend.blas routes through the installed provider")
    func backendSelection() throws {
        let previous = KernelBackend.blasProvider
        defer { KernelBackend.install(previous) }
        KernelBackend.install(nil)
        #expect(KernelBackend.blas.isAvailable == false)
        #expect(KernelBackend.swift.isAvailable)
        BLASMatMul.install(tileRows: 32, maxCols: 64, threads: 1)
        #expect(KernelBackend.blas.isAvailable)
        // With BLAS, a Q8_0 product tracks the float product more closely than the quantized Swift path,
        // but both stay within the Q8 activation error of each other.
        var rng = RNG(state: 3)
        let wBytes = Self.weights(.q8_0, rows: 5, cols: 64, &rng)
        let x = (0..<3 * 64).map { _ in Float.random(in: -1...1, using: &rng) }
        let pool = ThreadPool(threads: 1)
        var a = [Float](repeating: 0, count: 15), b = a
        var scratch = [UInt8](repeating: 0, count: 3 * 68)
        try wBytes.withUnsafeBytes { wp in
            let w = try WeightMatrix(type: .q8_0, rows: 5, cols: 64, data: wp.baseAddress!)
            x.withUnsafeBufferPointer { xp in
                scratch.withUnsafeMutableBytes { sp in
                    a.withUnsafeMutableBufferPointer {
                        MatMul.mul(w, xp.baseAddress!, tokens: 3, $0.baseAddress!, scratch: sp.baseAddress!, pool: pool,
                                   backend: .blas)
                    }
                    b.withUnsafeMutableBufferPointer {
                        MatMul.mul(w, xp.baseAddress!, tokens: 3, $0.baseAddress!, scratch: sp.baseAddress!, pool: pool,
                                   backend: .swift)
                    }
                }
            }
        }
        #expect(a != b)  // different arithmetic: proves the BLAS path ran
        for i in 0..<15 { #expect(abs(a[i] - b[i]) <= 0.05 * max(1, abs(b[i]))) }
    }
}
