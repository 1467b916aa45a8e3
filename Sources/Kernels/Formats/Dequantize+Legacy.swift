// Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 row dequantization (blocks of 32). Port of ggml's dequantize_row_q4_0 …
// dequantize_row_q8_0 (ggml/src/ggml-quants.c); same per-element float operations, see Dequantize.swift.

extension Dequantize {
    // MARK: Q4_0 — x = (q - 8) * d

    /// Q4_0 → F32 (SIMD). Bitwise identical to `q4_0_reference`.
    public static func q4_0(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, count: Int) {
        checkBlocks(count, BlockQ4_0.elements, "q4_0")
        let mask = SIMD8<Int32>(repeating: 0x0F), eight = SIMD8<Int32>(repeating: 8), four = SIMD8<Int32>(repeating: 4)
        for i in 0..<(count / 32) {
            let b = src + i * BlockQ4_0.size
            let y = dst + i * 32
            let d = SIMD8<Float>(repeating: Lane.f16(b, BlockQ4_0.d))
            for g in 0..<2 {
                let bytes = Lane.zext8(b + BlockQ4_0.qs + 8 * g)
                Lane.store8(Lane.float((bytes & mask) &- eight) * d, y, 8 * g)
                Lane.store8(Lane.float((bytes &>> four) &- eight) * d, y, 16 + 8 * g)
            }
        }
    }

    /// Scalar twin of `q4_0` (ggml `dequantize_row_q4_0`).
    public static func q4_0_reference(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, count: Int) {
        checkBlocks(count, BlockQ4_0.elements, "q4_0_reference")
        for i in 0..<(count / 32) {
            let b = src + i * BlockQ4_0.size
            let y = dst + i * 32
            let d = Lane.f16(b, BlockQ4_0.d)
            for j in 0..<16 {
                let q = b.load(fromByteOffset: BlockQ4_0.qs + j, as: UInt8.self)
                y[j] = Float(Int32(q & 0x0F) - 8) * d
                y[j + 16] = Float(Int32(q >> 4) - 8) * d
            }
        }
    }

    // MARK: Q4_1 — x = q * d + m

    /// Q4_1 → F32 (SIMD). Bitwise identical to `q4_1_reference` (multiply, then add; no FMA).
    public static func q4_1(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, count: Int) {
        checkBlocks(count, BlockQ4_1.elements, "q4_1")
        let mask = SIMD8<Int32>(repeating: 0x0F), four = SIMD8<Int32>(repeating: 4)
        for i in 0..<(count / 32) {
            let b = src + i * BlockQ4_1.size
            let y = dst + i * 32
            let d = SIMD8<Float>(repeating: Lane.f16(b, BlockQ4_1.d))
            let m = SIMD8<Float>(repeating: Lane.f16(b, BlockQ4_1.m))
            for g in 0..<2 {
                let bytes = Lane.zext8(b + BlockQ4_1.qs + 8 * g)
                Lane.store8(Lane.float(bytes & mask) * d + m, y, 8 * g)
                Lane.store8(Lane.float(bytes &>> four) * d + m, y, 16 + 8 * g)
            }
        }
    }

    /// Scalar twin of `q4_1` (ggml `dequantize_row_q4_1`).
    public static func q4_1_reference(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, count: Int) {
        checkBlocks(count, BlockQ4_1.elements, "q4_1_reference")
        for i in 0..<(count / 32) {
            let b = src + i * BlockQ4_1.size
            let y = dst + i * 32
            let d = Lane.f16(b, BlockQ4_1.d)
            let m = Lane.f16(b, BlockQ4_1.m)
            for j in 0..<16 {
                let q = b.load(fromByteOffset: BlockQ4_1.qs + j, as: UInt8.self)
                y[j] = Float(q & 0x0F) * d + m
                y[j + 16] = Float(q >> 4) * d + m
            }
        }
    }

    // MARK: Q5_0 — x = (q - 16) * d

    /// Q5_0 → F32 (SIMD). Bitwise identical to `q5_0_reference`.
    public static func q5_0(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, count: Int) {
        checkBlocks(count, BlockQ5_0.elements, "q5_0")
        let mask = SIMD8<Int32>(repeating: 0x0F), four = SIMD8<Int32>(repeating: 4)
        let sixteen = SIMD8<Int32>(repeating: 16), one = SIMD8<Int32>(repeating: 1)
        let lanes = SIMD8<Int32>(0, 1, 2, 3, 4, 5, 6, 7)
        for i in 0..<(count / 32) {
            let b = src + i * BlockQ5_0.size
            let y = dst + i * 32
            let d = SIMD8<Float>(repeating: Lane.f16(b, BlockQ5_0.d))
            let qh = Int32(bitPattern: b.loadUnaligned(fromByteOffset: BlockQ5_0.qh, as: UInt32.self))
            let h = SIMD8<Int32>(repeating: qh)
            for g in 0..<2 {
                let bytes = Lane.zext8(b + BlockQ5_0.qs + 8 * g)
                let hLo = ((h &>> (lanes &+ SIMD8(repeating: Int32(8 * g)))) & one) &<< four
                let hHi = ((h &>> (lanes &+ SIMD8(repeating: Int32(16 + 8 * g)))) & one) &<< four
                Lane.store8(Lane.float(((bytes & mask) | hLo) &- sixteen) * d, y, 8 * g)
                Lane.store8(Lane.float(((bytes &>> four) | hHi) &- sixteen) * d, y, 16 + 8 * g)
            }
        }
    }

