// The per-block core shared by every dot product, matrix–vector and matrix–matrix kernel.
//
// ggml computes `vec_dot(weight row, activation row)` block by block: an exact integer dot of the quants of
// one block, then one float multiply-add with the block's combined scale. `BlockDot` captures exactly that
// step for one weight format. `Dot.*` (one row × one activation row), the 4-row matvec and the 2×4 matmul
// tile all call the same `@inline(__always)` `accumulate`, so every (row, token) result is produced by the
// identical sequence of float operations no matter which kernel or how many threads computed it: matvec and
// matmul are bit-identical to a plain loop of `Dot` calls. Loads and unpacking shared by several
// accumulators in one loop body are merged by LLVM (no stores intervene), which is what makes the tiles fast.
//
// SIMD idioms (measured in docs/swift-simd-lab notes): lane loops instead of stdlib conversion initialisers
// (one instruction each), vector-operand wrapping operators, 16-bit products pair-added into 32-bit lanes.

/// Accumulator of one (weight row, activation row) dot product: 8 float lanes fed by fused multiply-adds,
/// plus a scalar for the per-block offset terms (Q4_1/Q5_1 `m·s`, K-quant mins, float tails).
struct DotAccumulator {
    var v = SIMD8<Float>()
    var s: Float = 0
    /// Q4_K's mins term in ggml's 4 float lanes (`acc_m`); zero for every other format.
    var m = SIMD4<Float>()

    @inline(__always)
    init() {}

    /// The dot product: a fixed-order horizontal sum of the lanes (ggml's `hsum_float_8` order) plus `s`, plus
    /// the 4 `m` lanes summed as ggml does (`(m0 + m2) + (m1 + m3)`).
    @inline(__always)
    var result: Float { (KSIMD.hsum(v) + s) + ((m[0] + m[2]) + (m[1] + m[3])) }

    /// `result` of an accumulator holding lanes `v`, scalar `s` and mins `m` (the same float operations), for
    /// tiles that keep their chains in other registers.
    @inline(__always)
    static func result(_ v: SIMD8<Float>, s: Float = 0, m: SIMD4<Float> = SIMD4<Float>()) -> Float {
        var acc = DotAccumulator()
        acc.v = v
        acc.s = s
        acc.m = m
        return acc.result
    }
}

/// One weight format's block step. `elements` elements of a weight row occupy `weightBytes` bytes; the
/// matching activation elements occupy `activationBytes` bytes in the format `activationType`.
protocol BlockDot {
    /// Elements per step (the format's block; 32 for the float formats, with a scalar tail).
    static var elements: Int { get }
    static var weightBytes: Int { get }
    static var activationBytes: Int { get }
    /// acc += dot(weight block at w, activation block at x).
    static func accumulate(_ w: UnsafeRawPointer, _ x: UnsafeRawPointer, _ acc: inout DotAccumulator)
    /// Whether the matrix–vector kernel should walk one row at a time (one sequential memory stream) instead
    /// of 4 rows per pass. True where the per-block work is too small to amortise 4 streams (Q8_0).
    static var streamsRows: Bool { get }
    /// acc += dot of the last `count` (< elements) elements; only the float formats have tails.
    static func tail(_ w: UnsafeRawPointer, _ x: UnsafeRawPointer, count: Int, _ acc: inout DotAccumulator)
}

extension BlockDot {
    static var streamsRows: Bool { false }

    @inline(__always)
    static func tail(_ w: UnsafeRawPointer, _ x: UnsafeRawPointer, count: Int, _ acc: inout DotAccumulator) {}

    /// The whole-row dot product of `count` elements (a multiple of `elements` for block formats).
    @inline(__always)
    static func dot(_ w: UnsafeRawPointer, _ x: UnsafeRawPointer, count: Int) -> Float {
        var acc = DotAccumulator()
        let blocks = count / elements
        for b in 0..<blocks {
            accumulate(w + b * weightBytes, x + b * activationBytes, &acc)
        }
        let rest = count - blocks * elements
        if rest > 0 { tail(w + blocks * weightBytes, x + blocks * activationBytes, count: rest, &acc) }
        return acc.result
    }
}

/// Internal SIMD helpers (AVX2 code generation with `-march=x86-64-v3`; portable Swift elsewhere).
enum KSIMD {
    /// 16 signed bytes → 16 Int16 lanes (vpmovsxbw).
    @inline(__always)
    static func sext16(_ p: UnsafeRawPointer) -> SIMD16<Int16> {
        var r = SIMD16<Int16>()
        for i in 0..<16 { r[i] = Int16(p.load(fromByteOffset: i, as: Int8.self)) }
        return r
    }

    /// 16 unsigned bytes → 16 Int16 lanes (vpmovzxbw).
    @inline(__always)
    static func zext16(_ p: UnsafeRawPointer) -> SIMD16<Int16> {
        var r = SIMD16<Int16>()
        for i in 0..<16 { r[i] = Int16(p.load(fromByteOffset: i, as: UInt8.self)) }
        return r
    }

