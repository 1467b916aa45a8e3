// Scalar twins of the dot kernels: ggml's generic C (`ggml_vec_dot_*_generic`, ggml/src/ggml-cpu/quants.c)
// element by element, exact Int block sums, then the same float scale arithmetic. Slow; for tests.

import GGUF

@inline(__always)
private func h(_ p: UnsafeRawPointer, _ offset: Int) -> Float {
    Float(Float16(bitPattern: p.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
}
@inline(__always)
private func u8(_ p: UnsafeRawPointer, _ offset: Int) -> Int { Int(p.load(fromByteOffset: offset, as: UInt8.self)) }
@inline(__always)
private func i8(_ p: UnsafeRawPointer, _ offset: Int) -> Int { Int(p.load(fromByteOffset: offset, as: Int8.self)) }

extension Dot {
    public static func q4_0_q8_0_reference(_ w: UnsafeRawPointer, _ x: UnsafeRawPointer, count: Int) -> Float {
        var sumf: Float = 0
        for b in 0..<count / 32 {
            let wb = w + 18 * b, xb = x + 34 * b
            var sumi = 0
            for j in 0..<16 {
                sumi += ((u8(wb, 2 + j) & 0x0F) - 8) * i8(xb, 2 + j)
                sumi += ((u8(wb, 2 + j) >> 4) - 8) * i8(xb, 18 + j)
            }
            sumf += Float(sumi) * h(wb, 0) * h(xb, 0)
        }
        return sumf
    }

    public static func q4_1_q8_1_reference(_ w: UnsafeRawPointer, _ x: UnsafeRawPointer, count: Int) -> Float {
        var sumf: Float = 0
        for b in 0..<count / 32 {
            let wb = w + 20 * b, xb = x + 36 * b
            var sumi = 0
            for j in 0..<16 {
                sumi += (u8(wb, 4 + j) & 0x0F) * i8(xb, 4 + j)
                sumi += (u8(wb, 4 + j) >> 4) * i8(xb, 20 + j)
            }
            sumf += (h(wb, 0) * h(xb, 0)) * Float(sumi) + h(wb, 2) * h(xb, 2)
        }
        return sumf
    }

    public static func q5_0_q8_0_reference(_ w: UnsafeRawPointer, _ x: UnsafeRawPointer, count: Int) -> Float {
        var sumf: Float = 0
        for b in 0..<count / 32 {
            let wb = w + 22 * b, xb = x + 34 * b
            let qh = Int(wb.loadUnaligned(fromByteOffset: 2, as: UInt32.self))
            var sumi = 0
            for j in 0..<16 {
                let x0 = ((u8(wb, 6 + j) & 0x0F) | (((qh >> j) & 1) << 4)) - 16
                let x1 = ((u8(wb, 6 + j) >> 4) | (((qh >> (j + 16)) & 1) << 4)) - 16
                sumi += x0 * i8(xb, 2 + j) + x1 * i8(xb, 18 + j)
            }
            sumf += Float(sumi) * (h(wb, 0) * h(xb, 0))
        }
        return sumf
    }

    public static func q5_1_q8_1_reference(_ w: UnsafeRawPointer, _ x: UnsafeRawPointer, count: Int) -> Float {
        var sumf: Float = 0
        for b in 0..<count / 32 {
            let wb = w + 24 * b, xb = x + 36 * b
            let qh = Int(wb.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
            var sumi = 0
            for j in 0..<16 {
                let x0 = (u8(wb, 8 + j) & 0x0F) | (((qh >> j) & 1) << 4)
                let x1 = (u8(wb, 8 + j) >> 4) | (((qh >> (j + 16)) & 1) << 4)
                sumi += x0 * i8(xb, 4 + j) + x1 * i8(xb, 20 + j)
            }
            sumf += (h(wb, 0) * h(xb, 0)) * Float(sumi) + h(wb, 2) * h(xb, 2)
        }
        return sumf
    }

    public static func q8_0_q8_0_reference(_ w: UnsafeRawPointer, _ x: UnsafeRawPointer, count: Int) -> Float {
        var sumf: Float = 0
        for b in 0..<count / 32 {
            let wb = w + 34 * b, xb = x + 34 * b
            var sumi = 0
            for j in 0..<32 { sumi += i8(wb, 2 + j) * i8(xb, 2 + j) }
            sumf += Float(sumi) * (h(wb, 0) * h(xb, 0))
        }
        return sumf
    }

    /// Decoded (scale, min) of sub-block j of a Q4_K/Q5_K block (ggml `get_scale_min_k4`).
    private static func scaleMinK4(_ j: Int, _ q: UnsafeRawPointer) -> (Int, Int) {
        if j < 4 { return (u8(q, j) & 63, u8(q, j + 4) & 63) }
        return ((u8(q, j + 4) & 0x0F) | ((u8(q, j - 4) >> 6) << 4), (u8(q, j + 4) >> 4) | ((u8(q, j) >> 6) << 4))
    }

    private static func q8KBsum(_ xb: UnsafeRawPointer, _ g: Int) -> Int {
        Int(xb.loadUnaligned(fromByteOffset: 260 + 2 * g, as: Int16.self))
    }

    public static func q4_K_q8_K_reference(_ w: UnsafeRawPointer, _ x: UnsafeRawPointer, count: Int) -> Float {
        var sumf: Float = 0
        for b in 0..<count / 256 {
            let wb = w + 144 * b, xb = x + 292 * b
            let dx = xb.loadUnaligned(as: Float.self)
            var sumi = 0, summ = 0
            for sub in 0..<8 {
                let (sc, m) = scaleMinK4(sub, wb + 4)
                summ += m * (q8KBsum(xb, 2 * sub) + q8KBsum(xb, 2 * sub + 1))
                let chunk = sub / 2, high = sub % 2 == 1
                var s = 0
                for l in 0..<32 {
                    let byte = u8(wb, 16 + 32 * chunk + l)
                    s += (high ? byte >> 4 : byte & 0x0F) * i8(xb, 4 + 32 * sub + l)
                }
                sumi += sc * s
            }
            sumf += (dx * h(wb, 0)) * Float(sumi) - (dx * h(wb, 2)) * Float(summ)
        }
        return sumf
    }

    public static func q5_K_q8_K_reference(_ w: UnsafeRawPointer, _ x: UnsafeRawPointer, count: Int) -> Float {
        var sumf: Float = 0
        for b in 0..<count / 256 {
            let wb = w + 176 * b, xb = x + 292 * b
            let dx = xb.loadUnaligned(as: Float.self)
            var sumi = 0, summ = 0
            for sub in 0..<8 {
                let (sc, m) = scaleMinK4(sub, wb + 4)
                summ += m * (q8KBsum(xb, 2 * sub) + q8KBsum(xb, 2 * sub + 1))
                let chunk = sub / 2, high = sub % 2 == 1
                var s = 0
                for l in 0..<32 {
                    let byte = u8(wb, 48 + 32 * chunk + l)
                    let hbit = (u8(wb, 16 + l) >> sub) & 1
                    s += ((high ? byte >> 4 : byte & 0x0F) + 16 * hbit) * i8(xb, 4 + 32 * sub + l)
                }
                sumi += sc * s
            }
            sumf += (dx * h(wb, 0)) * Float(sumi) - (dx * h(wb, 2)) * Float(summ)
        }
        return sumf
    }

    /// Scalar twin of ``row(_:_:_:count:order:)`` for the K-quant orders other than `.vec`: the exact integer
    /// parts per sub-block pair (Q4_K/Q5_K: Σ sc·Σ q·y and Σ m·bsums; Q6_K: Σ sc·Σ (q − 32)·y), then the order's
    /// float chain.
    public static func kQuant_reference(_ type: GGMLType, order: DotOrder, _ w: UnsafeRawPointer, _ x: UnsafeRawPointer,
                                        count: Int) -> Float {
        var acc: Float = 0, accMin: Float = 0
        let blockBytes = type == .q4_K ? 144 : type == .q5_K ? 176 : 210
        for b in 0..<count / 256 {
            let wb = w + blockBytes * b, xb = x + 292 * b
            let dx = xb.loadUnaligned(as: Float.self)
            var scaled = [Int](repeating: 0, count: 4), mins = [Int](repeating: 0, count: 4)
            for sub in 0..<8 {
                var s = 0
                switch type {
                case .q4_K, .q5_K:
                    let (sc, m) = scaleMinK4(sub, wb + 4)
                    mins[sub / 2] += m * (q8KBsum(xb, 2 * sub) + q8KBsum(xb, 2 * sub + 1))
                    let chunk = sub / 2, high = sub % 2 == 1
                    for l in 0..<32 {
                        if type == .q4_K {
                            let byte = u8(wb, 16 + 32 * chunk + l)
                            s += (high ? byte >> 4 : byte & 0x0F) * i8(xb, 4 + 32 * sub + l)
                        } else {
                            let byte = u8(wb, 48 + 32 * chunk + l)
                            let hbit = (u8(wb, 16 + l) >> sub) & 1
                            s += ((high ? byte >> 4 : byte & 0x0F) + 16 * hbit) * i8(xb, 4 + 32 * sub + l)
                        }
                    }
                    s *= sc
                default:  // q6_K: sub-block = 32 elements, two scales of 16
                    let n = sub / 4, t = sub % 4
                    for l in 0..<32 {
                        let ql = u8(wb, 64 * n + (t % 2) * 32 + l), hb = u8(wb, 128 + 32 * n + l)
                        let q = (t < 2 ? ql & 0x0F : ql >> 4) | (((hb >> (2 * t)) & 3) << 4)
                        s += (q - 32) * i8(xb, 4 + 128 * n + 32 * t + l) * i8(wb, 192 + 8 * n + 2 * t + l / 16)
                    }
                }
                scaled[sub / 2] += s
            }
            let d = type == .q6_K ? h(wb, 208) : h(wb, 0), dmin = type == .q6_K ? 0 : h(wb, 2)
            switch order {
            case .repackedGemm:
                for p in 0..<4 {
                    acc = acc.addingProduct(Float(scaled[p]), d * dx)
                    accMin = accMin.addingProduct(Float(mins[p]), dmin * dx)
                }
            case .repackedGemv:
                acc = acc.addingProduct(Float(scaled.reduce(0, +)), d * dx)
                accMin = accMin.addingProduct(Float(mins.reduce(0, +)), dmin * dx)
            case .tiled:
                let res = (d * Float(scaled.reduce(0, +))).addingProduct(-dmin, Float(mins.reduce(0, +)))
                acc = acc.addingProduct(res, dx)
            case .vec:
                preconditionFailure("kQuant_reference: use the type's own reference for .vec")
            }
        }
        return acc - accMin
    }

    public static func q6_K_q8_K_reference(_ w: UnsafeRawPointer, _ x: UnsafeRawPointer, count: Int) -> Float {
        var sumf: Float = 0
        var q = [Int](repeating: 0, count: 256)
        for b in 0..<count / 256 {
            let wb = w + 210 * b, xb = x + 292 * b
            for n in 0..<2 {
                let ql = 64 * n, qh = 128 + 32 * n
                for l in 0..<32 {
                    let hb = u8(wb, qh + l)
                    q[128 * n + l] = ((u8(wb, ql + l) & 0x0F) | ((hb & 3) << 4)) - 32
                    q[128 * n + l + 32] = ((u8(wb, ql + l + 32) & 0x0F) | (((hb >> 2) & 3) << 4)) - 32
                    q[128 * n + l + 64] = ((u8(wb, ql + l) >> 4) | (((hb >> 4) & 3) << 4)) - 32
                    q[128 * n + l + 96] = ((u8(wb, ql + l + 32) >> 4) | (((hb >> 6) & 3) << 4)) - 32
                }
            }
            var sumi = 0
            for g in 0..<16 {
                var s = 0
                for l in 0..<16 { s += q[16 * g + l] * i8(xb, 4 + 16 * g + l) }
                sumi += i8(wb, 192 + g) * s
            }
            sumf += (xb.loadUnaligned(as: Float.self) * h(wb, 208)) * Float(sumi)
        }
        return sumf
    }

    public static func f16_f16_reference(_ w: UnsafeRawPointer, _ x: UnsafeRawPointer, count: Int) -> Float {
        var sum: Double = 0
        for i in 0..<count { sum += Double(h(w, 2 * i)) * Double(h(x, 2 * i)) }
        return Float(sum)
    }

    public static func f32_f32_reference(_ w: UnsafeRawPointer, _ x: UnsafeRawPointer, count: Int) -> Float {
        var sum: Double = 0
        for i in 0..<count {
            sum += Double(w.loadUnaligned(fromByteOffset: 4 * i, as: Float.self))
                * Double(x.loadUnaligned(fromByteOffset: 4 * i, as: Float.self))
        }
        return Float(sum)
    }

    public static func bf16_f32_reference(_ w: UnsafeRawPointer, _ x: UnsafeRawPointer, count: Int) -> Float {
        var sum: Double = 0
        for i in 0..<count {
            let wv = Float(bitPattern: UInt32(w.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) << 16)
            sum += Double(wv) * Double(x.loadUnaligned(fromByteOffset: 4 * i, as: Float.self))
        }
        return Float(sum)
    }
}
