import Synchronization

/// Which implementation computes matrix products with several tokens (prefill).
///
/// `.swift` (the default) runs the integer kernels of `MatMul` on quantized activations, exactly like
/// llama.cpp's CPU backend. `.blas` dequantizes weight tiles to f32 and calls an installed f32 GEMM
/// (OpenBLAS through the KernelsBLAS module: call `BLASMatMul.install()` once at start-up); results then
/// differ from llama.cpp by f32 rounding instead of activation quantization. Single-token products
/// (decode) always use the Swift kernels, which are bandwidth-bound and faster there.
///
/// The Kernels module itself never links OpenBLAS: without an installed provider `.blas` falls back to
/// `.swift` (check `isAvailable`).
public enum KernelBackend: String, Sendable, CaseIterable {
    case swift
    case blas

    /// Whether this backend can run in this process (`.blas` needs an installed provider).
    public var isAvailable: Bool {
        switch self {
        case .swift: return true
        case .blas: return Self.blasProvider != nil
        }
    }

    private static let provider = Mutex<(any F32GEMMProvider)?>(nil)

    /// The f32 GEMM used by `.blas`, if one was installed.
    public static var blasProvider: (any F32GEMMProvider)? { provider.withLock { $0 } }

    /// Installs (or with nil removes) the f32 GEMM used by `.blas`.
    public static func install(_ gemm: (any F32GEMMProvider)?) { provider.withLock { $0 = gemm } }
}

/// An f32 GEMM backend for prefill: `y (tokens, w.rows) = x (tokens, w.cols) · dequantize(w)ᵀ`.
public protocol F32GEMMProvider: AnyObject, Sendable {
    /// Computes the product; must not allocate per call (providers own their scratch).
    func mul(_ w: WeightMatrix, _ x: UnsafePointer<Float>, tokens: Int, _ y: UnsafeMutablePointer<Float>,
             pool: ThreadPool)
}

extension MatMul {
    /// `MatMul.mul` with an explicit backend: `.blas` with more than one token and an installed provider goes
    /// to the f32 GEMM (leaving `scratch` untouched); everything else runs the Swift kernels.
    public static func mul(_ w: WeightMatrix, _ x: UnsafePointer<Float>, tokens: Int, _ y: UnsafeMutablePointer<Float>,
                           scratch: UnsafeMutableRawPointer, pool: ThreadPool, backend: KernelBackend) {
        if backend == .blas && tokens > 1, let gemm = KernelBackend.blasProvider {
            gemm.mul(w, x, tokens: tokens, y, pool: pool)
        } else {
            mul(w, x, tokens: tokens, y, scratch: scratch, pool: pool)
        }
    }
}