    /// Adds adjacent Int16 lanes pairwise into Int32 lanes (exact): lane i = p[2i] + p[2i+1].
    /// `(v + v << 16) >> 16` on the Int32 view, three instructions (for products already in Int16; `madd` is one).
    @inline(__always)
    static func pairSum(_ p: SIMD16<Int16>) -> SIMD8<Int32> {
        let v = unsafeBitCast(p, to: SIMD8<Int32>.self)
        let s16 = SIMD8<Int32>(repeating: 16)
        return (v &+ (v &<< s16)) &>> s16
    }

    /// Products of elements 0…15 (`p0`) and 16…31 (`p1`) summed four at a time: lane k = elements 4k…4k+3,
    /// the lane layout of ggml's `mul_sum_us8_pairs_float` (maddubs + madd) on AVX2.
    @inline(__always)
    static func quadLanes(_ p0: SIMD16<Int16>, _ p1: SIMD16<Int16>) -> SIMD8<Int32> {
        let a = pairSum(p0), b = pairSum(p1)
        return SIMD8<Int32>(lowHalf: a.evenHalf &+ a.oddHalf, highHalf: b.evenHalf &+ b.oddHalf)
    }

    /// The lane totals of four vectors, `(Σa, Σb, Σc, Σd)`, in one transposed reduction (exact integers).
    @inline(__always)
    static func lanesTotals(_ a: SIMD8<Int32>, _ b: SIMD8<Int32>, _ c: SIMD8<Int32>, _ d: SIMD8<Int32>) -> SIMD4<Int32> {
        let ab = SIMD8(lowHalf: a.lowHalf &+ a.highHalf, highHalf: b.lowHalf &+ b.highHalf)
        let cd = SIMD8(lowHalf: c.lowHalf &+ c.highHalf, highHalf: d.lowHalf &+ d.highHalf)
        let s = SIMD8(lowHalf: ab.evenHalf &+ ab.oddHalf, highHalf: cd.evenHalf &+ cd.oddHalf)
        return s.evenHalf &+ s.oddHalf
    }

    /// 16 Int16 lanes → 16 Int32 lanes (two vpmovsxwd).
    @inline(__always)
    static func widen32(_ v: SIMD16<Int16>) -> SIMD16<Int32> {
        var r = SIMD16<Int32>()
        for i in 0..<16 { r[i] = Int32(v[i]) }
        return r
    }

    /// `vpmaddwd`: lane i = a[2i]·b[2i] + a[2i+1]·b[2i+1], exact in Int32. LLVM only forms the instruction from
    /// this shape (products of the full widened vectors, then even + odd lanes) and only when `a` and `b` are not
    /// themselves sign/zero-extended bytes — otherwise it moves the even/odd shuffles down to byte gathers. Hence
    /// `signedPairs`/`nibblePairs`, which split bytes with shifts on a plain 16-bit load.
    @inline(__always)
    static func madd(_ a: SIMD16<Int16>, _ b: SIMD16<Int16>) -> SIMD8<Int32> {
        let p = widen32(a) &* widen32(b)
        return p.evenHalf &+ p.oddHalf
    }

    /// 32 signed bytes at `p` as Int16 lanes: `even[i] = p[2i]`, `odd[i] = p[2i+1]` (one load, three shifts).
    @inline(__always)
    static func signedPairs(_ p: UnsafeRawPointer) -> (even: SIMD16<Int16>, odd: SIMD16<Int16>) {
        let v = p.loadUnaligned(as: SIMD16<Int16>.self)  // little-endian: lane i = p[2i] | p[2i+1] << 8
        let s8 = SIMD16<Int16>(repeating: 8)
        return ((v &<< s8) &>> s8, v &>> s8)
    }

    /// 16 bytes of packed nibbles at `p` (low nibbles = elements 0…15, high nibbles = elements 16…31) as Int16
    /// lanes: `even[i]` = element 2i, `odd[i]` = element 2i+1, values 0…15.
    @inline(__always)
    static func nibblePairs(_ p: UnsafeRawPointer) -> (even: SIMD16<Int16>, odd: SIMD16<Int16>) {
        let q = p.loadUnaligned(as: SIMD8<Int16>.self)
        let v = SIMD16<Int16>(lowHalf: q, highHalf: q &>> SIMD8<Int16>(repeating: 4))
        let m = SIMD16<Int16>(repeating: 0x0F)
        return (v & m, (v &>> SIMD16<Int16>(repeating: 8)) & m)
    }

