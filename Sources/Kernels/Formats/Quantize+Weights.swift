// Weight quantizers Q4_0, Q4_1, Q5_0, Q5_1: ports of ggml's quantize_row_q4_0_ref … quantize_row_q5_1_ref
// (ggml/src/ggml-quants.c), bit-exact with them and with `gguf.quants.quantize` (see FormatFixtureTests):
// - Q4_0/Q5_0: `max` is the first element of largest magnitude (sign kept); d = max / -8 (or -16);
//   id = d != 0 ? 1/d : 0; q = min(15, trunc(x·id + 8.5)) (or min(31, trunc(x·id + 16.5))).
// - Q4_1/Q5_1: min/max of the block; d = (max - min) / 15 (or 31); id as above; q = trunc((x - min)·id + 0.5),
//   clamped to 15 (31).
// - d (and m = min) are stored as fp16 rounded to nearest even (`Float16(Float)`); id uses the unrounded d.
// These are offline/test-time kernels (model conversion, fixtures), so they are scalar only.
// Q8_0 for weights is the activation quantizer `Quantize.q8_0` (Quantize+Activations.swift).

extension Quantize {
    /// C's `(int8_t)v` clamped to `0…hi` as ggml's `MIN(hi, (int8_t)(v))` for the reachable range v ≥ 0;
    /// NaN and negative values give 0 instead of undefined behaviour.
    @inline(__always)
    static func truncClamp(_ v: Float, _ hi: UInt8) -> UInt8 {
        v >= Float(hi) ? hi : (v > 0 ? UInt8(v) : 0)
    }

    @inline(__always)
    static func storeF16(_ v: Float, _ p: UnsafeMutableRawPointer, _ offset: Int) {
        p.storeBytes(of: Float16(v).bitPattern, toByteOffset: offset, as: UInt16.self)
    }

    /// The element of largest magnitude, first one on ties (ggml: `if (amax < fabsf(v)) { amax = …; max = v; }`).
    @inline(__always)
    static func signedAbsMax(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
        var amax: Float = 0, maxValue: Float = 0
        for j in 0..<n where amax < abs(x[j]) {
            amax = abs(x[j])
            maxValue = x[j]
        }
        return maxValue
    }

    /// (min, max) of a block, starting from (FLT_MAX, -FLT_MAX) as ggml does.
    @inline(__always)
    static func minMax(_ x: UnsafePointer<Float>, _ n: Int) -> (Float, Float) {
        var lo = Float.greatestFiniteMagnitude, hi = -Float.greatestFiniteMagnitude
        for j in 0..<n {
            if x[j] < lo { lo = x[j] }
            if x[j] > hi { hi = x[j] }
        }
        return (lo, hi)
    }

    /// Quantizes `count` floats (a multiple of 32) to Q4_0 blocks (18 bytes each) at `y`; ggml reference rounding.
    /// - Complexity: O(count); no allocation.
    public static func q4_0(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, count: Int) {
        precondition(count >= 0 && count % 32 == 0, "Quantize.q4_0: count must be a multiple of 32")
        for i in 0..<(count / 32) {
            let xb = x + 32 * i
            let b = y + BlockQ4_0.size * i
            let d = signedAbsMax(xb, 32) / -8
            let id: Float = d != 0 ? 1 / d : 0
            storeF16(d, b, BlockQ4_0.d)
            for j in 0..<16 {
                let q0 = truncClamp(xb[j] * id + 8.5, 15)
                let q1 = truncClamp(xb[16 + j] * id + 8.5, 15)
                b.storeBytes(of: q0 | (q1 << 4), toByteOffset: BlockQ4_0.qs + j, as: UInt8.self)
            }
        }
    }

    /// Quantizes `count` floats (a multiple of 32) to Q4_1 blocks (20 bytes each) at `y`; ggml reference rounding.
    /// - Complexity: O(count); no allocation.
    public static func q4_1(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, count: Int) {
        precondition(count >= 0 && count % 32 == 0, "Quantize.q4_1: count must be a multiple of 32")
        for i in 0..<(count / 32) {
            let xb = x + 32 * i
            let b = y + BlockQ4_1.size * i
            let (lo, hi) = minMax(xb, 32)
            let d = (hi - lo) / 15
            let id: Float = d != 0 ? 1 / d : 0
            storeF16(d, b, BlockQ4_1.d)
            storeF16(lo, b, BlockQ4_1.m)
            for j in 0..<16 {
                let q0 = truncClamp((xb[j] - lo) * id + 0.5, 15)
                let q1 = truncClamp((xb[16 + j] - lo) * id + 0.5, 15)
                b.storeBytes(of: q0 | (q1 << 4), toByteOffset: BlockQ4_1.qs + j, as: UInt8.self)
            }
        }
    }

    /// Quantizes `count` floats (a multiple of 32) to Q5_0 blocks (22 bytes each) at `y`; ggml reference rounding.
    /// - Complexity: O(count); no allocation.
    public static func q5_0(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, count: Int) {
        precondition(count >= 0 && count % 32 == 0, "Quantize.q5_0: count must be a multiple of 32")
        for i in 0..<(count / 32) {
            let xb = x + 32 * i
            let b = y + BlockQ5_0.size * i
            let d = signedAbsMax(xb, 32) / -16
            let id: Float = d != 0 ? 1 / d : 0
            storeF16(d, b, BlockQ5_0.d)
            var qh: UInt32 = 0
            for j in 0..<16 {
                let q0 = truncClamp(xb[j] * id + 16.5, 31)
                let q1 = truncClamp(xb[16 + j] * id + 16.5, 31)
                b.storeBytes(of: (q0 & 0x0F) | ((q1 & 0x0F) << 4), toByteOffset: BlockQ5_0.qs + j, as: UInt8.self)
                qh |= UInt32(q0 >> 4) << UInt32(j)
                qh |= UInt32(q1 >> 4) << UInt32(j + 16)
            }
            b.storeBytes(of: qh.littleEndian, toByteOffset: BlockQ5_0.qh, as: UInt32.self)
        }
    }

    /// Quantizes `count` floats (a multiple of 32) to Q5_1 blocks (24 bytes each) at `y`; ggml reference rounding.
    /// - Complexity: O(count); no allocation.
    public static func q5_1(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, count: Int) {
        precondition(count >= 0 && count % 32 == 0, "Quantize.q5_1: count must be a multiple of 32")
        for i in 0..<(count / 32) {
            let xb = x + 32 * i
            let b = y + BlockQ5_1.size * i
            let (lo, hi) = minMax(xb, 32)
            let d = (hi - lo) / 31
            let id: Float = d != 0 ? 1 / d : 0
            storeF16(d, b, BlockQ5_1.d)
            storeF16(lo, b, BlockQ5_1.m)
            var qh: UInt32 = 0
            for j in 0..<16 {
                let q0 = truncClamp((xb[j] - lo) * id + 0.5, 31)
                let q1 = truncClamp((xb[16 + j] - lo) * id + 0.5, 31)
                b.storeBytes(of: (q0 & 0x0F) | ((q1 & 0x0F) << 4), toByteOffset: BlockQ5_1.qs + j, as: UInt8.self)
                qh |= UInt32(q0 >> 4) << UInt32(j)
                qh |= UInt32(q1 >> 4) << UInt32(j + 16)
            }
            b.storeBytes(of: qh.littleEndian, toByteOffset: BlockQ5_1.qh, as: UInt32.self)
        }
    }
}
