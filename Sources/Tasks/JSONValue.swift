// Tasks: a small ordered JSON value type with a strict parser (RFC 8259) and a compact serializer.

import EdgeLMEssentials

/// A JSON value. Objects keep their key order (the order the model wrote them in).
public enum JSONValue: Sendable, Equatable, CustomStringConvertible {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])

    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case (.bool(let x), .bool(let y)): return x == y
        case (.number(let x), .number(let y)): return x == y
        case (.string(let x), .string(let y)): return x == y
        case (.array(let x), .array(let y)): return x == y
        case (.object(let x), .object(let y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: return false
        }
    }

    /// The member named `key` of an object (nil for other values or a missing key).
    public subscript(key: String) -> JSONValue? {
        if case .object(let members) = self { return members.first { $0.0 == key }?.1 }
        return nil
    }

    /// Compact JSON text (no insignificant whitespace; integers without a fraction).
    public var description: String { var s = ""; write(to: &s); return s }

    func write(to out: inout String) {
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .number(let d):
            if d == d.rounded(), abs(d) < 1e15 { out += String(Int64(d)) } else { out += String(d) }
        case .string(let s): JSONValue.writeString(s, to: &out)
        case .array(let a):
            out += "["
            for (i, v) in a.enumerated() { if i > 0 { out += "," }; v.write(to: &out) }
            out += "]"
        case .object(let o):
            out += "{"
            for (i, (k, v)) in o.enumerated() {
                if i > 0 { out += "," }
                JSONValue.writeString(k, to: &out); out += ":"; v.write(to: &out)
            }
            out += "}"
        }
    }

    static func writeString(_ s: String, to out: inout String) {
        out += "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where u.value < 0x20:
                let hex = String(u.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(u)
            }
        }
        out += "\""
    }

    // MARK: - Parsing

    /// Parses JSON text strictly (one value, optional surrounding whitespace).
    /// - Throws: ``TasksError/invalidSchema(_:)`` naming the byte offset of the first error.
    public static func parse(_ text: String) throws -> JSONValue {
        try parse(Array(text.utf8))
    }

    /// Parses JSON bytes strictly. - Complexity: O(n).
    public static func parse(_ bytes: [UInt8]) throws -> JSONValue {
        var p = Parser(b: bytes)
        p.skipSpace()
        let v = try p.value(depth: 0)
        p.skipSpace()
        guard p.i == bytes.count else { throw p.fail("trailing characters") }
        return v
    }

    struct Parser {
        let b: [UInt8]
        var i = 0

        func fail(_ what: String) -> TasksError { .invalidSchema("JSON parse error at byte \(i): \(what)") }

        mutating func skipSpace() {
            while i < b.count, b[i] == 0x20 || b[i] == 0x0A || b[i] == 0x0D || b[i] == 0x09 { i += 1 }
        }

        mutating func literal(_ s: String, _ v: JSONValue) throws -> JSONValue {
            let u = Array(s.utf8)
            guard i + u.count <= b.count, Array(b[i..<i + u.count]) == u else { throw fail("expected \(s)") }
            i += u.count
            return v
        }

        mutating func value(depth: Int) throws -> JSONValue {
            guard depth < 256 else { throw fail("nesting too deep") }
            guard i < b.count else { throw fail("unexpected end") }
            switch b[i] {
            case UInt8(ascii: "n"): return try literal("null", .null)
            case UInt8(ascii: "t"): return try literal("true", .bool(true))
            case UInt8(ascii: "f"): return try literal("false", .bool(false))
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "["):
                i += 1; skipSpace()
                var a: [JSONValue] = []
                if i < b.count, b[i] == UInt8(ascii: "]") { i += 1; return .array(a) }
                while true {
                    skipSpace(); a.append(try value(depth: depth + 1)); skipSpace()
                    guard i < b.count else { throw fail("unterminated array") }
                    if b[i] == UInt8(ascii: ",") { i += 1; continue }
                    if b[i] == UInt8(ascii: "]") { i += 1; return .array(a) }
                    throw fail("expected , or ]")
                }
            case UInt8(ascii: "{"):
                i += 1; skipSpace()
                var o: [(String, JSONValue)] = []
                if i < b.count, b[i] == UInt8(ascii: "}") { i += 1; return .object(o) }
                while true {
                    skipSpace()
                    guard i < b.count, b[i] == UInt8(ascii: "\"") else { throw fail("expected a key") }
                    let k = try string(); skipSpace()
                    guard i < b.count, b[i] == UInt8(ascii: ":") else { throw fail("expected :") }
                    i += 1; skipSpace()
                    o.append((k, try value(depth: depth + 1))); skipSpace()
                    guard i < b.count else { throw fail("unterminated object") }
                    if b[i] == UInt8(ascii: ",") { i += 1; continue }
                    if b[i] == UInt8(ascii: "}") { i += 1; return .object(o) }
                    throw fail("expected , or }")
                }
            default:
                return .number(try number())
            }
        }

        mutating func number() throws -> Double {
            let start = i
            if i < b.count, b[i] == UInt8(ascii: "-") { i += 1 }
            func digits(_ p: inout Parser) -> Int {
                let s = p.i
                while p.i < p.b.count, p.b[p.i] >= 0x30, p.b[p.i] <= 0x39 { p.i += 1 }
                return p.i - s
            }
            guard i < b.count else { throw fail("bad number") }
            if b[i] == UInt8(ascii: "0") { i += 1 } else { guard digits(&self) > 0 else { throw fail("bad number") } }
            if i < b.count, b[i] == UInt8(ascii: ".") { i += 1; guard digits(&self) > 0 else { throw fail("bad fraction") } }
            if i < b.count, b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E") {
                i += 1
                if i < b.count, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") { i += 1 }
                guard digits(&self) > 0 else { throw fail("bad exponent") }
            }
            guard let d = Double(String(decoding: b[start..<i], as: UTF8.self)) else { throw fail("bad number") }
            return d
        }

        mutating func string() throws -> String {
            i += 1  // opening quote
            var out: [UInt8] = []
            while true {
                guard i < b.count else { throw fail("unterminated string") }
                let c = b[i]
                if c == UInt8(ascii: "\"") { i += 1; break }
                if c < 0x20 { throw fail("control character in string") }
                if c == UInt8(ascii: "\\") {
                    i += 1
                    guard i < b.count else { throw fail("bad escape") }
                    switch b[i] {
                    case UInt8(ascii: "\""): out.append(0x22)
                    case UInt8(ascii: "\\"): out.append(0x5C)
                    case UInt8(ascii: "/"): out.append(0x2F)
                    case UInt8(ascii: "b"): out.append(0x08)
                    case UInt8(ascii: "f"): out.append(0x0C)
                    case UInt8(ascii: "n"): out.append(0x0A)
                    case UInt8(ascii: "r"): out.append(0x0D)
                    case UInt8(ascii: "t"): out.append(0x09)
                    case UInt8(ascii: "u"):
                        guard i + 4 < b.count, let v = UInt32(String(decoding: b[(i + 1)...(i + 4)], as: UTF8.self), radix: 16)
                        else { throw fail("bad \\u escape") }
                        i += 4
                        // Surrogate pairs are combined; a lone surrogate is an error.
                        var scalarValue = v
                        if (0xD800..<0xDC00).contains(v) {
                            guard i + 6 < b.count, b[i + 1] == 0x5C, b[i + 2] == UInt8(ascii: "u"),
                                  let lo = UInt32(String(decoding: b[(i + 3)...(i + 6)], as: UTF8.self), radix: 16),
                                  (0xDC00..<0xE000).contains(lo) else { throw fail("lone surrogate") }
                            scalarValue = 0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00)
                            i += 6
                        }
                        guard let u = Unicode.Scalar(scalarValue) else { throw fail("lone surrogate") }
                        out += Array(String(Character(u)).utf8)
                    default: throw fail("bad escape")
                    }
                    i += 1
                    continue
                }
                out.append(c); i += 1
            }
            guard let s = String(validating: out, as: UTF8.self) else { throw fail("invalid UTF-8 in string") }
            return s
        }
    }
}


