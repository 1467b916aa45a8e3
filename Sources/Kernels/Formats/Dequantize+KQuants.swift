// Q2_K, Q3_K, Q4_K, Q5_K, Q6_K row dequantization (super-blocks of 256). Port of ggml's
// dequantize_row_q2_K … dequantize_row_q6_K (ggml/src/ggml-quants.c): the sub-block products `d * sc` and
// `dmin * m` are rounded to Float first, then each element is `d1 * q - m1` (or `(d * sc) * q` for Q6_K).
// Q4_K, Q5_K and Q6_K have SIMD versions (same per-element operations, so bitwise equal to the scalar twins);
// Q2_K and Q3_K public entry points run the scalar code.

extension Dequantize {
    /// ggml `get_scale_min_k4`: 6-bit scale and min of sub-block `j` (0…7) from the 12 packed bytes at `q`.
    @inline(__always)
    static func scaleMinK4(_ j: Int, _ q: UnsafeRawPointer) -> (scale: UInt8, min: UInt8) {
        @inline(__always) func at(_ k: Int) -> UInt8 { q.load(fromByteOffset: k, as: UInt8.self) }
        if j < 4 {
            return (at(j) & 63, at(j + 4) & 63)
        } else {
            return ((at(j + 4) & 0x0F) | ((at(j - 4) >> 6) << 4), (at(j + 4) >> 4) | ((at(j) >> 6) << 4))
        }
    }

    /// The sixteen signed scales of a Q3_K block (stored 6-bit with a +32 bias), ggml's `kmask` unpacking.
    @inline(__always)
    static func q3KScales(_ p: UnsafeRawPointer) -> SIMD16<Int8> {
        let kmask1: UInt32 = 0x0303_0303, kmask2: UInt32 = 0x0f0f_0f0f
        let a0 = p.loadUnaligned(fromByteOffset: 0, as: UInt32.self)
        let a1 = p.loadUnaligned(fromByteOffset: 4, as: UInt32.self)
        let tmp = p.loadUnaligned(fromByteOffset: 8, as: UInt32.self)
        let w0 = (a0 & kmask2) | (((tmp >> 0) & kmask1) << 4)
        let w1 = (a1 & kmask2) | (((tmp >> 2) & kmask1) << 4)
        let w2 = ((a0 >> 4) & kmask2) | (((tmp >> 4) & kmask1) << 4)
        let w3 = ((a1 >> 4) & kmask2) | (((tmp >> 6) & kmask1) << 4)
        var s = SIMD16<Int8>()
        for k in 0..<4 {
            s[k] = Int8(truncatingIfNeeded: w0 >> UInt32(8 * k)) &- 32
            s[4 + k] = Int8(truncatingIfNeeded: w1 >> UInt32(8 * k)) &- 32
            s[8 + k] = Int8(truncatingIfNeeded: w2 >> UInt32(8 * k)) &- 32
            s[12 + k] = Int8(truncatingIfNeeded: w3 >> UInt32(8 * k)) &- 32
        }
        return s
    }
}

extension Dequantize {
    // MARK: Q2_K

    /// Q2_K → F32. Same as `q2_K_reference` (scalar).
    public static func q2_K(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, count: Int) {
        q2_K_reference(src, dst, count: count)
    }

    /// ggml `dequantize_row_q2_K`: x = (d * (sc & 15)) * q - (dmin * (sc >> 4)).
    public static func q2_K_reference(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, count: Int) {
        checkBlocks(count, BlockQ2_K.elements, "q2_K_reference")
        for i in 0..<(count / 256) {
            let b = src + i * BlockQ2_K.size
            var y = dst + i * 256
            let d = Lane.f16(b, BlockQ2_K.d)
            let mn = Lane.f16(b, BlockQ2_K.dmin)
            var q = b + BlockQ2_K.qs
            var s = 0
            for _ in 0..<2 {  // two halves of 128
                var shift: UInt8 = 0
                for _ in 0..<4 {
                    for half in 0..<2 {  // two sub-blocks of 16 per shift
                        let sc = b.load(fromByteOffset: BlockQ2_K.scales + s, as: UInt8.self)
                        s += 1
                        let dl = d * Float(sc & 0x0F)
                        let ml = mn * Float(sc >> 4)
                        for l in 0..<16 {
                            let v = (q.load(fromByteOffset: 16 * half + l, as: UInt8.self) >> shift) & 3
                            y[l] = dl * Float(v) - ml
                        }
                        y += 16
                    }
                    shift += 2
                }
                q += 32
            }
        }
    }

