// Activation quantizers: the formats llama.cpp converts activations to before an integer dot product.
//
// They reproduce what an AVX2 build of llama.cpp computes (ggml/src/ggml-cpu/arch/x86/quants.c), which is
// what the reference logits came from — NOT ggml's portable `quantize_row_q8_{0,1}_ref`, which differs:
//
// | step        | AVX2 build (what we do)                          | `_ref` C (not used)               |
// |-------------|--------------------------------------------------|-----------------------------------|
// | d           | amax / 127, stored as f16 (round to nearest even) | same                              |
// | multiplier  | id = amax != 0 ? 127 / amax : 0                  | id = d != 0 ? 1 / d : 0           |
// | rounding    | round half to even (`_mm256_round_ps`, NEAREST)   | `roundf` (half away from zero)     |
// | Q8_1 s      | f16(d · Σ qs) (Σ exact in Int32, then to float)  | f16(Σ qs · d)                     |
//
// Q8_K has no AVX2 quantizer in ggml-cpu on x86: `quantize_row_q8_K` calls `quantize_row_q8_K_ref`:
// the value of largest magnitude `max` (first one on ties), iscale = −127/max, q = min(127, nearest_int(
// iscale·x)) with nearest_int = round half to even, d = 1/iscale stored as f32, bsums = Σ of each 16 qs.
//
// Layouts (little-endian, packed): Q8_0 `d f16 | qs i8[32]` (34 B), Q8_1 `d f16 | s f16 | qs i8[32]` (36 B),
// Q8_K `d f32 | qs i8[256] | bsums i16[16]` (292 B).

#if arch(x86_64)
import _Builtin_intrinsics.intel
#endif

/// Row quantizers (Float32 → ggml block formats).
///
/// Activation formats (`q8_0`, `q8_1`, `q8_K`) are defined here; the weight formats (`q4_0`, `q4_1`, `q5_0`,
/// `q5_1`) live in Formats/. Every quantizer takes `count` elements, a multiple of the block size
/// (precondition), and writes `count / blockSize` whole blocks to `y` (no alignment needed).
public enum Quantize {}

extension Quantize {
    /// Q8_0 activations (32-element blocks, 34 bytes each), bit-exact with llama.cpp's AVX2 `quantize_row_q8_0`.
    /// - Complexity: O(count), no allocation.
    public static func q8_0(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, count: Int) {
        precondition(count % 32 == 0, "Quantize.q8_0: count must be a multiple of 32")
        for b in 0..<count / 32 {
            let (d, id) = blockScale(x + 32 * b)
            _ = q8Block(x + 32 * b, id, y + 34 * b + 2)
            storeHalf(d, y + 34 * b)
        }
    }

    /// Q8_1 activations (32-element blocks, 36 bytes each), bit-exact with llama.cpp's AVX2 `quantize_row_q8_1`.
    /// - Complexity: O(count), no allocation.
    public static func q8_1(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, count: Int) {
        precondition(count % 32 == 0, "Quantize.q8_1: count must be a multiple of 32")
        for b in 0..<count / 32 {
            let (d, id) = blockScale(x + 32 * b)
            let sum = q8Block(x + 32 * b, id, y + 36 * b + 4)
            storeHalf(d, y + 36 * b)
            storeHalf(d * Float(sum), y + 36 * b + 2)
        }
    }

    /// Q8_K activations (256-element blocks, 292 bytes each), bit-exact with ggml's `quantize_row_q8_K_ref`
    /// (which is what x86 builds call).
    /// - Complexity: O(count), no allocation.
    public static func q8_K(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, count: Int) {
        precondition(count % 256 == 0, "Quantize.q8_K: count must be a multiple of 256")
        #if arch(x86_64)
        q8_K_avx2(x, y, count: count)
        #else
        q8_K_portable(x, y, count: count)
        #endif
    }

