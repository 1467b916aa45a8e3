// The int8 block sums of the 32-element formats on x86-64 through Clang's AVX2 intrinsics (imported into Swift;
// LLVM never forms `vpmaddubsw` from Swift SIMD code): ggml's `mul_sum_i8_pairs_float` — sign trick,
// `vpmaddubsw`, `vpmaddwd` with ones — so lane k holds elements 4k…4k+3, the same integers as the portable
// Swift SIMD steps (`BlockLanes.*_portable`, the twin on other CPUs and in tests) and as ggml.

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

    /// Q4_0 block: nibbles − 8.
    @inline(__always)
    static func q4_0(_ qs: UnsafeRawPointer, _ y: UnsafeRawPointer) -> SIMD8<Int32> {
        signedDot(_mm256_sub_epi8(nibbles(qs), _mm256_set1_epi8(8)), y)
    }

    /// Q5_0 block: (nibble | fifth bit << 4) − 16, as ggml builds it (bytes without the bit get 0xF0 or'ed in).
    @inline(__always)
    static func q5_0(_ qh: UnsafeRawPointer, _ qs: UnsafeRawPointer, _ y: UnsafeRawPointer) -> SIMD8<Int32> {
        let high = _mm256_andnot_si256(bits(qh), _mm256_set1_epi8(-16))
        return signedDot(_mm256_or_si256(nibbles(qs), high), y)
    }
}
#endif
