// Elementwise ops: SIMD kernels against their scalar twins (bitwise where the operations are the same,
// within named tolerances where the SIMD version uses the polynomial exp), plus independent checks of the
// references against Double-precision math and known values.

import Foundation
import Testing

@testable import Kernels

/// Sizes with SIMD tails: below, at and above one and four vectors, plus model widths.
let opSizes = [1, 7, 8, 9, 31, 32, 33, 576, 1000]

/// `count` deterministic floats in [-scale, scale].
func randomFloats(_ count: Int, seed: UInt64, scale: Float = 4) -> [Float] {
    var rng = FormatRNG(seed: seed)
    return (0..<count).map { _ in Float.random(in: -scale...scale, using: &rng) }
}

/// Distance in units in the last place between two finite floats of the same sign (or ±0).
func ulpDistance(_ a: Float, _ b: Float) -> Int64 {
    func ordered(_ x: Float) -> Int64 {
        let bits = Int64(Int32(bitPattern: x.bitPattern))
        return bits < 0 ? Int64(Int32.min) - bits : bits
    }
    return abs(ordered(a) - ordered(b))
}

@Suite("Ops")
struct OpsTests {
    // MARK: exp

    @Test("Lane.exp is within Lane.expMaxULP of the correctly rounded exp")
    func vectorExpAccuracy() {
        var worst: Int64 = 0
        var worstX: Float = 0
        var x: Float = -87.3
        while x < 88.7 {
            var v = SIMD8<Float>()
            for l in 0..<8 { v[l] = x + Float(l) * 0.0013 }
            let e = Lane.exp(v)
            for l in 0..<8 {
                let exact = Float(Foundation.exp(Double(v[l])))
                let d = ulpDistance(e[l], exact)
                if d > worst { (worst, worstX) = (d, v[l]) }
            }
            x += 0.0107
        }
        #expect(worst <= Int64(Lane.expMaxULP), "worst \(worst) ulp at x = \(worstX)")
    }

    @Test("Lane.exp edge cases: overflow, underflow, zero, NaN")
    func vectorExpEdges() {
        let v = SIMD8<Float>(0, 89, 1000, .infinity, -104, -1000, -.infinity, .nan)
        let e = Lane.exp(v)
        #expect(e[0] == 1)
        #expect(e[1] == .infinity && e[2] == .infinity && e[3] == .infinity)
        #expect(e[4] >= 0 && e[4] <= 0x1p-149 && e[5] == 0 && e[6] == 0)
        #expect(e[7].isNaN)
        let sub = Lane.exp(SIMD8(repeating: -100))
        #expect(ulpDistance(sub[0], Float(Foundation.exp(-100.0))) <= 1, "subnormal result rounded once")
    }

    // MARK: rmsNorm

