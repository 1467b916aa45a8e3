// Elementwise kernels of the forward pass (norms, softmax, activations, RoPE), each with a scalar
// `_reference` twin of the same signature. The references follow ggml's CPU code (ggml/src/ggml-cpu/ops.cpp,
// vec.h) operation by operation, using the platform libm (`expf`, `tanhf`, `powf`, `cosf`, `sinf`) exactly as
// ggml does, so on Linux/glibc they reproduce llama.cpp's scalar results.
//
// Pointer conventions: inputs are `UnsafePointer<Float>`, outputs `UnsafeMutablePointer<Float>`; an output
// may alias its input exactly (in-place), but not partially overlap it.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Elementwise forward-pass kernels. Every public kernel `f` has a scalar twin `f_reference`.
public enum Ops {}

// MARK: - Vectorised exp and float lane helpers

extension Lane {
    /// Named accuracy of `vexp` (measured by OpsTests against a Double `exp` over a dense sweep of [-104, 89]):
    /// at most 2 ulp from the correctly rounded result for normal outputs.
    static let expMaxULP: Float = 2

    /// exp(x) on 8 lanes: Cody–Waite reduction x = n·ln2 + r with |r| ≤ ln2/2, a degree-6 minimax polynomial
    /// (Cephes `expf` coefficients) for e^r, and 2^n applied as two exact power-of-two factors so that results in
    /// the subnormal range are rounded once. Overflow gives +inf, underflow 0, NaN propagates. Error ≤ 2 ulp
    /// (`vexpMaxULP`). No lane conversion traps: n is read from the bits of the rounding "magic" sum.
    @inline(__always)
    static func exp(_ input: SIMD8<Float>) -> SIMD8<Float> {
        let x = clamp(input, -104, 89)
        let magic = SIMD8<Float>(repeating: 12_582_912)  // 1.5 · 2^23: adding it rounds to an integer
        let t = x * SIMD8(repeating: 1.442_695_04) + magic
        let n = t - magic
        var r = x - n * SIMD8(repeating: 0.693_359_375)  // ln2 high part (exact product)
        r = r - n * SIMD8(repeating: -2.121_944_40e-4)   // ln2 low part
        var p = SIMD8<Float>(repeating: 1.987_569_150_0e-4)
        p = p * r + SIMD8(repeating: 1.398_199_950_7e-3)
        p = p * r + SIMD8(repeating: 8.333_451_907_3e-3)
        p = p * r + SIMD8(repeating: 4.166_579_589_4e-2)
        p = p * r + SIMD8(repeating: 1.666_666_545_9e-1)
        p = p * r + SIMD8(repeating: 5.000_000_120_1e-1)
        p = p * (r * r) + r + SIMD8(repeating: 1)
        // n = bits(t) - bits(magic); split 2^n = 2^n1 · 2^n2 so each factor is a normal float.
        let ni = unsafeBitCast(t, to: SIMD8<Int32>.self) &- SIMD8(repeating: 0x4B40_0000)
        let n1 = ni &>> SIMD8(repeating: 1)
        let n2 = ni &- n1
        let bias = SIMD8<Int32>(repeating: 127), shift = SIMD8<Int32>(repeating: 23)
        let s1 = unsafeBitCast((n1 &+ bias) &<< shift, to: SIMD8<Float>.self)
        let s2 = unsafeBitCast((n2 &+ bias) &<< shift, to: SIMD8<Float>.self)
        return p * s1 * s2
    }

    /// Horizontal sum of 8 lanes in a fixed pairwise order.
    @inline(__always)
    static func hsum(_ v: SIMD8<Float>) -> Float {
        let a = v.lowHalf + v.highHalf
        let b = a.lowHalf + a.highHalf
        return b[0] + b[1]
    }

    // Lane-wise min/max/clamp. Written through memory because every other spelling measured here compiles to a
    // per-lane branchy loop through the stack (SIMD masks, `replace(with:where:)`, `pointwiseMin`, `clamped`,
    // lane-subscript assignment in a loop — about 40× slower); this form becomes vminps/vmaxps.

    /// Lane-wise max(a, b) (vmaxps).
    @inline(__always)
    static func max(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> {
        var r = SIMD8<Float>()
        withUnsafeMutablePointer(to: &r) { p in
            p.withMemoryRebound(to: Float.self, capacity: 8) { q in
                for l in 0..<8 { q[l] = Swift.max(a[l], b[l]) }
            }
        }
        return r
    }

    /// Lane-wise min(max(v, lo), hi) (vmaxps + vminps); a NaN lane stays NaN.
    @inline(__always)
    static func clamp(_ v: SIMD8<Float>, _ lo: Float, _ hi: Float) -> SIMD8<Float> {
        var r = SIMD8<Float>()
        withUnsafeMutablePointer(to: &r) { p in
            p.withMemoryRebound(to: Float.self, capacity: 8) { q in
                for l in 0..<8 { q[l] = Swift.max(Swift.min(v[l], hi), lo) }
            }
        }
        return r
    }

    /// Loads 8 floats from `p + i` (no alignment needed).
    @inline(__always)
    static func load8(_ p: UnsafePointer<Float>, _ i: Int) -> SIMD8<Float> {
        UnsafeRawPointer(p + i).loadUnaligned(as: SIMD8<Float>.self)
    }
}
