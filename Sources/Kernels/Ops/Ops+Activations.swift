// Activations: silu, swiglu (ggml_vec_swiglu_f32), gelu (ggml_gelu_f32, tanh approximation) and the
// fp16-lookup-table GELU that llama.cpp's CPU backend actually runs (GGML_GELU_FP16: ggml_vec_gelu_f32 /
// ggml_vec_geglu_f32 clamp |x| ≥ 10, otherwise look up gelu(fp16(x)) rounded to fp16).

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Named tolerance of `Ops.silu`/`Ops.swiglu` (polynomial exp) against their references:
/// |a − b| ≤ siluRelativeTolerance · |b| + 1e-37.
public let siluRelativeTolerance: Float = 5e-7

/// Named tolerance of `Ops.gelu` against `Ops.gelu_reference`: |a − b| ≤ geluAbsoluteTolerance · max(1, |x|).
/// (The SIMD form x / (1 + e^(−2u)) is algebraically 0.5·x·(1 + tanh u) but avoids the reference's own
/// cancellation in 1 + tanh u for negative x, so the two differ by about the reference's rounding error.)
public let geluAbsoluteTolerance: Float = 1e-6

extension Ops {
    static let geluCoefA: Float = 0.044715
    static let sqrt2OverPi: Float = 0.797_884_560_802_865_355_879_892_119_868_76

    /// ggml_gelu_f32: 0.5f*x*(1.0f + tanhf(SQRT_2_OVER_PI*x*(1.0f + GELU_COEF_A*x*x))), with the one fused
    /// multiply-add gcc's default contraction forms in it: `1.0f + (GELU_COEF_A*x)*x`. (The fp16 table
    /// llama.cpp's CPU backend looks GELU up in is built from exactly this expression.)
    @inline(__always)
    static func geluScalar(_ x: Float) -> Float {
        0.5 * x * (1.0 + tanhf(sqrt2OverPi * x * (Float(1).addingProduct(geluCoefA * x, x))))
    }

    /// ggml_silu_f32: x/(1.0f + expf(-x)).
    @inline(__always)
    static func siluScalar(_ x: Float) -> Float {
        x / (1.0 + expf(-x))
    }

    /// ggml_table_gelu_f16: fp16(gelu(f32(h))) for every fp16 bit pattern h (128 KB, built once on first use).
    static let geluTableF16: [UInt16] = (0..<65536).map { h in
        Float16(Ops.geluScalar(Float(Float16(bitPattern: UInt16(h))))).bitPattern
    }

    /// llama.cpp CPU GELU of one value (GGML_GELU_FP16 path), computed without the table.
    @inline(__always)
    static func geluF16Scalar(_ x: Float) -> Float {
        if x <= -10 { return 0 }
        if x >= 10 { return x }
        return Float(Float16(Ops.geluScalar(Float(Float16(x)))))
    }
}

extension Ops {
    // MARK: silu / swiglu

    /// y = x / (1 + e^(−x)) (SIMD, `Lane.exp`). Within `siluRelativeTolerance` of `silu_reference`.
    /// `y` may alias `x`. - Complexity: O(count).
    public static func silu(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) {
        let one = SIMD8<Float>(repeating: 1)
        var i = 0
        while i + 8 <= count {
            let v = Lane.load8(x, i)
            Lane.store8(v / (one + Lane.exp(-v)), y, i)
            i += 8
        }
        while i < count {
            y[i] = Ops.siluScalar(x[i])
            i += 1
        }
    }

    /// Scalar twin of `silu` (ggml_silu_f32 with libm `expf`).
    public static func silu_reference(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<max(count, 0) { y[i] = Ops.siluScalar(x[i]) }
    }

    /// out = silu(gate) · up (SIMD; ggml_vec_swiglu_f32). `out` may alias `gate` or `up`.
    /// Within `siluRelativeTolerance` of `swiglu_reference`. - Complexity: O(count).
    public static func swiglu(gate: UnsafePointer<Float>, up: UnsafePointer<Float>,
                              out: UnsafeMutablePointer<Float>, count: Int) {
        let one = SIMD8<Float>(repeating: 1)
        var i = 0
        while i + 8 <= count {
            // ggml_vec_swiglu_f32 on AVX2: silu = x / (1 + ggml_v_expf(0 - x)), times up.
            let g = Lane.load8(gate, i)
            Lane.store8(g / (one + Ops.exp8(SIMD8<Float>() - g)) * Lane.load8(up, i), out, i)
            i += 8
        }
        while i < count {
            out[i] = Ops.siluScalar(gate[i]) * up[i]
            i += 1
        }
    }