    /// ``q8_K(_:_:count:)`` in portable Swift SIMD (the path on other CPUs; tested against the AVX2 one).
    static func q8_K_portable(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, count: Int) {
        for b in 0..<count / 256 {
            let xb = x + 256 * b, yb = y + 292 * b
            var m8 = SIMD8<Float>()
            for k in 0..<32 { m8 = max8(m8, abs8(load8(xb + 8 * k))) }
            let amax = hmax(m8)
            if amax == 0 {
                yb.storeBytes(of: Float(0), as: Float.self)
                (yb + 4).initializeMemory(as: UInt8.self, repeating: 0, count: 288)
                continue
            }
            var first = 0
            while abs(xb[first]) != amax { first += 1 }  // the first element of largest magnitude (ggml `>`)
            let iscale = -127 / xb[first]
            let s = SIMD8<Float>(repeating: iscale)
            let cap = SIMD8<Int32>(repeating: 127)
            for g in 0..<16 {
                var sum = SIMD8<Int32>()
                for half in 0..<2 {
                    let k = 2 * g + half
                    let q = pointwiseMin(toInt32((load8(xb + 8 * k) * s).rounded(.toNearestOrEven)), cap)
                    sum &+= q
                    storeInt8(q, yb + 4 + 8 * k)
                }
                yb.storeBytes(of: Int16(sum.wrappedSum()), toByteOffset: 260 + 2 * g, as: Int16.self)
            }
            yb.storeBytes(of: 1 / iscale, as: Float.self)
        }
    }

    // MARK: - Scalar twins

    /// Scalar twin of `q8_0` (same results, element by element).
    public static func q8_0_reference(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, count: Int) {
        for b in 0..<count / 32 {
            let (d, id) = blockScale_reference(x + 32 * b)
            storeHalf(d, y + 34 * b)
            for j in 0..<32 {
                let q = Int8((x[32 * b + j] * id).rounded(.toNearestOrEven))
                y.storeBytes(of: q, toByteOffset: 34 * b + 2 + j, as: Int8.self)
            }
        }
    }

    /// Scalar twin of `q8_1`.
    public static func q8_1_reference(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, count: Int) {
        for b in 0..<count / 32 {
            let (d, id) = blockScale_reference(x + 32 * b)
            var sum = 0
            for j in 0..<32 {
                let q = Int8((x[32 * b + j] * id).rounded(.toNearestOrEven))
                sum += Int(q)
                y.storeBytes(of: q, toByteOffset: 36 * b + 4 + j, as: Int8.self)
            }
            storeHalf(d, y + 36 * b)
            storeHalf(d * Float(sum), y + 36 * b + 2)
        }
    }

    /// Scalar twin of `q8_K` (ggml `quantize_row_q8_K_ref` line by line).
    public static func q8_K_reference(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, count: Int) {
        for b in 0..<count / 256 {
            let xb = x + 256 * b, yb = y + 292 * b
            var amax: Float = 0, max: Float = 0
            for j in 0..<256 where abs(xb[j]) > amax {
                amax = abs(xb[j])
                max = xb[j]
            }
            if amax == 0 {
                yb.storeBytes(of: Float(0), as: Float.self)
                for j in 0..<288 { yb.storeBytes(of: UInt8(0), toByteOffset: 4 + j, as: UInt8.self) }
                continue
            }
            let iscale = -127 / max
            for g in 0..<16 {
                var sum = 0
                for l in 0..<16 {
                    let v = Swift.min(127, Int((iscale * xb[16 * g + l]).rounded(.toNearestOrEven)))
                    sum += v
                    yb.storeBytes(of: Int8(v), toByteOffset: 4 + 16 * g + l, as: Int8.self)
                }
                yb.storeBytes(of: Int16(sum), toByteOffset: 260 + 2 * g, as: Int16.self)
            }
            yb.storeBytes(of: 1 / iscale, as: Float.self)
        }
    }

    // MARK: - Helpers