// MARK: - Documents built from Swift values

extension JSONValue {
    /// A JSON document written as Swift values: `[String: Any]` (keys sorted when `sortingKeys`), `[Any]`,
    /// `String`, `Substring`, `Bool`, integers, `Double`, `Float` (its shortest decimal form), `JSONValue`, and
    /// `nil` (an `Optional` that is empty) for `null`. Other values are written as their description string.
    /// This is what `JSONSerialization` did for the CLI and the server before the modules stopped importing
    /// Foundation. Cost: one pass over the tree.
    public init(document value: Any, sortingKeys: Bool = true) {
        switch value {
        case let v as JSONValue: self = v
        case let v as String: self = .string(v)
        case let v as Substring: self = .string(String(v))
        case let v as Bool: self = .bool(v)
        case let v as Int: self = .number(Double(v))
        case let v as Int32: self = .number(Double(v))
        case let v as Int64: self = .number(Double(v))
        case let v as UInt32: self = .number(Double(v))
        case let v as UInt64: self = .number(Double(v))
        case let v as Double: self = v.isFinite ? .number(v) : .null
        case let v as Float: self = v.isFinite ? .number(Double("\(v)") ?? Double(v)) : .null
        case let v as [String: Any]:
            let members = v.map { ($0.key, JSONValue(document: $0.value, sortingKeys: sortingKeys)) }
            self = .object(sortingKeys ? members.sorted { $0.0 < $1.0 } : members)
        case let v as [Any]: self = .array(v.map { JSONValue(document: $0, sortingKeys: sortingKeys) })
        default:
            let mirror = Mirror(reflecting: value)
            if mirror.displayStyle == .optional {
                self = mirror.children.first.map { JSONValue(document: $0.value, sortingKeys: sortingKeys) } ?? .null
            } else {
                self = .string("\(value)")
            }
        }
    }

    /// Indented JSON text, two spaces per level and `"key" : value` (the layout of Foundation's
    /// `.prettyPrinted`).
    public var prettyText: String { var s = ""; writePretty(to: &s, indent: 0); return s }

    private func writePretty(to out: inout String, indent: Int) {
        let pad = String(repeating: "  ", count: indent + 1), end = String(repeating: "  ", count: indent)
        switch self {
        case .array(let a) where !a.isEmpty:
            out += "[\n"
            for (i, v) in a.enumerated() {
                out += pad; v.writePretty(to: &out, indent: indent + 1); out += i + 1 < a.count ? ",\n" : "\n"
            }
            out += end + "]"
        case .object(let o) where !o.isEmpty:
            out += "{\n"
            for (i, (k, v)) in o.enumerated() {
                out += pad; JSONValue.writeString(k, to: &out); out += " : "
                v.writePretty(to: &out, indent: indent + 1); out += i + 1 < o.count ? ",\n" : "\n"
            }
            out += end + "}"
        default: write(to: &out)
        }
    }
}
