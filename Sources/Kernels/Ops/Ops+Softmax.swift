// Softmax as ggml_compute_forward_soft_max_f32 (no mask): w = x * scale; max = ggml_vec_max_f32(w);
// y = expf(w - max) with the sum accumulated in double (ggml_vec_soft_max_f32); then y *= (float)(1.0 / sum).

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Named tolerance between `Ops.softmax` (polynomial exp) and `Ops.softmax_reference` (libm `expf`):
/// relative error per element, |a − b| ≤ softmaxRelativeTolerance · b (+ 1e-37 absolute for underflow).
public let softmaxRelativeTolerance: Float = 4e-7

extension Ops {
    /// In-place numerically stable softmax of `count` elements: x ← exp(s·x − max) / Σ (SIMD).
    ///
    /// `scale` multiplies the inputs first (ggml `soft_max_ext`'s `scale`, e.g. 1/√headDim); with the default 1
    /// it is exact. Uses `vexp` (≤ 2 ulp); agrees with `softmax_reference` within `softmaxRelativeTolerance`.
    /// `count == 0` is a no-op. - Complexity: O(count), two passes over x plus one scaling pass; no allocation.
    public static func softmax(_ x: UnsafeMutablePointer<Float>, count: Int, scale: Float = 1) {
        precondition(count >= 0)
        if count == 0 { return }
        let xs = UnsafePointer(x)
        let sv = SIMD8<Float>(repeating: scale)
        var i = 0
        var vmax = SIMD8<Float>(repeating: -.infinity)
        while i + 8 <= count {
            let v = Lane.load8(xs, i) * sv
            Lane.store8(v, x, i)
            vmax = Lane.max(v, vmax)
            i += 8
        }
        var maxValue = vmax.max()
        while i < count {
            x[i] *= scale
            maxValue = x[i] > maxValue ? x[i] : maxValue
            i += 1
        }
        let mv = SIMD8<Float>(repeating: maxValue)
        var sum: Double = 0
        i = 0
        while i + 8 <= count {
            let e = Lane.exp(Lane.load8(xs, i) - mv)
            Lane.store8(e, x, i)
            sum += Double(Lane.hsum(e))
            i += 8
        }
        while i < count {
            let e = expf(x[i] - maxValue)
            x[i] = e
            sum += Double(e)
            i += 1
        }
        let inv = Float(1.0 / sum)
        let iv = SIMD8<Float>(repeating: inv)
        i = 0
        while i + 8 <= count {
            Lane.store8(Lane.load8(xs, i) * iv, x, i)
            i += 8
        }
        while i < count {
            x[i] *= inv
            i += 1
        }
    }

    /// Scalar twin of `softmax`, operation by operation as ggml's scalar path (libm `expf`, Double sum).
    public static func softmax_reference(_ x: UnsafeMutablePointer<Float>, count: Int, scale: Float = 1) {
        precondition(count >= 0)
        if count == 0 { return }
        var maxValue = -Float.infinity
        for i in 0..<count {
            x[i] *= scale
            maxValue = x[i] > maxValue ? x[i] : maxValue
        }
        var sum: Double = 0
        for i in 0..<count {
            let e = expf(x[i] - maxValue)
            x[i] = e
            sum += Double(e)
        }
        let inv = Float(1.0 / sum)
        for i in 0..<count { x[i] *= inv }
    }
}
