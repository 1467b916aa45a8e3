// Rotary position embedding as ggml_compute_forward_rope_flt (ext_factor 0, attn_factor 1, no YaRN):
//   theta_scale = powf(freq_base, -2.0f/n_dims); theta starts at (float)pos and is multiplied by theta_scale
//   once per pair (float, sequentially, as ggml_rope_cache_init does);
//   cache[i0] = cosf(freq_scale * theta/ff), cache[i0+1] = sinf(…)   (ff = freq_factors[i0/2] or 1)
//   NORM ordering rotates pairs (i0, i0+1); NEOX rotates (i0/2, i0/2 + n_dims/2) with the cache entry of i0;
//   x0' = x0*cos - x1*sin, x1' = x0*sin + x1*cos (first product fused, as gcc contracts it); elements
//   n_dims ..< head_dim are left unchanged.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

extension Ops {
    /// Fills `cache` (ropeDim floats: cos, sin per pair) for one position, exactly as ggml_rope_cache_init.
    ///
    /// - Parameters:
    ///   - position: token position (p).
    ///   - ropeDim: rotated dimensions (n_dims, even).
    ///   - freqBase: rope.freq_base (e.g. 10000).
    ///   - freqScale: 1 / linear scaling factor (1 = none).
    ///   - freqFactors: optional per-pair divisors (ropeDim/2 floats; llama3-style rope_freqs), nil = 1.
    /// - Complexity: O(ropeDim) libm calls; no allocation.
    public static func ropeCache(position: Int, ropeDim: Int, freqBase: Float, freqScale: Float = 1,
                                 freqFactors: UnsafePointer<Float>? = nil, into cache: UnsafeMutablePointer<Float>) {
        precondition(ropeDim > 0 && ropeDim % 2 == 0, "Ops.ropeCache: ropeDim must be even and positive")
        let thetaScale = powf(freqBase, -2.0 / Float(ropeDim))
        var theta = Float(position)
        var i0 = 0
        while i0 < ropeDim {
            let ff: Float = freqFactors.map { $0[i0 / 2] } ?? 1
            let t = freqScale * (theta / ff)
            cache[i0] = cosf(t)
            cache[i0 + 1] = sinf(t)
            theta *= thetaScale
            i0 += 2
        }
    }

    /// Applies RoPE in place to `heads` vectors of `headDim` floats laid out contiguously
    /// (`x`: (heads, headDim)), using a cache from `ropeCache` (SIMD for NEOX ordering).
    /// Bitwise equal to `rope_reference(…cache:…)`. - Complexity: O(heads · ropeDim).
    public static func rope(_ x: UnsafeMutablePointer<Float>, heads: Int, headDim: Int, ropeDim: Int,
                            cache: UnsafePointer<Float>, neox: Bool) {
        precondition(ropeDim > 0 && ropeDim % 2 == 0 && ropeDim <= headDim, "Ops.rope: bad ropeDim")
        let half = ropeDim / 2
        for h in 0..<heads {
            let v = x + h * headDim
            if neox {
                var j = 0
                while j + 8 <= half {
                    var c = SIMD8<Float>(), s = SIMD8<Float>()
                    for l in 0..<8 {
                        c[l] = cache[2 * (j + l)]
                        s[l] = cache[2 * (j + l) + 1]
                    }
                    let x0 = Lane.load8(UnsafePointer(v), j)
                    let x1 = Lane.load8(UnsafePointer(v), j + half)
                    Lane.store8((-(x1 * s)).addingProduct(x0, c), v, j)
                    Lane.store8((x1 * c).addingProduct(x0, s), v, j + half)
                    j += 8
                }
                while j < half {
                    rotate(v, j, j + half, cache[2 * j], cache[2 * j + 1])
                    j += 1
                }
            } else {
                var i0 = 0
                while i0 < ropeDim {
                    rotate(v, i0, i0 + 1, cache[i0], cache[i0 + 1])
                    i0 += 2
                }
            }
        }
    }

    /// Scalar twin of `rope(…cache:…)`.
    public static func rope_reference(_ x: UnsafeMutablePointer<Float>, heads: Int, headDim: Int, ropeDim: Int,
                                      cache: UnsafePointer<Float>, neox: Bool) {
        precondition(ropeDim > 0 && ropeDim % 2 == 0 && ropeDim <= headDim, "Ops.rope_reference: bad ropeDim")
        let half = ropeDim / 2
        for h in 0..<heads {
            let v = x + h * headDim
            var i0 = 0
            while i0 < ropeDim {
                if neox {
                    rotate(v, i0 / 2, i0 / 2 + half, cache[i0], cache[i0 + 1])
                } else {
                    rotate(v, i0, i0 + 1, cache[i0], cache[i0 + 1])
                }
                i0 += 2
            }
        }
    }

    /// RoPE for one position: builds the cos/sin cache on the stack and rotates all heads in place.
    ///
    /// - Parameters:
    ///   - x: (heads, headDim) floats, rotated in place.
    ///   - ropeDim: rotated dimensions per head (≤ headDim, even); the rest are left unchanged.
    ///   - neox: true for NEOX ordering (pairs i, i + ropeDim/2: Qwen, Gemma, GPT-NeoX); false for NORM
    ///     (pairs 2i, 2i+1: Llama/SmolLM GGUFs, whose Q/K weights are permuted for it).
    /// - Complexity: O(ropeDim) libm calls + O(heads · ropeDim); no heap allocation.
    public static func rope(_ x: UnsafeMutablePointer<Float>, heads: Int, headDim: Int, ropeDim: Int, position: Int,
                            freqBase: Float, neox: Bool, freqScale: Float = 1,
                            freqFactors: UnsafePointer<Float>? = nil) {
        withUnsafeTemporaryAllocation(of: Float.self, capacity: ropeDim) { buf in
            let cache = buf.baseAddress!
            ropeCache(position: position, ropeDim: ropeDim, freqBase: freqBase, freqScale: freqScale,
                      freqFactors: freqFactors, into: cache)
            rope(x, heads: heads, headDim: headDim, ropeDim: ropeDim, cache: cache, neox: neox)
        }
    }

    /// Scalar twin of `rope(…position:…)`.
    public static func rope_reference(_ x: UnsafeMutablePointer<Float>, heads: Int, headDim: Int, ropeDim: Int,
                                      position: Int, freqBase: Float, neox: Bool, freqScale: Float = 1,
                                      freqFactors: UnsafePointer<Float>? = nil) {
        var cache = [Float](repeating: 0, count: ropeDim)
        cache.withUnsafeMutableBufferPointer { buf in
            ropeCache(position: position, ropeDim: ropeDim, freqBase: freqBase, freqScale: freqScale,
                      freqFactors: freqFactors, into: buf.baseAddress!)
            rope_reference(x, heads: heads, headDim: headDim, ropeDim: ropeDim, cache: buf.baseAddress!, neox: neox)
        }
    }

    @inline(__always)
    static func rotate(_ v: UnsafeMutablePointer<Float>, _ a: Int, _ b: Int, _ cosT: Float, _ sinT: Float) {
        // gcc (fp-contract=fast) compiles ggml's `x0*cos - x1*sin` / `x0*sin + x1*cos` to fused multiply-adds
        // of the first product; doing the same keeps RoPE bit-identical with llama.cpp's CPU backend.
        let x0 = v[a], x1 = v[b]
        v[a] = (-(x1 * sinT)).addingProduct(x0, cosT)
        v[b] = (x1 * cosT).addingProduct(x0, sinT)
    }
}
