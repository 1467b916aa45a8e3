// log Σ exp(x): the normaliser of a log-softmax over a vocabulary of logits (label and text scoring in Tasks,
// one call per scored token). Two passes: the maximum, then the sum of exp(x − max).

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Named tolerance between `Ops.logSumExp` (polynomial exp, Float partial sums) and `Ops.logSumExp_reference`
/// (libm `expf`, Double sum): absolute error of the result.
public let logSumExpTolerance: Double = 1e-5

extension Ops {
    /// log Σᵢ exp(x[i]) of `count` elements (SIMD): the maximum m, then m + log Σ exp(x − m) with ggml's
    /// vectorised exp (`exp8`, ~1.5 ulp) summed in Float lanes, flushed to Double every 1024 elements.
    /// Agrees with `logSumExp_reference` within `logSumExpTolerance`. `count == 0` gives −∞.
    /// - Complexity: O(count), two passes over x; no allocation.
    public static func logSumExp(_ x: UnsafePointer<Float>, count: Int) -> Double {
        precondition(count >= 0)
        if count == 0 { return -.infinity }
        var vmax = SIMD8<Float>(repeating: -.infinity)
        var i = 0
        while i + 8 <= count {
            vmax = Lane.max(Lane.load8(x, i), vmax)
            i += 8
        }
        var m = vmax.max()
        while i < count {
            m = x[i] > m ? x[i] : m
            i += 1
        }
        if m == .infinity || m.isNaN { return Double(m) }
        if m == -.infinity { return -.infinity }
        let mv = SIMD8<Float>(repeating: m)
        var sum: Double = 0
        i = 0
        while i + 8 <= count {
            // Float partial sums over at most 1024 elements (128 vectors), then into the Double total.
            let end = min(count & ~7, i + 1024)
            var acc = SIMD8<Float>()
            while i < end {
                acc += exp8(Lane.load8(x, i) - mv)
                i += 8
            }
            sum += Double(acc.sum())
        }
        while i < count {
            sum += Double(expf(x[i] - m))
            i += 1
        }
        return Double(m) + log(sum)
    }

    /// Scalar twin of `logSumExp`: libm `expf`, the sum in Double.
    public static func logSumExp_reference(_ x: UnsafePointer<Float>, count: Int) -> Double {
        precondition(count >= 0)
        if count == 0 { return -.infinity }
        var m = -Float.infinity
        for i in 0..<count where x[i] > m || x[i].isNaN { m = x[i] }
        if m == .infinity || m.isNaN { return Double(m) }
        if m == -.infinity { return -.infinity }
        var sum: Double = 0
        for i in 0..<count { sum += Double(expf(x[i] - m)) }
        return Double(m) + log(sum)
    }
}
