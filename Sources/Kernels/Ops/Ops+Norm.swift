// RMS norm, as llama.cpp computes `ggml_mul(ggml_rms_norm(x, eps), w)`:
// ggml_compute_forward_rms_norm_f32 sums the float products x*x in a double (`ggml_float`), takes
// mean = (float)(sum / n), scale = 1.0f / sqrtf(mean + eps), y = x * scale; the weight is a separate
// elementwise multiply: out = (x * scale) * w.

extension Ops {
    /// y = (x · 1/√(mean(x²) + eps)) · weight over one row of `count` elements (SIMD).
    ///
    /// Products are rounded to Float and accumulated in Double, as ggml does; the SIMD version sums in a
    /// different order, so it may differ from `rmsNorm_reference` by 1 ulp of the scale in rare cases.
    /// `y` may be `x` (in place). - Complexity: O(count); no allocation.
    public static func rmsNorm(_ x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                               _ y: UnsafeMutablePointer<Float>, count: Int, eps: Float) {
        precondition(count > 0, "Ops.rmsNorm: empty row")
        var acc0 = SIMD4<Double>(), acc1 = SIMD4<Double>()
        var i = 0
        while i + 8 <= count {
            let v = Lane.load8(x, i)
            let sq = v * v
            var lo = SIMD4<Double>(), hi = SIMD4<Double>()
            for l in 0..<4 {
                lo[l] = Double(sq[l])
                hi[l] = Double(sq[l + 4])
            }
            acc0 += lo
            acc1 += hi
            i += 8
        }
        var sum = (acc0 + acc1).sum()
        while i < count {
            sum += Double(x[i] * x[i])
            i += 1
        }
        let scale = rmsScale(sum, count, eps)
        let s = SIMD8<Float>(repeating: scale)
        i = 0
        while i + 8 <= count {
            Lane.store8(Lane.load8(x, i) * s * Lane.load8(weight, i), y, i)
            i += 8
        }
        while i < count {
            y[i] = x[i] * scale * weight[i]
            i += 1
        }
    }

    /// Scalar twin of `rmsNorm` (ggml order, sequential Double sum).
    public static func rmsNorm_reference(_ x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                                         _ y: UnsafeMutablePointer<Float>, count: Int, eps: Float) {
        precondition(count > 0, "Ops.rmsNorm_reference: empty row")
        var sum: Double = 0
        for i in 0..<count { sum += Double(x[i] * x[i]) }
        let scale = rmsScale(sum, count, eps)
        for i in 0..<count { y[i] = x[i] * scale * weight[i] }
    }

    /// ggml: `const float mean = sum/ne00; const float scale = 1.0f/sqrtf(mean + eps);`
    @inline(__always)
    static func rmsScale(_ sum: Double, _ count: Int, _ eps: Float) -> Float {
        let mean = Float(sum / Double(count))
        return 1.0 / (mean + eps).squareRoot()
    }
}