    // MARK: Q3_K

    /// Q3_K → F32. Same as `q3_K_reference` (scalar).
    public static func q3_K(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, count: Int) {
        q3_K_reference(src, dst, count: count)
    }

    /// ggml `dequantize_row_q3_K`: x = (d * (sc - 32)) * (q2 - (hbit ? 0 : 4)).
    public static func q3_K_reference(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, count: Int) {
        checkBlocks(count, BlockQ3_K.elements, "q3_K_reference")
        for i in 0..<(count / 256) {
            let b = src + i * BlockQ3_K.size
            var y = dst + i * 256
            let dAll = Lane.f16(b, BlockQ3_K.d)
            let scales = q3KScales(b + BlockQ3_K.scales)
            let hm = b + BlockQ3_K.hmask
            var q = b + BlockQ3_K.qs
            var m: UInt8 = 1
            var s = 0
            for _ in 0..<2 {
                var shift: UInt8 = 0
                for _ in 0..<4 {
                    for half in 0..<2 {
                        let dl = dAll * Float(scales[s])
                        s += 1
                        for l in 0..<16 {
                            let k = 16 * half + l
                            let lo = Int32((q.load(fromByteOffset: k, as: UInt8.self) >> shift) & 3)
                            let hi: Int32 = (hm.load(fromByteOffset: k, as: UInt8.self) & m) != 0 ? 0 : 4
                            y[l] = dl * Float(lo - hi)
                        }
                        y += 16
                    }
                    shift += 2
                    m <<= 1
                }
                q += 32
            }
        }
    }

    // MARK: Q4_K

    /// Q4_K → F32 (SIMD). Bitwise identical to `q4_K_reference`.
    public static func q4_K(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, count: Int) {
        checkBlocks(count, BlockQ4_K.elements, "q4_K")
        let mask = SIMD8<Int32>(repeating: 0x0F), four = SIMD8<Int32>(repeating: 4)
        for i in 0..<(count / 256) {
            let b = src + i * BlockQ4_K.size
            let y = dst + i * 256
            let d = Lane.f16(b, BlockQ4_K.d)
            let mn = Lane.f16(b, BlockQ4_K.dmin)
            let sc = b + BlockQ4_K.scales
            for c in 0..<4 {
                let (s1, m1) = scaleMinK4(2 * c, sc)
                let (s2, m2) = scaleMinK4(2 * c + 1, sc)
                let d1 = SIMD8<Float>(repeating: d * Float(s1)), mm1 = SIMD8<Float>(repeating: mn * Float(m1))
                let d2 = SIMD8<Float>(repeating: d * Float(s2)), mm2 = SIMD8<Float>(repeating: mn * Float(m2))
                let q = b + BlockQ4_K.qs + 32 * c
                let yc = y + 64 * c
                for g in 0..<4 {
                    let bytes = Lane.zext8(q + 8 * g)
                    Lane.store8(d1 * Lane.float(bytes & mask) - mm1, yc, 8 * g)
                    Lane.store8(d2 * Lane.float(bytes &>> four) - mm2, yc, 32 + 8 * g)
                }
            }
        }
    }

    /// ggml `dequantize_row_q4_K`: x = (d * sc) * q - (dmin * m).
    public static func q4_K_reference(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, count: Int) {
        checkBlocks(count, BlockQ4_K.elements, "q4_K_reference")
        for i in 0..<(count / 256) {
            let b = src + i * BlockQ4_K.size
            var y = dst + i * 256
            let d = Lane.f16(b, BlockQ4_K.d)
            let mn = Lane.f16(b, BlockQ4_K.dmin)
            let sc = b + BlockQ4_K.scales
            var q = b + BlockQ4_K.qs
            for c in 0..<4 {  // 64-element chunks
                let (s1, m1) = scaleMinK4(2 * c, sc)
                let (s2, m2) = scaleMinK4(2 * c + 1, sc)
                let d1 = d * Float(s1), mm1 = mn * Float(m1)
                let d2 = d * Float(s2), mm2 = mn * Float(m2)
                for l in 0..<32 { y[l] = d1 * Float(q.load(fromByteOffset: l, as: UInt8.self) & 0x0F) - mm1 }
                for l in 0..<32 { y[32 + l] = d2 * Float(q.load(fromByteOffset: l, as: UInt8.self) >> 4) - mm2 }
                q += 32
                y += 64
            }
        }
    }