    @Test("rmsNorm SIMD vs reference", arguments: opSizes)
    func rmsNormMatches(_ n: Int) {
        let x = randomFloats(n, seed: 1 + UInt64(n))
        let w = randomFloats(n, seed: 1000 + UInt64(n), scale: 2)
        var a = [Float](repeating: 0, count: n), b = a
        Ops.rmsNorm(x, weight: w, &a, count: n, eps: 1e-5)
        Ops.rmsNorm_reference(x, weight: w, &b, count: n, eps: 1e-5)
        for i in 0..<n { #expect(ulpDistance(a[i], b[i]) <= 1, "i=\(i)") }
        // Independent Double check of the reference.
        let ms = x.reduce(0.0) { $0 + Double($1) * Double($1) } / Double(n)
        let s = 1 / (ms + 1e-5).squareRoot()
        for i in 0..<n {
            let exact = Double(x[i]) * s * Double(w[i])
            #expect(abs(Double(b[i]) - exact) <= 4e-7 * abs(exact) + 1e-30, "i=\(i)")
        }
    }

    @Test("rmsNorm in place equals out of place")
    func rmsNormInPlace() {
        let x = randomFloats(33, seed: 7)
        let w = [Float](repeating: 1, count: 33)
        var out = [Float](repeating: 0, count: 33)
        Ops.rmsNorm(x, weight: w, &out, count: 33, eps: 1e-6)
        var y = x
        y.withUnsafeMutableBufferPointer { p in
            Ops.rmsNorm(p.baseAddress!, weight: w, p.baseAddress!, count: 33, eps: 1e-6)
        }
        #expect(bitwiseEqual(out, y))
    }

    @Test("rmsNorm of (3, 4) with eps 0 is (3, 4)/√12.5")
    func rmsNormKnown() {
        var y: [Float] = [0, 0]
        Ops.rmsNorm_reference([3, 4], weight: [1, 2], &y, count: 2, eps: 0)
        let s = 1 / Float(12.5).squareRoot()
        #expect(y[0] == 3 * s && y[1] == 4 * s * 2)
    }

    // MARK: softmax

    @Test("softmax SIMD vs reference", arguments: opSizes)
    func softmaxMatches(_ n: Int) {
        for (k, spread) in [Float(1), 20, 80].enumerated() {
            let x = randomFloats(n, seed: 50 + UInt64(n * 3 + k), scale: spread)
            var a = x, b = x
            Ops.softmax(&a, count: n, scale: 0.125)
            Ops.softmax_reference(&b, count: n, scale: 0.125)
            for i in 0..<n {
                #expect(abs(a[i] - b[i]) <= softmaxRelativeTolerance * b[i] + 1e-37, "n=\(n) i=\(i)")
            }
            let sum = b.reduce(0.0) { $0 + Double($1) }
            #expect(abs(sum - 1) < 1e-5)
            // Reference vs Double softmax.
            let m = x.map { Double($0 * 0.125) }.max()!
            let e = x.map { Foundation.exp(Double($0 * 0.125) - m) }
            let z = e.reduce(0, +)
            // Float rounding of x - max (up to 160 here) costs ~1e-5 relative in exp.
            for i in 0..<n { #expect(abs(Double(b[i]) - e[i] / z) <= 2e-5 * e[i] / z + 1e-38) }
        }
    }

    @Test func softmaxEmptyAndSingle() {
        var one: [Float] = [42]
        Ops.softmax(&one, count: 1)
        #expect(one == [1])
        var empty: [Float] = []
        Ops.softmax(&empty, count: 0)
        #expect(empty.isEmpty)
    }

    // MARK: log-sum-exp

    @Test("logSumExp SIMD vs reference vs Double", arguments: opSizes + [1025, 2049, 49_152, 262_147])
    func logSumExpMatches(_ n: Int) {
        for (k, spread) in [Float(1), 20, 80].enumerated() {
            var x = randomFloats(n, seed: 900 + UInt64(n * 3 + k), scale: spread)
            if n > 1000 { x[n / 3] = spread + 5 }   // one dominant logit, as a vocabulary row has
            let a = x.withUnsafeBufferPointer { Ops.logSumExp($0.baseAddress!, count: n) }
            let b = x.withUnsafeBufferPointer { Ops.logSumExp_reference($0.baseAddress!, count: n) }
            #expect(abs(a - b) <= logSumExpTolerance, "n=\(n) spread=\(spread): \(a) vs \(b)")
            // Reference vs Double math.
            let m = x.map(Double.init).max()!
            let d = m + Foundation.log(x.reduce(0.0) { $0 + Foundation.exp(Double($1) - m) })
            #expect(abs(b - d) <= 1e-5, "n=\(n): \(b) vs \(d)")
        }
    }

    @Test func logSumExpEdges() {
        let one: [Float] = [3.5]
        #expect(one.withUnsafeBufferPointer { Ops.logSumExp($0.baseAddress!, count: 1) } == 3.5)
        let empty: [Float] = [0]
        #expect(empty.withUnsafeBufferPointer { Ops.logSumExp($0.baseAddress!, count: 0) } == -.infinity)
        // −∞ everywhere (fully masked) gives −∞, one +∞ gives +∞, finite values far below the max add nothing.
        let masked = [Float](repeating: -.infinity, count: 19)
        #expect(masked.withUnsafeBufferPointer { Ops.logSumExp($0.baseAddress!, count: 19) } == -.infinity)
        var inf = [Float](repeating: 0, count: 17); inf[11] = .infinity
        #expect(inf.withUnsafeBufferPointer { Ops.logSumExp($0.baseAddress!, count: 17) } == .infinity)
        var far = [Float](repeating: -200, count: 33); far[32] = 10
        #expect(far.withUnsafeBufferPointer { Ops.logSumExp($0.baseAddress!, count: 33) } == 10)
        // Equal values: log n + value.
        let flat = [Float](repeating: 2, count: 1024 * 3 + 5)
        let got = flat.withUnsafeBufferPointer { Ops.logSumExp($0.baseAddress!, count: flat.count) }
        #expect(abs(got - (2 + Foundation.log(Double(flat.count)))) <= 1e-6)
    }

    // MARK: activations

    @Test("silu, swiglu, gelu SIMD vs reference", arguments: opSizes)
    func activationsMatch(_ n: Int) {
        let x = randomFloats(n, seed: 300 + UInt64(n), scale: 12)
        let u = randomFloats(n, seed: 400 + UInt64(n), scale: 3)
        var a = [Float](repeating: 0, count: n), b = a
        Ops.silu(x, &a, count: n)
        Ops.silu_reference(x, &b, count: n)
        for i in 0..<n { #expect(abs(a[i] - b[i]) <= siluRelativeTolerance * abs(b[i]) + 1e-37, "silu x=\(x[i])") }
        Ops.swiglu(gate: x, up: u, out: &a, count: n)
        Ops.swiglu_reference(gate: x, up: u, out: &b, count: n)
        for i in 0..<n { #expect(abs(a[i] - b[i]) <= siluRelativeTolerance * abs(b[i]) + 1e-37, "swiglu") }
        Ops.gelu(x, &a, count: n)
        Ops.gelu_reference(x, &b, count: n)
        for i in 0..<n {
            #expect(abs(a[i] - b[i]) <= geluAbsoluteTolerance * max(1, abs(x[i])), "gelu x=\(x[i])")
        }
    }

    @Test("silu and gelu references vs Double math")
    func activationReferencesVsDouble() {
        let x = randomFloats(1000, seed: 9, scale: 9)
        var s = [Float](repeating: 0, count: 1000), g = s
        Ops.silu_reference(x, &s, count: 1000)
        Ops.gelu_reference(x, &g, count: 1000)
        for i in 0..<1000 {
            let d = Double(x[i])
            #expect(abs(Double(s[i]) - d / (1 + Foundation.exp(-d))) <= 1e-6 * max(1, abs(d)))
            let gd = 0.5 * d * (1 + tanh(0.7978845608028654 * d * (1 + 0.044715 * d * d)))
            #expect(abs(Double(g[i]) - gd) <= 1e-6 * max(1, abs(d)))
        }
    }

    @Test("geluF16Table and geglu are bitwise equal to their table-free references", arguments: opSizes)
    func geluTableMatches(_ n: Int) {
        var x = randomFloats(n, seed: 500 + UInt64(n), scale: 12)
        if n > 2 { x[0] = -10; x[1] = 10 }
        let u = randomFloats(n, seed: 600 + UInt64(n))
        var a = [Float](repeating: 0, count: n), b = a
        Ops.geluF16Table(x, &a, count: n)
        Ops.geluF16Table_reference(x, &b, count: n)
        #expect(bitwiseEqual(a, b))
        Ops.geglu(gate: x, up: u, out: &a, count: n)
        Ops.geglu_reference(gate: x, up: u, out: &b, count: n)
        #expect(bitwiseEqual(a, b))
        // The fp16 table is within fp16 precision of the formula.
        Ops.geluF16Table(x, &a, count: n)
        Ops.gelu_reference(x, &b, count: n)
        for i in 0..<n { #expect(abs(a[i] - b[i]) <= 2e-3 * max(1, abs(x[i])), "x=\(x[i])") }
    }

    // MARK: add, mul, scale

    @Test("add, mul, scale SIMD are bitwise equal to the references", arguments: opSizes)
    func elementwiseMatch(_ n: Int) {
        let x = randomFloats(n, seed: 700 + UInt64(n)), y = randomFloats(n, seed: 800 + UInt64(n))
        var a = [Float](repeating: 0, count: n), b = a
        Ops.add(x, y, &a, count: n)
        Ops.add_reference(x, y, &b, count: n)
        #expect(bitwiseEqual(a, b) && a[n - 1] == x[n - 1] + y[n - 1])
        Ops.mul(x, y, &a, count: n)
        Ops.mul_reference(x, y, &b, count: n)
        #expect(bitwiseEqual(a, b) && a[0] == x[0] * y[0])
        Ops.scale(x, by: 0.3, &a, count: n)
        Ops.scale_reference(x, by: 0.3, &b, count: n)
        #expect(bitwiseEqual(a, b) && a[n / 2] == x[n / 2] * 0.3)
    }

    // MARK: rope

    static let ropeShapes: [(heads: Int, headDim: Int, ropeDim: Int)] = [
        (1, 2, 2), (3, 64, 64), (9, 64, 64), (2, 256, 256), (4, 128, 64), (2, 96, 32), (1, 80, 48),
    ]

    @Test("rope SIMD equals reference bitwise; tail dims untouched",
          arguments: ropeShapes.indices, [false, true])
    func ropeMatches(_ shape: Int, neox: Bool) {
        let (heads, headDim, ropeDim) = Self.ropeShapes[shape]
        let x = randomFloats(heads * headDim, seed: 900 + UInt64(shape))
        for position in [0, 1, 17, 4095] {
            var a = x, b = x
            Ops.rope(&a, heads: heads, headDim: headDim, ropeDim: ropeDim, position: position,
                     freqBase: 10000, neox: neox)
            Ops.rope_reference(&b, heads: heads, headDim: headDim, ropeDim: ropeDim, position: position,
                               freqBase: 10000, neox: neox)
            #expect(bitwiseEqual(a, b), "pos \(position)")
            for h in 0..<heads {
                for i in ropeDim..<headDim { #expect(a[h * headDim + i] == x[h * headDim + i]) }
            }
            if position == 0 { #expect(bitwiseEqual(a, x), "position 0 is the identity") }
        }
    }

    @Test("rope matches Double rotation by pos·base^(-2i/n) at small positions", arguments: [false, true])
    func ropeVsDouble(neox: Bool) {
        let headDim = 64, ropeDim = 64, heads = 2, pos = 3
        let x = randomFloats(heads * headDim, seed: 77)
        var y = x
        Ops.rope_reference(&y, heads: heads, headDim: headDim, ropeDim: ropeDim, position: pos,
                           freqBase: 10000, neox: neox)
        for h in 0..<heads {
            for i in 0..<(ropeDim / 2) {
                let (a, b) = neox ? (i, i + ropeDim / 2) : (2 * i, 2 * i + 1)
                let theta = Double(pos) * Foundation.pow(10000.0, -2.0 * Double(i) / Double(ropeDim))
                let x0 = Double(x[h * headDim + a]), x1 = Double(x[h * headDim + b])
                let r0 = x0 * Foundation.cos(theta) - x1 * Foundation.sin(theta)
                let r1 = x0 * Foundation.sin(theta) + x1 * Foundation.cos(theta)
                #expect(abs(Double(y[h * headDim + a]) - r0) < 2e-5, "h\(h) i\(i)")
                #expect(abs(Double(y[h * headDim + b]) - r1) < 2e-5, "h\(h) i\(i)")
            }
        }
    }

    @Test("ropeCache: theta advances by repeated multiplication (ggml_rope_cache_init)")
    func ropeCacheOrder() {
        var cache = [Float](repeating: 0, count: 8)
        Ops.ropeCache(position: 5, ropeDim: 8, freqBase: 10000, into: &cache)
        let scale = powf(10000, -2.0 / 8)
        var theta: Float = 5
        for i in 0..<4 {
            #expect(cache[2 * i] == cosf(theta) && cache[2 * i + 1] == sinf(theta))
            theta *= scale
        }
    }
}