    /// Scalar twin of `q5_0` (ggml `dequantize_row_q5_0`).
    public static func q5_0_reference(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, count: Int) {
        checkBlocks(count, BlockQ5_0.elements, "q5_0_reference")
        for i in 0..<(count / 32) {
            let b = src + i * BlockQ5_0.size
            let y = dst + i * 32
            let d = Lane.f16(b, BlockQ5_0.d)
            let qh = b.loadUnaligned(fromByteOffset: BlockQ5_0.qh, as: UInt32.self)
            for j in 0..<16 {
                let q = b.load(fromByteOffset: BlockQ5_0.qs + j, as: UInt8.self)
                let h0 = Int32((qh >> UInt32(j)) & 1) << 4
                let h1 = Int32((qh >> UInt32(j + 16)) & 1) << 4
                y[j] = Float((Int32(q & 0x0F) | h0) - 16) * d
                y[j + 16] = Float((Int32(q >> 4) | h1) - 16) * d
            }
        }
    }

    // MARK: Q5_1 — x = q * d + m

    /// Q5_1 → F32 (SIMD). Bitwise identical to `q5_1_reference`.
    public static func q5_1(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, count: Int) {
        checkBlocks(count, BlockQ5_1.elements, "q5_1")
        let mask = SIMD8<Int32>(repeating: 0x0F), four = SIMD8<Int32>(repeating: 4), one = SIMD8<Int32>(repeating: 1)
        let lanes = SIMD8<Int32>(0, 1, 2, 3, 4, 5, 6, 7)
        for i in 0..<(count / 32) {
            let b = src + i * BlockQ5_1.size
            let y = dst + i * 32
            let d = SIMD8<Float>(repeating: Lane.f16(b, BlockQ5_1.d))
            let m = SIMD8<Float>(repeating: Lane.f16(b, BlockQ5_1.m))
            let qh = Int32(bitPattern: b.loadUnaligned(fromByteOffset: BlockQ5_1.qh, as: UInt32.self))
            let h = SIMD8<Int32>(repeating: qh)
            for g in 0..<2 {
                let bytes = Lane.zext8(b + BlockQ5_1.qs + 8 * g)
                let hLo = ((h &>> (lanes &+ SIMD8(repeating: Int32(8 * g)))) & one) &<< four
                let hHi = ((h &>> (lanes &+ SIMD8(repeating: Int32(16 + 8 * g)))) & one) &<< four
                Lane.store8(Lane.float((bytes & mask) | hLo) * d + m, y, 8 * g)
                Lane.store8(Lane.float((bytes &>> four) | hHi) * d + m, y, 16 + 8 * g)
            }
        }
    }

    /// Scalar twin of `q5_1` (ggml `dequantize_row_q5_1`).
    public static func q5_1_reference(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, count: Int) {
        checkBlocks(count, BlockQ5_1.elements, "q5_1_reference")
        for i in 0..<(count / 32) {
            let b = src + i * BlockQ5_1.size
            let y = dst + i * 32
            let d = Lane.f16(b, BlockQ5_1.d)
            let m = Lane.f16(b, BlockQ5_1.m)
            let qh = b.loadUnaligned(fromByteOffset: BlockQ5_1.qh, as: UInt32.self)
            for j in 0..<16 {
                let q = b.load(fromByteOffset: BlockQ5_1.qs + j, as: UInt8.self)
                let h0 = Int32((qh >> UInt32(j)) & 1) << 4
                let h1 = Int32((qh >> UInt32(j + 16)) & 1) << 4
                y[j] = Float(Int32(q & 0x0F) | h0) * d + m
                y[j + 16] = Float(Int32(q >> 4) | h1) * d + m
            }
        }
    }

    // MARK: Q8_0 — x = q * d

    /// Q8_0 → F32 (SIMD). Bitwise identical to `q8_0_reference`.
    public static func q8_0(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, count: Int) {
        checkBlocks(count, BlockQ8_0.elements, "q8_0")
        for i in 0..<(count / 32) {
            let b = src + i * BlockQ8_0.size
            let y = dst + i * 32
            let d = SIMD8<Float>(repeating: Lane.f16(b, BlockQ8_0.d))
            for g in 0..<4 {
                Lane.store8(Lane.float(Lane.sext8(b + BlockQ8_0.qs + 8 * g)) * d, y, 8 * g)
            }
        }
    }

    /// Scalar twin of `q8_0` (ggml `dequantize_row_q8_0`).
    public static func q8_0_reference(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, count: Int) {
        checkBlocks(count, BlockQ8_0.elements, "q8_0_reference")
        for i in 0..<(count / 32) {
            let b = src + i * BlockQ8_0.size
            let y = dst + i * 32
            let d = Lane.f16(b, BlockQ8_0.d)
            for j in 0..<32 {
                y[j] = Float(b.load(fromByteOffset: BlockQ8_0.qs + j, as: Int8.self)) * d
            }
        }
    }
}
