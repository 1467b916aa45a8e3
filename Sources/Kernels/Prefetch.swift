// Software prefetch. Swift has no prefetch function and Clang's `_mm_prefetch` is a macro (not importable;
// the function-form `_m_prefetch` is imported but dropped by the compiler). LLVM's `llvm.prefetch` intrinsic is
// reachable through the compiler's Builtin module, which the Kernels target enables in release builds
// (`-enable-builtin-module -D EDGELM_PREFETCH`, Package.swift). Without the flag (other build setups) the hint
// compiles to nothing. A prefetch never faults and never changes a result.

#if EDGELM_PREFETCH
import Builtin

/// Hints that the cache line holding `p` will be read soon (`prefetcht0` on x86-64, `prfm pldl1keep` on arm64).
@inline(__always)
func prefetch(_ p: UnsafeRawPointer) {
    Builtin.int_prefetch_RawPointer(p._rawValue, Int32(0)._value, Int32(3)._value, Int32(1)._value)
}
#else
/// No-op: this build has no access to LLVM's prefetch intrinsic.
@inline(__always)
func prefetch(_ p: UnsafeRawPointer) {}
#endif
