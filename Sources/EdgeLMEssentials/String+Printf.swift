// printf-style formatting for the CLI's human-readable lines (what `String(format:)` did through Foundation).

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

extension String {
    /// `format` with its `%` conversions filled from `arguments` in order, as C's printf does for numbers
    /// (`%d`, `%5.1f`, `%.4g`, `%x`, …: each is formatted by `snprintf` with one integer or `Double` argument)
    /// and `%@` / `%s` for any value's description (width and `-` honoured). `%%` is a percent sign. A missing
    /// argument prints as nothing. Cost: one `snprintf` per numeric conversion.
    package init(printf format: String, _ arguments: Any...) {
        self = Self.printf(format, arguments)
    }

    private static func printf(_ format: String, _ arguments: [Any]) -> String {
        var out = "", args = arguments.makeIterator()
        var chars = format.unicodeScalars.makeIterator()
        while let c = chars.next() {
            guard c == "%" else { out.unicodeScalars.append(c); continue }
            var spec = "%"
            var conversion: Unicode.Scalar?
            while let s = chars.next() {
                if "diouxXcfFeEgGaAs@%".unicodeScalars.contains(s) { conversion = s; break }
                if s != "l" && s != "h" && s != "q" && s != "z" && s != "j" { spec.unicodeScalars.append(s) }
            }
            guard let conversion else { out += spec; break }
            switch conversion {
            case "%": out += "%"
            case "s", "@":
                let text = args.next().map { String(describing: $0) } ?? ""
                let left = spec.contains("-")
                let width = Int(spec.dropFirst().drop { "-+ #0".contains($0) }.prefix { $0.isNumber }) ?? 0
                let pad = String(repeating: " ", count: Swift.max(0, width - text.count))
                out += left ? text + pad : pad + text
            case "d", "i", "o", "u", "x", "X", "c":
                let value = args.next().flatMap { $0 as? any BinaryInteger }.map { Int64(truncatingIfNeeded: $0) } ?? 0
                out += cFormat(spec + "ll" + String(conversion), value)
            default:
                let any = args.next()
                let value = (any as? any BinaryFloatingPoint).map { Double($0) }
                    ?? (any as? any BinaryInteger).map { Double($0) } ?? 0
                out += cFormat(spec + String(conversion), value)
            }
        }
        return out
    }

    private static func cFormat(_ spec: String, _ value: any CVarArg) -> String {
        var buffer = [CChar](repeating: 0, count: 128)
        let n = withVaList([value]) { vsnprintf(&buffer, buffer.count, spec, $0) }
        if n >= buffer.count {
            buffer = [CChar](repeating: 0, count: Int(n) + 1)
            _ = withVaList([value]) { vsnprintf(&buffer, buffer.count, spec, $0) }
        }
        return String(cString: buffer)
    }
}
