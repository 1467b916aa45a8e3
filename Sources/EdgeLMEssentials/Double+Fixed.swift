// Fixed-point text for numbers shown to people (what `String(format: "%.2f")` gave through Foundation).

extension BinaryFloatingPoint {
    /// `decimals` digits after the point, as C's `%.Nf` prints them: `(2.0 / 3).fixed(2)` is `"0.67"`.
    /// Cost: one `snprintf`.
    package func fixed(_ decimals: Int) -> String {
        String(printf: "%.\(max(0, decimals))f", Double(self))
    }
}
