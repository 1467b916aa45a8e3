// Block layouts of the ggml quantization formats, documented in ONE place.
// Source of truth: ggml/src/ggml-common.h (block_q4_0 … block_q8_K). Every multi-byte field is little-endian
// and blocks are packed back to back with no padding, so a row of `n` elements of a block type is
// `n / elements` blocks of `size` bytes. Fields are read with `UnsafeRawPointer.loadUnaligned`.
//
// Notation: `f16` = IEEE binary16 bit pattern (UInt16), `u8`/`i8` = bytes, `[k]` = array of k.
// "qs nibble order" for the 32-element formats: byte j holds element j in its low nibble and element j+16
// in its high nibble (NOT j*2, j*2+1).

/// Block-size constants shared by every kernel.
public enum BlockSize {
    /// Elements per block of the "legacy" formats Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1 (ggml `QK4_0` … `QK8_1`).
    public static let QK = 32
    /// Elements per super-block of the K-quants Q2_K … Q8_K (ggml `QK_K`).
    public static let QK_K = 256
    /// Bytes of the packed 6-bit scales/mins of Q4_K and Q5_K (ggml `K_SCALE_SIZE`).
    public static let kScaleSize = 12
}

/// `block_q4_0` — 32 weights, 4.5 bits each.
///
/// | offset | field     | type    | meaning                                              |
/// |--------|-----------|---------|------------------------------------------------------|
/// | 0      | d         | f16     | scale                                                |
/// | 2      | qs        | u8[16]  | nibbles; element j = low(qs[j]), j+16 = high(qs[j])  |
///
/// Value: `x = (q - 8) * d`, q ∈ 0…15.
public enum BlockQ4_0 {
    public static let elements = 32
    public static let size = 18
    public static let d = 0
    public static let qs = 2
}

/// `block_q4_1` — 32 weights, 5 bits each.
///
/// | offset | field | type   | meaning                     |
/// |--------|-------|--------|-----------------------------|
/// | 0      | d     | f16    | scale                       |
/// | 2      | m     | f16    | minimum                     |
/// | 4      | qs    | u8[16] | nibbles (j low, j+16 high)  |
///
/// Value: `x = q * d + m`, q ∈ 0…15.
public enum BlockQ4_1 {
    public static let elements = 32
    public static let size = 20
    public static let d = 0
    public static let m = 2
    public static let qs = 4
}

/// `block_q5_0` — 32 weights, 5.5 bits each.
///
/// | offset | field | type   | meaning                                                  |
/// |--------|-------|--------|----------------------------------------------------------|
/// | 0      | d     | f16    | scale                                                    |
/// | 2      | qh    | u8[4]  | 5th bits as a little-endian UInt32: bit j → element j    |
/// | 6      | qs    | u8[16] | low 4 bits (j low nibble, j+16 high nibble)              |
///
/// Value: `x = (q - 16) * d`, q = low4 | (bit << 4) ∈ 0…31.
public enum BlockQ5_0 {
    public static let elements = 32
    public static let size = 22
    public static let d = 0
    public static let qh = 2
    public static let qs = 6
}

/// `block_q5_1` — 32 weights, 6 bits each.
///
/// | offset | field | type   | meaning                                       |
/// |--------|-------|--------|-----------------------------------------------|
/// | 0      | d     | f16    | scale                                         |
/// | 2      | m     | f16    | minimum                                       |
/// | 4      | qh    | u8[4]  | 5th bits, little-endian UInt32, bit j → j     |
/// | 8      | qs    | u8[16] | low 4 bits (j low nibble, j+16 high nibble)   |
///
/// Value: `x = q * d + m`, q ∈ 0…31.
public enum BlockQ5_1 {
    public static let elements = 32
    public static let size = 24
    public static let d = 0
    public static let m = 2
    public static let qh = 4
    public static let qs = 8
}

/// `block_q8_0` — 32 weights or activations, 8.5 bits each.
///
/// | offset | field | type   | meaning       |
/// |--------|-------|--------|---------------|
/// | 0      | d     | f16    | scale         |
/// | 2      | qs    | i8[32] | element j     |
///
/// Value: `x = q * d`.
public enum BlockQ8_0 {
    public static let elements = 32
    public static let size = 34
    public static let d = 0
    public static let qs = 2
}

/// `block_q8_1` — 32 activations (the vec-dot partner of Q4_1/Q5_1), 9 bits each.
///
/// | offset | field | type   | meaning                               |
/// |--------|-------|--------|---------------------------------------|
/// | 0      | d     | f16    | scale                                 |
/// | 2      | s     | f16    | d * Σ qs (precomputed for the minimum) |
/// | 4      | qs    | i8[32] | element j                             |
public enum BlockQ8_1 {
    public static let elements = 32
    public static let size = 36
    public static let d = 0
    public static let s = 2
    public static let qs = 4
}

