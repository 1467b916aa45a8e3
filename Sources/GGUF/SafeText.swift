// SafeText: file-derived strings made safe to put in an error message or on a terminal.

/// Quoting of untrusted text (GGUF keys, tensor names, manifest fields) for messages.
///
/// A hostile file can hold a 30 MB key or one made of terminal escape sequences; messages quote such text
/// through ``quote(_:limit:)``, which escapes control characters and truncates, so an error is always short
/// and never drives the terminal.
public enum SafeText {
    /// Default byte budget of a quoted string (before escaping).
    public static let defaultLimit = 64

    /// `text` with control characters (C0, DEL, C1, and the Unicode line/paragraph separators and bidi
    /// overrides) written as `\xNN` / `\u{NNNN}`, truncated to about `limit` UTF-8 bytes with a
    /// `…(+N bytes)` marker saying how much was cut.
    /// - Complexity: O(min(text length, limit)); never walks a huge string past the budget.
    public static func quote(_ text: String, limit: Int = defaultLimit) -> String {
        var out = ""
        var used = 0
        var consumed = 0
        for scalar in text.unicodeScalars {
            let width = UTF8.width(scalar)
            if used + width > limit { break }
            used += width
            consumed += width
            out += escaped(scalar)
        }
        let total = text.utf8.count
        if consumed < total { out += "…(+\(total - consumed) bytes)" }
        return out
    }

    /// True when `scalar` must not reach a terminal verbatim.
    public static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        let v = scalar.value
        return v < 0x20 || (0x7F...0x9F).contains(v) || v == 0x2028 || v == 0x2029
            || (0x202A...0x202E).contains(v) || (0x2066...0x2069).contains(v)
    }

    /// `text` with every control character escaped (no truncation): for whole messages that are already
    /// bounded. Tabs and newlines are escaped too, so the result is one line.
    public static func escapeControls(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: isControl) else { return text }
        var out = ""
        for s in text.unicodeScalars { out += escaped(s) }
        return out
    }

    private static func escaped(_ s: Unicode.Scalar) -> String {
        guard isControl(s) else { return String(s) }
        let hex = String(s.value, radix: 16, uppercase: true)
        return s.value <= 0xFF ? "\\x" + (hex.count < 2 ? "0" + hex : hex) : "\\u{\(hex)}"
    }
}