    /// Scalar twin of `swiglu`.
    public static func swiglu_reference(gate: UnsafePointer<Float>, up: UnsafePointer<Float>,
                                        out: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<max(count, 0) { out[i] = Ops.siluScalar(gate[i]) * up[i] }
    }

    // MARK: gelu (formula)

    /// GELU, tanh approximation (ggml_gelu_f32), computed without a table (SIMD, `Lane.exp`).
    /// Within `geluAbsoluteTolerance` of `gelu_reference`. `y` may alias `x`. - Complexity: O(count).
    /// For llama.cpp-identical CPU results use `geluF16Table` / `geglu` instead.
    public static func gelu(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) {
        let one = SIMD8<Float>(repeating: 1)
        let a = SIMD8<Float>(repeating: Ops.geluCoefA), c = SIMD8<Float>(repeating: -2 * Ops.sqrt2OverPi)
        var i = 0
        while i + 8 <= count {
            let v = Lane.load8(x, i)
            // 0.5·x·(1 + tanh u) = x / (1 + e^(−2u)), u = √(2/π)·x·(1 + a·x²)
            Lane.store8(v / (one + Lane.exp(c * v * (one + a * v * v))), y, i)
            i += 8
        }
        while i < count {
            y[i] = Ops.geluScalar(x[i])
            i += 1
        }
    }

    /// Scalar twin of `gelu`: exactly ggml_gelu_f32 with libm `tanhf`.
    public static func gelu_reference(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<max(count, 0) { y[i] = Ops.geluScalar(x[i]) }
    }

    // MARK: gelu / geglu as llama.cpp's CPU backend (fp16 table)

    /// GELU exactly as llama.cpp's CPU `ggml_vec_gelu_f32` with GGML_GELU_FP16: 0 for x ≤ −10, x for x ≥ 10,
    /// else fp16(gelu(fp16(x))) read from a 128 KB table built on first use. Bitwise equal to
    /// `geluF16Table_reference`. `y` may alias `x`. - Complexity: O(count); the first call builds the table
    /// (65 536 `tanhf`, about a millisecond).
    public static func geluF16Table(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) {
        Ops.geluTableF16.withUnsafeBufferPointer { table in
            for i in 0..<max(count, 0) {
                let v = x[i]
                if v <= -10 {
                    y[i] = 0
                } else if v >= 10 {
                    y[i] = v
                } else {
                    y[i] = Float(Float16(bitPattern: table[Int(Float16(v).bitPattern)]))
                }
            }
        }
    }

    /// Scalar twin of `geluF16Table`, computed per element without the table.
    public static func geluF16Table_reference(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                                              count: Int) {
        for i in 0..<max(count, 0) { y[i] = Ops.geluF16Scalar(x[i]) }
    }

    /// out = gelu(gate) · up exactly as llama.cpp's CPU `ggml_vec_geglu_f32` (fp16 table GELU; x ≥ 10 → x·up,
    /// x ≤ −10 → 0). Bitwise equal to `geglu_reference`. `out` may alias `gate` or `up`. - Complexity: O(count).
    public static func geglu(gate: UnsafePointer<Float>, up: UnsafePointer<Float>,
                             out: UnsafeMutablePointer<Float>, count: Int) {
        Ops.geluTableF16.withUnsafeBufferPointer { table in
            for i in 0..<max(count, 0) {
                let v = gate[i]
                if v <= -10 {
                    out[i] = 0
                } else if v >= 10 {
                    out[i] = v * up[i]
                } else {
                    out[i] = Float(Float16(bitPattern: table[Int(Float16(v).bitPattern)])) * up[i]
                }
            }
        }
    }

    /// Scalar twin of `geglu`, computed per element without the table.
    public static func geglu_reference(gate: UnsafePointer<Float>, up: UnsafePointer<Float>,
                                       out: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<max(count, 0) {
            let v = gate[i]
            out[i] = v <= -10 ? 0 : (v >= 10 ? v * up[i] : Ops.geluF16Scalar(v) * up[i])
        }
    }
}
