// add, mul, scale: one rounded operation per element, so the SIMD versions equal the references bitwise.

extension Ops {
    /// y = a + b elementwise (SIMD). `y` may alias `a` or `b`. - Complexity: O(count).
    public static func add(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                           _ y: UnsafeMutablePointer<Float>, count: Int) {
        var i = 0
        while i + 8 <= count {
            Lane.store8(Lane.load8(a, i) + Lane.load8(b, i), y, i)
            i += 8
        }
        while i < count {
            y[i] = a[i] + b[i]
            i += 1
        }
    }

    /// Scalar twin of `add`.
    public static func add_reference(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                                     _ y: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<max(count, 0) { y[i] = a[i] + b[i] }
    }

    /// y = a · b elementwise (SIMD). `y` may alias `a` or `b`. - Complexity: O(count).
    public static func mul(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                           _ y: UnsafeMutablePointer<Float>, count: Int) {
        var i = 0
        while i + 8 <= count {
            Lane.store8(Lane.load8(a, i) * Lane.load8(b, i), y, i)
            i += 8
        }
        while i < count {
            y[i] = a[i] * b[i]
            i += 1
        }
    }

    /// Scalar twin of `mul`.
    public static func mul_reference(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                                     _ y: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<max(count, 0) { y[i] = a[i] * b[i] }
    }

    /// y = x · s (SIMD; ggml_vec_scale_f32). `y` may alias `x`. - Complexity: O(count).
    public static func scale(_ x: UnsafePointer<Float>, by s: Float, _ y: UnsafeMutablePointer<Float>, count: Int) {
        let sv = SIMD8<Float>(repeating: s)
        var i = 0
        while i + 8 <= count {
            Lane.store8(Lane.load8(x, i) * sv, y, i)
            i += 8
        }
        while i < count {
            y[i] = x[i] * s
            i += 1
        }
    }

    /// Scalar twin of `scale`.
    public static func scale_reference(_ x: UnsafePointer<Float>, by s: Float, _ y: UnsafeMutablePointer<Float>,
                                       count: Int) {
        for i in 0..<max(count, 0) { y[i] = x[i] * s }
    }
}
