// The int8 block sums of every quantized format on x86-64 through Clang's AVX2 intrinsics (imported into Swift;
// LLVM never forms `vpmaddubsw` from Swift SIMD code): ggml's `mul_sum_i8_pairs_float` / `mul_sum_us8_pairs_float`
// (`vpmaddubsw`, then `vpmaddwd` with ones or with the sub-block scales), so lane k holds elements 4k…4k+3 of a
// 32-element group — the same integers as the portable Swift SIMD steps (`*_portable`, the twin on other CPUs
// and in tests) and as ggml. Everything here is exact integer arithmetic; the float steps stay in the callers.
//
// Macro intrinsics with immediates (`_mm256_extracti128_si256`, `_mm256_shuffle_epi32`, `_mm_prefetch`) are not
// importable: halves are taken through Swift SIMD views (`unsafeBitCast`), scales broadcast with `vpshufb`.

#if arch(x86_64)
import _Builtin_intrinsics.intel

enum AVX2Lanes {
    /// Σ of 4 consecutive products per lane of 32 signed weight bytes `qx` and 32 activation bytes at `y`.
    @inline(__always)
    static func signedDot(_ qx: __m256i, _ y: UnsafeRawPointer) -> SIMD8<Int32> {
        let qy = y.loadUnaligned(as: __m256i.self)
        let sums = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_sign_epi8(qx, qx), _mm256_sign_epi8(qy, qx)),
                                     _mm256_set1_epi16(1))
        return unsafeBitCast(sums, to: SIMD8<Int32>.self)
    }

    /// Σ of 4 consecutive products per lane of 32 unsigned weight bytes `ux` (≤ 127) and 32 signed bytes `sy`.
    @inline(__always)
    static func unsignedDot(_ ux: __m256i, _ sy: __m256i) -> SIMD8<Int32> {
        unsafeBitCast(_mm256_madd_epi16(_mm256_maddubs_epi16(ux, sy), _mm256_set1_epi16(1)), to: SIMD8<Int32>.self)
    }

    /// ggml `bytes_from_nibbles_32`: low nibbles of 16 bytes, then their high nibbles.
    @inline(__always)
    static func nibbles(_ p: UnsafeRawPointer) -> __m256i {
        let tmp = p.loadUnaligned(as: __m128i.self)
        return _mm256_and_si256(_mm256_set1_epi8(0x0F), _mm256_set_m128i(_mm_srli_epi16(tmp, 4), tmp))
    }

    /// ggml `bytes_from_bits_32`: byte i is 0xFF when bit i of the 32-bit word is set.
    @inline(__always)
    static func bits(_ p: UnsafeRawPointer) -> __m256i {
        let x32 = p.loadUnaligned(as: Int32.self)
        let shuffle = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0)
        let bytes = _mm256_or_si256(_mm256_shuffle_epi8(_mm256_set1_epi32(x32), shuffle),
                                    _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe))
        return _mm256_cmpeq_epi8(bytes, _mm256_set1_epi64x(-1))
    }

    /// Q8_0 block: 32 signed weight bytes at `w`.
    @inline(__always)
    static func q8_0(_ w: UnsafeRawPointer, _ y: UnsafeRawPointer) -> SIMD8<Int32> {
        signedDot(w.loadUnaligned(as: __m256i.self), y)
    }

    /// Q4_0 quants as 32 signed bytes: nibbles − 8.
    @inline(__always)
    static func q4_0Bytes(_ qs: UnsafeRawPointer) -> __m256i {
        _mm256_sub_epi8(nibbles(qs), _mm256_set1_epi8(8))
    }

    /// Q4_0 block: nibbles − 8.
    @inline(__always)
    static func q4_0(_ qs: UnsafeRawPointer, _ y: UnsafeRawPointer) -> SIMD8<Int32> {
        signedDot(q4_0Bytes(qs), y)
    }

    /// Q4_1 block: unsigned nibbles (0…15) at `qs` times the 32 activation bytes at `y` (ggml's
    /// `mul_sum_us8_pairs_float` integer part).
    @inline(__always)
    static func q4_1(_ qs: UnsafeRawPointer, _ y: UnsafeRawPointer) -> SIMD8<Int32> {
        unsignedDot(nibbles(qs), y.loadUnaligned(as: __m256i.self))
    }

    /// Q5_0 quants as 32 signed bytes: (nibble | fifth bit << 4) − 16, as ggml builds them (bytes without the
    /// bit get 0xF0 or'ed in).
    @inline(__always)
    static func q5_0Bytes(_ qh: UnsafeRawPointer, _ qs: UnsafeRawPointer) -> __m256i {
        _mm256_or_si256(nibbles(qs), _mm256_andnot_si256(bits(qh), _mm256_set1_epi8(-16)))
    }

    /// Q5_0 block.
    @inline(__always)
    static func q5_0(_ qh: UnsafeRawPointer, _ qs: UnsafeRawPointer, _ y: UnsafeRawPointer) -> SIMD8<Int32> {
        signedDot(q5_0Bytes(qh, qs), y)
    }

    // MARK: K-quants (256-element super-blocks against Q8_K: `d f32 | qs i8[256] | bsums i16[16]`)

    /// The 6-bit scales and mins of a Q4_K/Q5_K block (12 bytes at `q`, ggml's `utmp` unpacking) as 16 Int16
    /// lanes: scales of sub-blocks 0…7, then mins 0…7.
    @inline(__always)
    static func kScalesMins(_ q: UnsafeRawPointer) -> __m256i {
        let kmask1: UInt32 = 0x3f3f_3f3f, kmask2: UInt32 = 0x0f0f_0f0f, kmask3: UInt32 = 0x0303_0303
        let a0 = q.loadUnaligned(as: UInt32.self), a1 = q.loadUnaligned(fromByteOffset: 4, as: UInt32.self)
        let a2 = q.loadUnaligned(fromByteOffset: 8, as: UInt32.self)
        let u = SIMD4<UInt32>(a0 & kmask1, (a2 & kmask2) | (((a0 >> 6) & kmask3) << 4),
                              a1 & kmask1, ((a2 >> 4) & kmask2) | (((a1 >> 6) & kmask3) << 4))
        return _mm256_cvtepu8_epi16(unsafeBitCast(u, to: __m128i.self))
    }

    /// Lane i of `v` (16-bit lanes 0…7 of a vector whose 128-bit halves are equal) in all 16 lanes (`vpshufb`).
    @inline(__always)
    static func broadcast16(_ v: __m256i, _ i: Int) -> __m256i {
        _mm256_shuffle_epi8(v, _mm256_set1_epi16(Int16(2 * i) | Int16(2 * i + 1) << 8))
    }

    /// ggml's Q4_K mins lanes: t = 0…3 holds m_{2t}·(b_{4t} + b_{4t+1}) + m_{2t+1}·(b_{4t+2} + b_{4t+3}) over the
    /// 16 group sums b at `bsums` (`_mm_hadd_epi16`, then `_mm_madd_epi16` with the mins).
    @inline(__always)
    static func kMinsLanes(_ scalesMins: __m256i, _ bsums: UnsafeRawPointer) -> SIMD4<Int32> {
        let q8s = _mm_hadd_epi16(bsums.loadUnaligned(as: __m128i.self), bsums.loadUnaligned(fromByteOffset: 16, as: __m128i.self))
        let mins = unsafeBitCast(unsafeBitCast(scalesMins, to: SIMD16<Int16>.self).highHalf, to: __m128i.self)
        return unsafeBitCast(_mm_madd_epi16(mins, q8s), to: SIMD4<Int32>.self)
    }

    /// The four sub-block pairs of a Q4_K · Q8_K super-block: pair j (elements 64j…64j+63) as
    /// sc_{2j}·(lanes of the low nibbles) + sc_{2j+1}·(lanes of the high nibbles), ggml's `p16l`/`p16h` sum,
    /// plus the mins lanes (``kMinsLanes(_:_:)``). `w` is the 144-byte block, `x` the 292-byte Q8_K block.
    @inline(__always)
    static func q4KPairs(_ w: UnsafeRawPointer, _ x: UnsafeRawPointer)
        -> (p0: SIMD8<Int32>, p1: SIMD8<Int32>, p2: SIMD8<Int32>, p3: SIMD8<Int32>, mins: SIMD4<Int32>) {
        let sm = kScalesMins(w + 4)
        let sc128 = unsafeBitCast(unsafeBitCast(sm, to: SIMD16<Int16>.self).lowHalf, to: __m128i.self)
        let scales = _mm256_broadcastsi128_si256(sc128)
        let m4 = _mm256_set1_epi8(0x0F)
        @inline(__always) func pair(_ j: Int) -> SIMD8<Int32> {
            let bits = w.loadUnaligned(fromByteOffset: 16 + 32 * j, as: __m256i.self)
            let y = x + 4 + 64 * j
            let lo = _mm256_maddubs_epi16(_mm256_and_si256(bits, m4), y.loadUnaligned(as: __m256i.self))
            let hi = _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(bits, 4), m4),
                                          y.loadUnaligned(fromByteOffset: 32, as: __m256i.self))
            let sum = _mm256_add_epi32(_mm256_madd_epi16(broadcast16(scales, 2 * j), lo),
                                       _mm256_madd_epi16(broadcast16(scales, 2 * j + 1), hi))
            return unsafeBitCast(sum, to: SIMD8<Int32>.self)
        }
        return (pair(0), pair(1), pair(2), pair(3), kMinsLanes(sm, x + 260))
    }

    /// Q6_K · Q8_K super-block in ggml's AVX2 lanes: per 32-element group the unsigned 6-bit q·y (four elements
    /// per lane) times the group's two 16-element scales (lanes 0…3 and 4…7), minus 32·Σ scale·bsums per lane
    /// pair (`q8sclsub`). `w` is the 210-byte block (`ql[128] | qh[64] | scales i8[16] | d`).
    @inline(__always)
    static func q6K(_ w: UnsafeRawPointer, _ x: UnsafeRawPointer) -> SIMD8<Int32> {
        let m3 = _mm256_set1_epi8(3), m15 = _mm256_set1_epi8(15)
        let scales = w.loadUnaligned(fromByteOffset: 192, as: __m128i.self)
        let sclsub = _mm256_slli_epi32(_mm256_madd_epi16(x.loadUnaligned(fromByteOffset: 260, as: __m256i.self),
                                                         _mm256_cvtepi8_epi16(scales)), 5)
        var sumi = _mm256_setzero_si256()
        for n in 0..<2 {
            let ql1 = w.loadUnaligned(fromByteOffset: 64 * n, as: __m256i.self)
            let ql2 = w.loadUnaligned(fromByteOffset: 64 * n + 32, as: __m256i.self)
            let qh = w.loadUnaligned(fromByteOffset: 128 + 32 * n, as: __m256i.self)
            let h0 = _mm256_slli_epi16(_mm256_and_si256(qh, m3), 4)
            let h1 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), m3), 4)
            let h2 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), m3), 4)
            let h3 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), m3), 4)
            let q0 = _mm256_or_si256(_mm256_and_si256(ql1, m15), h0)
            let q1 = _mm256_or_si256(_mm256_and_si256(ql2, m15), h1)
            let q2 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), m15), h2)
            let q3 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql2, 4), m15), h3)
            // The 8 scales of this half as Int16 in both 128-bit halves; group t takes scales 2t (lanes 0…7 of
            // the product vector) and 2t + 1 (lanes 8…15).
            let s16 = _mm256_broadcastsi128_si256(_mm_cvtepi8_epi16(
                w.loadUnaligned(fromByteOffset: 192 + 8 * n, as: __m128i.self)))
            let y = x + 4 + 128 * n
            @inline(__always) func group(_ t: Int, _ q: __m256i) -> __m256i {
                let scale = _mm256_shuffle_epi8(s16, _mm256_set_m128i(_mm_set1_epi16(Int16(4 * t + 2) | Int16(4 * t + 3) << 8),
                                                                      _mm_set1_epi16(Int16(4 * t) | Int16(4 * t + 1) << 8)))
                return _mm256_madd_epi16(scale, _mm256_maddubs_epi16(q, y.loadUnaligned(fromByteOffset: 32 * t, as: __m256i.self)))
            }
            sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(group(0, q0), group(1, q1)))
            sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(group(2, q2), group(3, q3)))
        }
        return unsafeBitCast(_mm256_sub_epi32(sumi, sclsub), to: SIMD8<Int32>.self)
    }
}
#endif