    // MARK: Q5_K

    /// Q5_K → F32 (SIMD). Bitwise identical to `q5_K_reference`.
    public static func q5_K(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, count: Int) {
        checkBlocks(count, BlockQ5_K.elements, "q5_K")
        let mask = SIMD8<Int32>(repeating: 0x0F), four = SIMD8<Int32>(repeating: 4), one = SIMD8<Int32>(repeating: 1)
        for i in 0..<(count / 256) {
            let b = src + i * BlockQ5_K.size
            let y = dst + i * 256
            let d = Lane.f16(b, BlockQ5_K.d)
            let mn = Lane.f16(b, BlockQ5_K.dmin)
            let sc = b + BlockQ5_K.scales
            for c in 0..<4 {
                let (s1, m1) = scaleMinK4(2 * c, sc)
                let (s2, m2) = scaleMinK4(2 * c + 1, sc)
                let d1 = SIMD8<Float>(repeating: d * Float(s1)), mm1 = SIMD8<Float>(repeating: mn * Float(m1))
                let d2 = SIMD8<Float>(repeating: d * Float(s2)), mm2 = SIMD8<Float>(repeating: mn * Float(m2))
                let shiftLo = SIMD8<Int32>(repeating: Int32(2 * c)), shiftHi = SIMD8<Int32>(repeating: Int32(2 * c + 1))
                let q = b + BlockQ5_K.qs + 32 * c
                let yc = y + 64 * c
                for g in 0..<4 {
                    let bytes = Lane.zext8(q + 8 * g)
                    let h = Lane.zext8(b + BlockQ5_K.qh + 8 * g)
                    let hLo = ((h &>> shiftLo) & one) &<< four
                    let hHi = ((h &>> shiftHi) & one) &<< four
                    Lane.store8(d1 * Lane.float((bytes & mask) | hLo) - mm1, yc, 8 * g)
                    Lane.store8(d2 * Lane.float((bytes &>> four) | hHi) - mm2, yc, 32 + 8 * g)
                }
            }
        }
    }

    /// ggml `dequantize_row_q5_K`: x = (d * sc) * (low4 + (hbit ? 16 : 0)) - (dmin * m).
    public static func q5_K_reference(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, count: Int) {
        checkBlocks(count, BlockQ5_K.elements, "q5_K_reference")
        for i in 0..<(count / 256) {
            let b = src + i * BlockQ5_K.size
            var y = dst + i * 256
            let d = Lane.f16(b, BlockQ5_K.d)
            let mn = Lane.f16(b, BlockQ5_K.dmin)
            let sc = b + BlockQ5_K.scales
            let qh = b + BlockQ5_K.qh
            var ql = b + BlockQ5_K.qs
            var u1: UInt8 = 1, u2: UInt8 = 2
            for c in 0..<4 {
                let (s1, m1) = scaleMinK4(2 * c, sc)
                let (s2, m2) = scaleMinK4(2 * c + 1, sc)
                let d1 = d * Float(s1), mm1 = mn * Float(m1)
                let d2 = d * Float(s2), mm2 = mn * Float(m2)
                for l in 0..<32 {
                    let h: UInt8 = (qh.load(fromByteOffset: l, as: UInt8.self) & u1) != 0 ? 16 : 0
                    y[l] = d1 * Float((ql.load(fromByteOffset: l, as: UInt8.self) & 0x0F) + h) - mm1
                }
                for l in 0..<32 {
                    let h: UInt8 = (qh.load(fromByteOffset: l, as: UInt8.self) & u2) != 0 ? 16 : 0
                    y[32 + l] = d2 * Float((ql.load(fromByteOffset: l, as: UInt8.self) >> 4) + h) - mm2
                }
                ql += 32
                y += 64
                u1 <<= 2
                u2 <<= 2
            }
        }
    }

