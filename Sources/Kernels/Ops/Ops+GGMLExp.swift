// ggml's vectorised expf (ggml_v_expf, the AVX2 version in ggml-cpu/vec.h), operation for operation, so softmax
// and SiLU match llama.cpp's CPU backend bit for bit.

extension Ops {
    /// ggml's vectorised `expf` (`ggml_v_expf`, AVX2 version), bit for bit: ~1.5 ulp, exp(-inf) = 0.
    @inline(__always)
    public static func exp8(_ x: SIMD8<Float>) -> SIMD8<Float> {
        typealias V = SIMD8<Float>
        typealias U = SIMD8<UInt32>
        let r = V(repeating: 0x1.8p23)
        let z = r.addingProduct(x, V(repeating: 0x1.715476p+0))
        let n = z - r
        let b = x.addingProduct(-n, V(repeating: 0x1.62e4p-1)).addingProduct(-n, V(repeating: 0x1.7f7d1cp-20))
        let e = unsafeBitCast(z, to: U.self) &<< U(repeating: 23)
        let k = unsafeBitCast(e &+ unsafeBitCast(V(repeating: 1), to: U.self), to: V.self)
        let u = b * b
        let inner1 = V(repeating: 0x1.573e2ep-5).addingProduct(V(repeating: 0x1.0e4020p-7), b)
        let inner2 = V(repeating: 0x1.fffdb6p-2).addingProduct(V(repeating: 0x1.555e66p-3), b)
        let j = (V(repeating: 0x1.ffffecp-1) * b).addingProduct(inner2.addingProduct(inner1, u), u)
        var slow = false
        for lane in 0..<8 where abs(n[lane]) > 126 { slow = true }
        if !slow { return k.addingProduct(j, k) }
        var out = V()
        for lane in 0..<8 {
            let nl = n[lane]
            let g: UInt32 = nl <= 0 ? 0x8200_0000 : 0
            let s1 = Float(bitPattern: g &+ 0x7F00_0000)
            let s2 = Float(bitPattern: e[lane] &- g)
            if abs(nl) > 192 {
                out[lane] = s1 * s1
            } else if abs(nl) > 126 {
                out[lane] = s2.addingProduct(s2, j[lane]) * s1
            } else {
                out[lane] = k[lane].addingProduct(k[lane], j[lane])
            }
        }
        return out
    }
}