    @inline(__always)
    static func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
    }

    /// Lane-wise maximum (vmaxps); the stdlib's `pointwiseMax` is an unspecialised call here.
    @inline(__always)
    static func max8(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> {
        a.replacing(with: b, where: b .> a)
    }

    /// Largest lane (the stdlib's `max()` is an unspecialised call here).
    @inline(__always)
    static func hmax(_ v: SIMD8<Float>) -> Float {
        let q = v.lowHalf.replacing(with: v.highHalf, where: v.highHalf .> v.lowHalf)
        let p = q.lowHalf.replacing(with: q.highHalf, where: q.highHalf .> q.lowHalf)
        return p[1] > p[0] ? p[1] : p[0]
    }

    @inline(__always)
    static func abs8(_ v: SIMD8<Float>) -> SIMD8<Float> {
        unsafeBitCast(unsafeBitCast(v, to: SIMD8<UInt32>.self) & SIMD8<UInt32>(repeating: 0x7FFF_FFFF),
                      to: SIMD8<Float>.self)
    }

    @inline(__always)
    static func toInt32(_ v: SIMD8<Float>) -> SIMD8<Int32> {
        var r = SIMD8<Int32>()
        for i in 0..<8 { r[i] = Int32(v[i]) }
        return r
    }

    @inline(__always)
    static func storeInt8(_ v: SIMD8<Int32>, _ p: UnsafeMutableRawPointer) {
        var r = SIMD8<Int8>()
        for i in 0..<8 { r[i] = Int8(truncatingIfNeeded: v[i]) }
        p.storeBytes(of: r, as: SIMD8<Int8>.self)
    }

    @inline(__always)
    static func storeHalf(_ v: Float, _ p: UnsafeMutableRawPointer) {
        p.storeBytes(of: Float16(v).bitPattern, as: UInt16.self)
    }

    /// (d, id) of a 32-element block the AVX2 way: amax over |x|, d = amax/127, id = 127/amax (0 if amax = 0).
    @inline(__always)
    static func blockScale(_ x: UnsafePointer<Float>) -> (d: Float, id: Float) {
        let m = max8(max8(abs8(load8(x)), abs8(load8(x + 8))), max8(abs8(load8(x + 16)), abs8(load8(x + 24))))
        let amax = hmax(m)
        return (amax / 127, amax != 0 ? 127 / amax : 0)
    }

    static func blockScale_reference(_ x: UnsafePointer<Float>) -> (d: Float, id: Float) {
        var amax: Float = 0
        for j in 0..<32 { amax = Swift.max(amax, abs(x[j])) }
        return (amax / 127, amax != 0 ? 127 / amax : 0)
    }

    /// Quantizes 32 floats to Int8 at `q` with the block's multiplier; returns Σ q (exact).
    @inline(__always)
    static func q8Block(_ x: UnsafePointer<Float>, _ scale: Float, _ q: UnsafeMutableRawPointer) -> Int32 {
        #if arch(x86_64)
        return q8Block_avx2(x, scale, q)
        #else
        return q8Block_portable(x, scale, q)
        #endif
    }

    /// ``q8Block(_:_:_:)`` in portable Swift SIMD.
    @inline(__always)
    static func q8Block_portable(_ x: UnsafePointer<Float>, _ scale: Float, _ q: UnsafeMutableRawPointer) -> Int32 {
        let id = SIMD8<Float>(repeating: scale)
        var sum = SIMD8<Int32>()
        for k in 0..<4 {
            let v = toInt32((load8(x + 8 * k) * id).rounded(.toNearestOrEven))
            sum &+= v
            storeInt8(v, q + 8 * k)
        }
        return sum.wrappedSum()
    }
}