/// `block_q2_K` — 256 weights in 16 sub-blocks of 16, 2.625 bits each.
///
/// | offset | field  | type   | meaning                                                              |
/// |--------|--------|--------|----------------------------------------------------------------------|
/// | 0      | scales | u8[16] | per sub-block: low nibble = scale, high nibble = min                 |
/// | 16     | qs     | u8[64] | 2-bit quants; 128-element half h uses qs[32h..<32h+32], shift 2·j    |
/// | 80     | d      | f16    | super-block scale for the scales                                     |
/// | 82     | dmin   | f16    | super-block scale for the mins                                       |
///
/// Value: `x = (d * sc) * q - (dmin * m)`.
public enum BlockQ2_K {
    public static let elements = 256
    public static let size = 84
    public static let scales = 0
    public static let qs = 16
    public static let d = 80
    public static let dmin = 82
}

/// `block_q3_K` — 256 weights in 16 sub-blocks of 16, 3.4375 bits each.
///
/// | offset | field  | type   | meaning                                                            |
/// |--------|--------|--------|--------------------------------------------------------------------|
/// | 0      | hmask  | u8[32] | high bit (set = no −4 offset); bit b of hmask[l] → group b         |
/// | 32     | qs     | u8[64] | low 2 bits, same arrangement as Q2_K                               |
/// | 96     | scales | u8[12] | sixteen 6-bit scales, stored with +32 bias (see Dequantize.q3_K)   |
/// | 108    | d      | f16    | super-block scale                                                  |
///
/// Value: `x = (d * (sc - 32)) * (q2 - (hbit ? 0 : 4))`.
public enum BlockQ3_K {
    public static let elements = 256
    public static let size = 110
    public static let hmask = 0
    public static let qs = 32
    public static let scales = 96
    public static let d = 108
}

/// `block_q4_K` — 256 weights in 8 sub-blocks of 32, 4.5 bits each.
///
/// | offset | field  | type    | meaning                                                           |
/// |--------|--------|---------|-------------------------------------------------------------------|
/// | 0      | d      | f16     | super-block scale for the scales                                  |
/// | 2      | dmin   | f16     | super-block scale for the mins                                    |
/// | 4      | scales | u8[12]  | eight 6-bit scales + eight 6-bit mins (`get_scale_min_k4`)        |
/// | 16     | qs     | u8[128] | nibbles; 64-element chunk c uses qs[32c..<32c+32]: low, then high |
///
/// Value: `x = (d * sc) * q - (dmin * m)`.
public enum BlockQ4_K {
    public static let elements = 256
    public static let size = 144
    public static let d = 0
    public static let dmin = 2
    public static let scales = 4
    public static let qs = 16
}

/// `block_q5_K` — 256 weights in 8 sub-blocks of 32, 5.5 bits each.
///
/// | offset | field  | type    | meaning                                                  |
/// |--------|--------|---------|----------------------------------------------------------|
/// | 0      | d      | f16     | super-block scale for the scales                         |
/// | 2      | dmin   | f16     | super-block scale for the mins                           |
/// | 4      | scales | u8[12]  | as Q4_K                                                  |
/// | 16     | qh     | u8[32]  | 5th bits: bit s of qh[l] → sub-block s, element l        |
/// | 48     | qs     | u8[128] | low nibbles, as Q4_K                                     |
///
/// Value: `x = (d * sc) * q - (dmin * m)`, q ∈ 0…31.
public enum BlockQ5_K {
    public static let elements = 256
    public static let size = 176
    public static let d = 0
    public static let dmin = 2
    public static let scales = 4
    public static let qh = 16
    public static let qs = 48
}

/// `block_q6_K` — 256 weights in 16 sub-blocks of 16, 6.5625 bits each.
///
/// | offset | field  | type    | meaning                                                 |
/// |--------|--------|---------|---------------------------------------------------------|
/// | 0      | ql     | u8[128] | low 4 bits                                              |
/// | 128    | qh     | u8[64]  | high 2 bits                                             |
/// | 192    | scales | i8[16]  | signed 8-bit sub-block scales                           |
/// | 208    | d      | f16     | super-block scale                                       |
///
/// Value: `x = (d * sc) * (q - 32)`, q ∈ 0…63.
public enum BlockQ6_K {
    public static let elements = 256
    public static let size = 210
    public static let ql = 0
    public static let qh = 128
    public static let scales = 192
    public static let d = 208
}

/// `block_q8_K` — 256 activations (the vec-dot partner of every K-quant).
///
/// | offset | field | type     | meaning                           |
/// |--------|-------|----------|-----------------------------------|
/// | 0      | d     | f32      | scale (a full float, not f16)     |
/// | 4      | qs    | i8[256]  | element j                         |
/// | 260    | bsums | i16[16]  | sum of qs in each group of 16     |
public enum BlockQ8_K {
    public static let elements = 256
    public static let size = 292
    public static let d = 0
    public static let qs = 4
    public static let bsums = 260
}

/// IEEE binary16: 1 element, 2 bytes. Converted exactly with `Float(Float16(bitPattern:))`.
public enum BlockF16 {
    public static let elements = 1
    public static let size = 2
}

/// bfloat16 (the top 16 bits of a binary32): 1 element, 2 bytes. `Float(bitPattern: UInt32(b) << 16)`.
public enum BlockBF16 {
    public static let elements = 1
    public static let size = 2
}

/// IEEE binary32: 1 element, 4 bytes.
public enum BlockF32 {
    public static let elements = 1
    public static let size = 4
}