    /// Σ over a 32-element block of w·x with w, x given as (even, odd) element lanes: lane k = elements
    /// 4k…4k+3 — ggml's AVX2 lane order (`maddubs` pairs, then `madd` with ones), so the float accumulation
    /// that follows is ggml's bit for bit.
    @inline(__always)
    static func quadDot(_ w: (even: SIMD16<Int16>, odd: SIMD16<Int16>),
                        _ x: (even: SIMD16<Int16>, odd: SIMD16<Int16>)) -> SIMD8<Int32> {
        madd(w.even, x.even) &+ madd(w.odd, x.odd)
    }

    /// Int32 lanes → Float lanes (vcvtdq2ps); exact below 2^24.
    @inline(__always)
    static func float(_ v: SIMD8<Int32>) -> SIMD8<Float> {
        var r = SIMD8<Float>()
        for i in 0..<8 { r[i] = Float(v[i]) }
        return r
    }

    /// 8 halves → 8 floats (vcvtph2ps).
    @inline(__always)
    static func widen(_ h: SIMD8<Float16>) -> SIMD8<Float> {
        var r = SIMD8<Float>()
        for i in 0..<8 { r[i] = Float(h[i]) }
        return r
    }

    /// Two fp16 scalars (at a and b) as floats, converted in one vcvtph2ps through a general register
    /// (scalar `Float(Float16)` makes LLVM insert into a stale vector register: a false dependency).
    @inline(__always)
    static func halves2(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer) -> SIMD8<Float> {
        let bits = UInt32(a.loadUnaligned(as: UInt16.self)) | UInt32(b.loadUnaligned(as: UInt16.self)) << 16
        return widen(unsafeBitCast(SIMD4<UInt32>(repeating: bits), to: SIMD8<Float16>.self))
    }

    /// Two fp16 pairs (a[0], a[1], b[0], b[1]) as lanes 0…3.
    @inline(__always)
    static func halves4(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer) -> SIMD8<Float> {
        let lo = a.loadUnaligned(as: UInt32.self), hi = b.loadUnaligned(as: UInt32.self)
        return widen(unsafeBitCast(SIMD4<UInt32>(lo, hi, lo, hi), to: SIMD8<Float16>.self))
    }

    /// For the `_1` formats: (d_w·d_x, m_w·s_x) from the fp16 pairs (d_w, m_w) at w and (d_x, s_x) at x, with
    /// one conversion and one vector multiply.
    @inline(__always)
    static func scaleAndOffset(_ w: UnsafeRawPointer, _ x: UnsafeRawPointer) -> SIMD2<Float> {
        let h = halves4(w, x).lowHalf  // d_w, m_w, d_x, s_x
        return (h * SIMD4(h[2], h[3], h[2], h[3])).lowHalf
    }

    /// One fp16 scalar as a float, through a vector conversion (see `halves2`).
    @inline(__always)
    static func half(_ a: UnsafeRawPointer) -> Float {
        let bits = UInt32(a.loadUnaligned(as: UInt16.self))
        return widen(unsafeBitCast(SIMD4<UInt32>(repeating: bits), to: SIMD8<Float16>.self))[0]
    }

    /// Horizontal sum in ggml's `hsum_float_8` order: (lo4 + hi4), then (0+2, 1+3), then the two.
    @inline(__always)
    static func hsum(_ v: SIMD8<Float>) -> Float {
        let q = v.lowHalf + v.highHalf
        let p = q.lowHalf + q.highHalf
        return p[0] + p[1]
    }

    /// ``hsum(_:)`` of four vectors at once, lane j = `hsum(vj)`: every lane sees exactly the additions of
    /// `hsum` (the same operand pairs; IEEE addition is commutative), so each result is bit-identical to it.
    /// Four horizontal sums share their shuffles and adds (~17 instructions instead of ~4 × 14).
    @inline(__always)
    static func hsum4(_ v0: SIMD8<Float>, _ v1: SIMD8<Float>, _ v2: SIMD8<Float>, _ v3: SIMD8<Float>) -> SIMD4<Float> {
        let q0 = v0.lowHalf + v0.highHalf, q1 = v1.lowHalf + v1.highHalf
        let q2 = v2.lowHalf + v2.highHalf, q3 = v3.lowHalf + v3.highHalf
        // [q0₀+q0₂, q0₁+q0₃, q1₀+q1₂, q1₁+q1₃] and the same for q2, q3.
        let p01 = SIMD4(q0[0], q0[1], q1[0], q1[1]) + SIMD4(q0[2], q0[3], q1[2], q1[3])
        let p23 = SIMD4(q2[0], q2[1], q3[0], q3[1]) + SIMD4(q2[2], q2[3], q3[2], q3[3])
        return SIMD4(p01[0], p01[2], p23[0], p23[2]) + SIMD4(p01[1], p01[3], p23[1], p23[3])
    }

    @inline(__always)
    static func splat(_ x: Int32) -> SIMD8<Int32> { SIMD8<Int32>(repeating: x) }

    @inline(__always)
    static func splat16(_ x: Int16) -> SIMD16<Int16> { SIMD16<Int16>(repeating: x) }
}
