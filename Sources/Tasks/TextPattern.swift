// Tasks: regular expressions searched as ICU searches them, on Swift Regex (no Foundation).

/// A pattern the span lexers and a schema's `pattern` search with: the leftmost match, top-level
/// alternatives tried in order at each position — what `NSRegularExpression` did before the module stopped
/// importing Foundation.
///
/// Swift Regex has no lookbehind. A negative lookbehind of one character class at the start of a top-level
/// alternative — `(?<![\w.-])\d+` — is checked by hand at each start position before the rest of the
/// alternative is tried there, which finds the same matches ICU finds. Lookbehind anywhere else is refused
/// with ``TextPatternError``. Cost: a pattern without lookbehind is one Swift Regex search; with one, a
/// prefix match is tried at each character of the text (texts here are short).
struct TextPattern: @unchecked Sendable {  // Regex<AnyRegexOutput> holds an immutable program.
    private struct Alternative {
        var body: Regex<AnyRegexOutput>
        /// The class of characters the match may not follow (its `(?<![…])`).
        var notAfter: Regex<AnyRegexOutput>?
    }

    /// The whole pattern, searched natively when no alternative has a lookbehind.
    private let whole: Regex<AnyRegexOutput>?
    private let alternatives: [Alternative]

    /// - Throws: ``TextPatternError`` for an invalid pattern or a lookbehind that is not at the start of a
    ///   top-level alternative.
    init(_ pattern: String, ignoringCase: Bool = false) throws(TextPatternError) {
        func compile(_ p: String) throws(TextPatternError) -> Regex<AnyRegexOutput> {
            do {
                let r = try Regex(p)
                return ignoringCase ? r.ignoresCase() : r
            } catch {
                throw TextPatternError(pattern: pattern, reason: "\(error)")
            }
        }
        let parts = TextPattern.topLevelAlternatives(pattern)
        var alts: [Alternative] = []
        var anyLookbehind = false
        for part in parts {
            var body = Substring(part), notAfter: Regex<AnyRegexOutput>?
            if body.hasPrefix("(?<!"), let close = TextPattern.groupEnd(body) {
                let inner = body[body.index(body.startIndex, offsetBy: 4)..<close]
                guard TextPattern.isSingleCharacterClass(inner) else {
                    throw TextPatternError(pattern: pattern, reason: "a lookbehind must be one character class, as (?<![\\w.-])")
                }
                notAfter = try compile(String(inner))
                body = body[body.index(after: close)...]
                anyLookbehind = true
            }
            if body.contains("(?<!") || body.contains("(?<=") {
                throw TextPatternError(pattern: pattern, reason: "lookbehind is supported only at the start of an alternative")
            }
            alts.append(Alternative(body: try compile(String(body)), notAfter: notAfter))
        }
        alternatives = alts
        whole = anyLookbehind ? nil : try compile(pattern)
    }

    /// The ranges of every non-overlapping match, left to right.
    func ranges(in text: String) -> [Range<String.Index>] {
        if let whole { return text.matches(of: whole).map(\.range) }
        var out: [Range<String.Index>] = []
        var i = text.startIndex
        while true {
            if let r = match(in: text, at: i) {
                out.append(r)
                if !r.isEmpty { i = r.upperBound; continue }
            }
            guard i < text.endIndex else { return out }
            i = text.index(after: i)
        }
    }

    /// The text of every match.
    func matches(in text: String) -> [String] { ranges(in: text).map { String(text[$0]) } }

    /// Whether the pattern matches somewhere in `text` (JSON Schema's `pattern` semantics).
    func isFound(in text: String) -> Bool {
        if let whole { return text.contains(whole) }
        var i = text.startIndex
        while true {
            if match(in: text, at: i) != nil { return true }
            guard i < text.endIndex else { return false }
            i = text.index(after: i)
        }
    }

    /// Whether all of `text` matches (one alternative from start to end).
    func matchesWhole(_ text: String) -> Bool {
        if let whole { return text.wholeMatch(of: whole) != nil }
        return alternatives.contains { text.wholeMatch(of: $0.body) != nil }
    }

    /// The first alternative that matches starting exactly at `i`.
    private func match(in text: String, at i: String.Index) -> Range<String.Index>? {
        for alt in alternatives {
            if let notAfter = alt.notAfter, i > text.startIndex,
               String(text[text.index(before: i)]).wholeMatch(of: notAfter) != nil { continue }
            if let m = text[i...].prefixMatch(of: alt.body) { return m.range }
        }
        return nil
    }

    // MARK: - Pattern structure

    /// `pattern` split at its top-level `|` (not inside groups, classes or escapes).
    static func topLevelAlternatives(_ pattern: String) -> [String] {
        var parts: [String] = [], current = "", depth = 0, inClass = false, escaped = false
        for c in pattern {
            if escaped { current.append(c); escaped = false; continue }
            switch c {
            case "\\": escaped = true
            case "[" where !inClass: inClass = true
            case "]" where inClass: inClass = false
            case "(" where !inClass: depth += 1
            case ")" where !inClass: depth -= 1
            case "|" where !inClass && depth == 0:
                parts.append(current); current = ""; continue
            default: break
            }
            current.append(c)
        }
        parts.append(current)
        return parts
    }

    /// The index of the `)` that closes the group opening `s`.
    static func groupEnd(_ s: Substring) -> Substring.Index? {
        var depth = 0, inClass = false, escaped = false
        for i in s.indices {
            let c = s[i]
            if escaped { escaped = false; continue }
            switch c {
            case "\\": escaped = true
            case "[" where !inClass: inClass = true
            case "]" where inClass: inClass = false
            case "(" where !inClass: depth += 1
            case ")" where !inClass:
                depth -= 1
                if depth == 0 { return i }
            default: break
            }
        }
        return nil
    }

    /// `[…]` (one class) or one escape such as `\w`: what matches exactly one character.
    static func isSingleCharacterClass(_ s: Substring) -> Bool {
        if s.count == 2, s.first == "\\" { return true }
        guard s.first == "[", s.last == "]", s.count > 2 else { return false }
        let inner = s.dropFirst().dropLast()
        var escaped = false
        for c in inner {
            if escaped { escaped = false; continue }
            if c == "\\" { escaped = true } else if c == "[" || c == "]" { return false }
        }
        return true
    }
}

/// A pattern Swift Regex cannot compile, or a lookbehind ``TextPattern`` cannot emulate.
struct TextPatternError: Error, CustomStringConvertible {
    var pattern: String
    var reason: String
    var description: String { "\(reason) (pattern \(pattern))" }
}