#if arch(x86_64)
// The quantizers' integer steps through AVX2 intrinsics, as ggml's AVX2 `quantize_row_q8_0/1`: `vcvtps2dq`
// (round half to even, the default MXCSR mode, = `_mm256_round_ps(NEAREST)` + convert), `vpackssdw`,
// `vpacksswb` and a `vpermd` to restore element order. Values never saturate (|q| ≤ 127 by construction).
extension Quantize {
    /// Eight Int32 vectors' lanes (elements 0…31 in order across `i0…i3`) as 32 Int8 in element order.
    @inline(__always)
    static func packBytes(_ i0: __m256i, _ i1: __m256i, _ i2: __m256i, _ i3: __m256i) -> __m256i {
        let bytes = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3))
        return _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7))
    }

    @inline(__always)
    static func q8Block_avx2(_ x: UnsafePointer<Float>, _ scale: Float, _ q: UnsafeMutableRawPointer) -> Int32 {
        let id = _mm256_set1_ps(scale)
        let p = UnsafeRawPointer(x)
        let i0 = _mm256_cvtps_epi32(_mm256_mul_ps(p.loadUnaligned(as: __m256.self), id))
        let i1 = _mm256_cvtps_epi32(_mm256_mul_ps(p.loadUnaligned(fromByteOffset: 32, as: __m256.self), id))
        let i2 = _mm256_cvtps_epi32(_mm256_mul_ps(p.loadUnaligned(fromByteOffset: 64, as: __m256.self), id))
        let i3 = _mm256_cvtps_epi32(_mm256_mul_ps(p.loadUnaligned(fromByteOffset: 96, as: __m256.self), id))
        q.storeBytes(of: packBytes(i0, i1, i2, i3), as: __m256i.self)
        let sum = _mm256_add_epi32(_mm256_add_epi32(i0, i1), _mm256_add_epi32(i2, i3))
        return unsafeBitCast(sum, to: SIMD8<Int32>.self).wrappedSum()
    }

    /// ``q8_K(_:_:count:)`` on x86-64: the same steps as `quantize_row_q8_K_ref` (first element of largest
    /// magnitude found with a compare mask, q = min(127, round-half-even(iscale·x)), bsums of 16), vectorised.
    static func q8_K_avx2(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, count: Int) {
        for b in 0..<count / 256 {
            let xb = x + 256 * b, yb = y + 292 * b
            var m8 = SIMD8<Float>()
            for k in 0..<32 { m8 = max8(m8, abs8(load8(xb + 8 * k))) }
            let amax = hmax(m8)
            if amax == 0 {
                yb.storeBytes(of: Float(0), as: Float.self)
                (yb + 4).initializeMemory(as: UInt8.self, repeating: 0, count: 288)
                continue
            }
            // The first element of largest magnitude (ggml `>`): first set bit of the first non-zero mask.
            var first = 0
            let target = SIMD8<Float>(repeating: amax)
            for k in 0..<32 {
                let mask = _mm256_movemask_ps(unsafeBitCast(
                    SIMD8<Int32>(repeating: 0).replacing(with: -1, where: abs8(load8(xb + 8 * k)) .== target), to: __m256.self))
                if mask != 0 {
                    first = 8 * k + Int(UInt32(bitPattern: mask).trailingZeroBitCount)
                    break
                }
            }
            let iscale = -127 / xb[first]
            let s = _mm256_set1_ps(iscale), cap = _mm256_set1_epi32(127)
            let p = UnsafeRawPointer(xb)
            @inline(__always) func quants(_ k: Int) -> __m256i {
                _mm256_min_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(p.loadUnaligned(fromByteOffset: 32 * k, as: __m256.self), s)), cap)
            }
            for half in 0..<2 {
                // 128 elements = 8 groups of 16: the group sums of both halves from two transposed reductions.
                @inline(__always) func block32(_ k: Int) -> (__m256i, __m256i) {
                    let i0 = quants(4 * k), i1 = quants(4 * k + 1), i2 = quants(4 * k + 2), i3 = quants(4 * k + 3)
                    (yb + 4 + 32 * k).storeBytes(of: packBytes(i0, i1, i2, i3), as: __m256i.self)
                    return (_mm256_add_epi32(i0, i1), _mm256_add_epi32(i2, i3))
                }
                let (g0, g1) = block32(4 * half), (g2, g3) = block32(4 * half + 1)
                let (g4, g5) = block32(4 * half + 2), (g6, g7) = block32(4 * half + 3)
                let sums = KTile.totals(g0, g1, g2, g3, g4, g5, g6, g7)
                var s16 = SIMD8<Int16>()
                for i in 0..<8 { s16[i] = Int16(truncatingIfNeeded: sums[i]) }
                (yb + 260 + 16 * half).storeBytes(of: s16, as: SIMD8<Int16>.self)
            }
            yb.storeBytes(of: 1 / iscale, as: Float.self)
        }
    }
}
#endif