    // MARK: Q6_K

    /// Q6_K → F32 (SIMD). Bitwise identical to `q6_K_reference`.
    public static func q6_K(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, count: Int) {
        checkBlocks(count, BlockQ6_K.elements, "q6_K")
        let mask = SIMD8<Int32>(repeating: 0x0F), three = SIMD8<Int32>(repeating: 3)
        let two = SIMD8<Int32>(repeating: 2), four = SIMD8<Int32>(repeating: 4), six = SIMD8<Int32>(repeating: 6)
        let bias = SIMD8<Int32>(repeating: 32)
        for i in 0..<(count / 256) {
            let b = src + i * BlockQ6_K.size
            let d = Lane.f16(b, BlockQ6_K.d)
            for half in 0..<2 {
                let ql = b + BlockQ6_K.ql + 64 * half
                let qh = b + BlockQ6_K.qh + 32 * half
                let sc = b + BlockQ6_K.scales + 8 * half
                let y = dst + i * 256 + 128 * half
                for g in 0..<4 {  // 8 lanes of l = 8g ..< 8g+8; sub-block s = l / 16 is constant per group
                    let l = 8 * g, s = l / 16
                    @inline(__always) func scale(_ k: Int) -> SIMD8<Float> {
                        SIMD8(repeating: d * Float(sc.load(fromByteOffset: s + k, as: Int8.self)))
                    }
                    let l0 = Lane.zext8(ql + l), l32 = Lane.zext8(ql + l + 32), h = Lane.zext8(qh + l)
                    let q1 = ((l0 & mask) | ((h & three) &<< four)) &- bias
                    let q2 = ((l32 & mask) | (((h &>> two) & three) &<< four)) &- bias
                    let q3 = ((l0 &>> four) | (((h &>> four) & three) &<< four)) &- bias
                    let q4 = ((l32 &>> four) | (((h &>> six) & three) &<< four)) &- bias
                    Lane.store8(scale(0) * Lane.float(q1), y, l)
                    Lane.store8(scale(2) * Lane.float(q2), y, l + 32)
                    Lane.store8(scale(4) * Lane.float(q3), y, l + 64)
                    Lane.store8(scale(6) * Lane.float(q4), y, l + 96)
                }
            }
        }
    }

    /// ggml `dequantize_row_q6_K`: x = (d * sc) * (q - 32).
    public static func q6_K_reference(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, count: Int) {
        checkBlocks(count, BlockQ6_K.elements, "q6_K_reference")
        for i in 0..<(count / 256) {
            let b = src + i * BlockQ6_K.size
            var y = dst + i * 256
            let d = Lane.f16(b, BlockQ6_K.d)
            var ql = b + BlockQ6_K.ql
            var qh = b + BlockQ6_K.qh
            var sc = b + BlockQ6_K.scales
            for _ in 0..<2 {  // halves of 128
                for l in 0..<32 {
                    let s = l / 16
                    let l0 = ql.load(fromByteOffset: l, as: UInt8.self)
                    let l32 = ql.load(fromByteOffset: l + 32, as: UInt8.self)
                    let h = qh.load(fromByteOffset: l, as: UInt8.self)
                    let q1 = Int32((l0 & 0x0F) | (((h >> 0) & 3) << 4)) - 32
                    let q2 = Int32((l32 & 0x0F) | (((h >> 2) & 3) << 4)) - 32
                    let q3 = Int32((l0 >> 4) | (((h >> 4) & 3) << 4)) - 32
                    let q4 = Int32((l32 >> 4) | (((h >> 6) & 3) << 4)) - 32
                    y[l] = d * Float(sc.load(fromByteOffset: s, as: Int8.self)) * Float(q1)
                    y[l + 32] = d * Float(sc.load(fromByteOffset: s + 2, as: Int8.self)) * Float(q2)
                    y[l + 64] = d * Float(sc.load(fromByteOffset: s + 4, as: Int8.self)) * Float(q3)
                    y[l + 96] = d * Float(sc.load(fromByteOffset: s + 6, as: Int8.self)) * Float(q4)
                }
                y += 128
                ql += 64
                qh += 32
                sc += 8
            }
        }
    }
}
