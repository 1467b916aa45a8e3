// Fixed-point text for numbers shown to people (what `String(format: "%.2f")` gave through Foundation).

extension BinaryFloatingPoint {
    /// `decimals` digits after the point, rounded half away from zero: `(2.0 / 3).fixed(2)` is `"0.67"`.
    /// Non-finite values print as Swift does (`nan`, `inf`, `-inf`); values too large for 64-bit fixed
    /// point print in Swift's shortest form. Cost: a few integer divisions.
    package func fixed(_ decimals: Int) -> String {
        let x = Double(self)
        guard x.isFinite else { return "\(x)" }
        var scale: Int64 = 1
        for _ in 0..<max(0, decimals) { scale *= 10 }
        let scaled = (x.magnitude * Double(scale)).rounded()
        guard scaled < 9.0e15 else { return "\(x)" }
        let n = Int64(scaled)
        let whole = n / scale, frac = n % scale
        let sign = x < 0 && n != 0 ? "-" : ""
        guard decimals > 0 else { return sign + String(whole) }
        let digits = String(frac)
        return sign + String(whole) + "." + String(repeating: "0", count: decimals - digits.count) + digits
    }
}

extension String {
    /// The text right-aligned in `width` columns (`%5s`); longer text is returned whole.
    package func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}
