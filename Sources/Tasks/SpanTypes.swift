// Tasks: typed span fields — a field that should hold an email address (a phone number, a date, …) may only
// copy a span of the input that *is* one. A lexer finds the candidate spans of each type in the input; the
// constrained decoder then chooses among them (or `null` when the text has none).

import EdgeLMEssentials

/// The kind of value a typed field holds. Its candidates are the spans of the input ``SpanLexer`` finds.
public enum SpanType: String, Sendable, Codable, CaseIterable, Equatable {
    /// `name@domain.tld`.
    case email
    /// 7–15 digits with the usual separators (`+1 415 555 0199`, `(206) 555-0147`, `555-0134`).
    case phone
    /// `http(s)://…`, `www.…`, or a bare domain (`x.io`, `shop.example.com/path`).
    case url
    /// A calendar expression: ISO and numeric dates, month-name dates (`March 14`, `12 May 2025`,
    /// `October 21st`), weekdays with `next`/`this`/`last`/`every` (`next Monday`, `Saturday, June 8`), and
    /// `today`/`tomorrow`/`tonight`/`yesterday`.
    case date
    /// A clock time: `9:30`, `9:30 am`, `3 pm`, `8:00 p.m.`, `17:00 CET`, `noon`, `midnight`.
    case time
    /// A date, a time, or a date followed by a time (`March 14 at 9:30 am`).
    case dateTime = "date-time"
    /// A code of at least 3 characters that holds a digit: `A1023`, `B-7781`, `4410-C`, `55812` (order numbers, references, SKUs).
    case identifier
    /// A run of capitalised words (`Grace Hopper`, `J. R. R. Tolkien`, `Litware Inc.`): names of people and
    /// organisations.
    case properName = "proper-name"
    /// A number written in the text (for `number` / `integer` fields): `2`, `24.99`, `$1,299.99` → `1299.99`.
    case number

    /// The type a JSON Schema `format` names (`email`, `uri`, `date`, …), nil for a format EdgeLM does not type.
    public static func forFormat(_ format: String) -> SpanType? {
        switch format {
        case "email", "idn-email": return .email
        case "uri", "url", "iri", "uri-reference", "iri-reference", "hostname", "idn-hostname": return .url
        case "date": return .date
        case "time": return .time
        case "date-time": return .dateTime
        case "phone", "tel": return .phone
        default: return nil
        }
    }

    /// The formats ``forFormat(_:)`` accepts (for error messages).
    public static let formats = ["email", "idn-email", "uri", "url", "iri", "uri-reference", "iri-reference", "hostname",
                                 "idn-hostname", "date", "time", "date-time", "phone", "tel"]

    /// The type a property's *name* suggests (``SpanTypePolicy/auto`` only): the name is split into words
    /// (`contact_email`, `phoneNumber`, `order-id`) and read in this order — email/mail → email;
    /// phone/tel/telephone/mobile/cell/fax → phone; url/uri/website/homepage/link → url; datetime/timestamp, or
    /// both date and time → date-time; date/day/birthday/dob/deadline → date; time/hour → time;
    /// id/ref/reference/code/sku/number/no/num → identifier; company/organization/organisation/org/employer/
    /// business/firm/vendor/brand → proper name; a person's name (`name` alone, or name/person/author/contact/
    /// customer/sender/recipient with only first/last/full/given/family/middle/contact/person around it) →
    /// proper name. Anything else (product, event, location, title, …) is untyped: any span.
    public static func forName(_ name: String) -> SpanType? {
        let words = Set(nameWords(name))
        func has(_ ws: String...) -> Bool { ws.contains { words.contains($0) } }
        if has("email", "mail", "emails") || words.contains("e") && words.contains("mail") { return .email }
        if has("phone", "telephone", "tel", "mobile", "cell", "fax", "phones") { return .phone }
        if has("url", "uri", "website", "homepage", "link", "web") { return .url }
        if has("datetime", "timestamp") || has("date") && has("time") { return .dateTime }
        if has("date", "day", "birthday", "dob", "deadline") { return .date }
        if has("time", "hour") { return .time }
        if has("id", "ref", "reference", "code", "sku", "number", "no", "num") { return .identifier }
        if has("company", "organization", "organisation", "org", "employer", "business", "firm", "vendor", "brand") {
            return .properName
        }
        let personal: Set<String> = ["name", "person", "author", "contact", "customer", "sender", "recipient"]
        let around: Set<String> = personal.union(["first", "last", "full", "given", "family", "middle", "s"])
        if !words.isDisjoint(with: personal) && words.isSubset(of: around) { return .properName }
        return nil
    }

    /// A property name as lower-case words: split at `_ - . /`, spaces, lower→upper and letter↔digit changes.
    static func nameWords(_ name: String) -> [String] {
        var words: [String] = []
        var cur = ""
        var prev: Character? = nil
        for c in name {
            if !(c.isLetter || c.isNumber) {
                if !cur.isEmpty { words.append(cur) }
                cur = ""; prev = nil; continue
            }
            if let p = prev, (p.isLowercase && c.isUppercase) || (p.isLetter != c.isLetter) {
                words.append(cur); cur = ""
            }
            cur.append(c); prev = c
        }
        if !cur.isEmpty { words.append(cur) }
        return words.map { $0.lowercased() }
    }
}

/// Which fields are typed (their values restricted to candidates of a ``SpanType`` found in the input).
public enum SpanTypePolicy: String, Sendable, Codable, CaseIterable {
    /// What the schema says (`format`, `pattern`, `"x-edgelm-type"`) and, for fields it says nothing about, the
    /// type the property name suggests (``SpanType/forName(_:)``); number fields take numbers of the text.
    case auto
    /// Only what the schema says (`format`, `pattern`, `"x-edgelm-type"`).
    case schema
    /// No typing: span fields accept any span of the input (`pattern` is still honoured).
    case off
}

/// Finds the candidate spans of each ``SpanType`` in a text.
public enum SpanLexer {
    /// The spans of `text` that are values of `type`, in order of first appearance, without duplicates.
    /// Every candidate is a substring of `text` that neither starts nor ends with whitespace.
    public static func candidates(_ type: SpanType, in text: String) -> [String] {
        var out: [String] = []
        switch type {
        case .email: out = emailPattern.matches(in: text)
        case .url: out = urls(text)
        case .phone: out = phones(text)
        case .date: out = dates(text)
        case .time: out = times(text)
        case .dateTime: out = dateTimes(text)
        case .identifier: out = identifiers(text)
        case .properName: out = properNames(text)
        case .number: out = numbers(text).map(\.text)
        }
        var seen = Set<String>()
        return out.filter { !$0.isEmpty && $0.first?.isWhitespace == false && $0.last?.isWhitespace == false && seen.insert($0).inserted }
    }

    /// The spans of `text` a `pattern` (ICU regular expression, as JSON Schema's `pattern`) finds: every match,
    /// kept when the match itself satisfies the pattern (a search, as a validator checks it).
    /// Anchors refer to the value, not the text: a leading `^` / trailing `$` are searched as word edges.
    public static func candidates(pattern: String, in text: String) throws -> [String] {
        let re = try TextPattern(pattern)
        var search = pattern
        if search.hasPrefix("^") { search = "(?<![\\w])(?:" + search.dropFirst() + ")" } else { search = "(?:" + search + ")" }
        if search.hasSuffix("$)"), !search.hasSuffix("\\$)") { search = search.dropLast(2) + ")(?![\\w])" }
        let finder = (try? TextPattern(search)) ?? re
        var seen = Set<String>()
        return finder.matches(in: text).filter { s in
            !s.isEmpty && s.first?.isWhitespace == false && s.last?.isWhitespace == false
                && re.isFound(in: s) && seen.insert(s).inserted
        }
    }

    // MARK: - Lexers

    /// The lexers' own patterns: valid by construction (the tests compile every one).
    static func regex(_ p: String, ignoringCase: Bool = false) -> TextPattern {
        try! TextPattern(p, ignoringCase: ignoringCase)
    }

    static let emailPattern = regex(#"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"#)

    static let urlPattern = regex(#"(?:https?://|www\.)[^\s<>"'|]+|(?<![@\w.-])[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?:/[^\s<>"'|]*)?"#)

    static func urls(_ text: String) -> [String] {
        urlPattern.matches(in: text).map { s in
            var s = Substring(s)
            while let l = s.last, ".,;:!?)".contains(l) { s = s.dropLast() }
            return String(s)
        }.filter { s in
            if s.hasPrefix("http") || s.hasPrefix("www.") { return true }
            // A bare domain: at least two labels, the last one letters only (not `p.m` or `e.g`).
            let labels = (s.split(separator: "/").first ?? "").split(separator: ".")
            guard labels.count >= 2, let tld = labels.last else { return false }
            return tld.count >= 2 && tld.allSatisfy(\.isLetter)
        }
    }

    static let phonePattern = regex(#"(?<![\w.+-])(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,5}\)[ .-]?)?\d{1,5}(?:[ .-]\d{1,5}){0,5}(?![\w]|[.-]\d)"#)

    /// Dates (2025-02-03, 03.02.2025) and decimal numbers, which the phone pattern also finds.
    static let notPhonePattern = regex(#"\d{4}-\d{2}-\d{2}|\d{1,2}[./]\d{1,2}[./]\d{2,4}|\d+\.\d+"#)

    static func phones(_ text: String) -> [String] {
        phonePattern.matches(in: text).filter { s in
            let digits = s.filter(\.isNumber).count
            guard digits >= 7, digits <= 15 else { return false }
            // Not a date (2025-02-03, 03.02.2025) nor a decimal number.
            if notPhonePattern.matchesWhole(s) { return false }
            return s.contains(where: { " -.()+".contains($0) }) || digits >= 7
        }
    }

    static let months = "January|February|March|April|May|June|July|August|September|October|November|December|Jan\\.?|Feb\\.?|Mar\\.?|Apr\\.?|Jun\\.?|Jul\\.?|Aug\\.?|Sept?\\.?|Oct\\.?|Nov\\.?|Dec\\.?"
    static let weekdays = "Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday|Mon\\.?|Tue\\.?|Tues\\.?|Wed\\.?|Thu\\.?|Thurs\\.?|Fri\\.?|Sat\\.?|Sun\\.?"
    static let ordinal = "\\d{1,2}(?:st|nd|rd|th)?"
    static var monthDate: String { "(?:(?:\(months))\\s+\(ordinal)(?:,?\\s+\\d{4})?|\(ordinal)\\s+(?:of\\s+)?(?:\(months))(?:,?\\s+\\d{4})?|(?:\(months))\\s+\\d{4})" }
    static let datePatterns: [TextPattern] = {
        [
            regex(#"\b\d{4}-\d{2}-\d{2}\b|\b\d{1,2}[./]\d{1,2}[./]\d{2,4}\b"#),
            regex("\\b\(monthDate)\\b(?!\\w)", ignoringCase: true),
            regex("\\b(?:(?:next|this|last|every)\\s+)?(?:\(weekdays))\\b(?:,?\\s+\(monthDate))?", ignoringCase: true),
            regex("\\b(?:\(weekdays))\\b(?:,?\\s+\(monthDate))?", ignoringCase: true),
            regex("\\b(?:\(weekdays))\\b", ignoringCase: true),
            regex("\\b(?:today|tomorrow|tonight|yesterday|(?:next|this|last)\\s+(?:week|weekend|month|year))\\b", ignoringCase: true),
        ]
    }()

    static func dates(_ text: String) -> [String] {
        // Longest forms and their parts: `Saturday, June 8`, `June 8`, `Saturday`; `next Monday`, `Monday`.
        var spans: [(Range<String.Index>, String)] = []
        for re in datePatterns { for r in re.ranges(in: text) { spans.append((r, String(text[r]))) } }
        // A month-name date inside a weekday form is a candidate too (the second pattern finds it on its own).
        return spans.sorted { $0.0.lowerBound < $1.0.lowerBound || $0.0.lowerBound == $1.0.lowerBound && $0.1.count > $1.1.count }.map(\.1)
    }

    static let timePatterns = [
        regex(#"\b\d{1,2}(?::[0-5]\d)?\s?(?:a\.m\.|p\.m\.|am\b|pm\b|AM\b|PM\b|a\.m\b|p\.m\b)"#, ignoringCase: true),
        regex(#"\b(?:[01]?\d|2[0-3]):[0-5]\d(?:\s(?:UTC|GMT|CET|CEST|EST|EDT|PST|PDT|CST|CDT|MST|MDT|BST|IST|JST|AEST)\b)?"#),
        regex(#"\b(?:[01]?\d|2[0-3]):[0-5]\d\b"#),
        regex(#"\b(?:noon|midnight|midday)\b"#, ignoringCase: true),
    ]

    static func times(_ text: String) -> [String] {
        var spans: [(Range<String.Index>, String)] = []
        for re in timePatterns { for r in re.ranges(in: text) { spans.append((r, String(text[r]))) } }
        return spans.sorted { $0.0.lowerBound < $1.0.lowerBound || $0.0.lowerBound == $1.0.lowerBound && $0.1.count > $1.1.count }.map(\.1)
    }

    /// What may stand between a date and its time: `, `, ` at `, `T`.
    static let dateTimeGapPattern = regex(#",?\s*|\s+at\s+|,\s*at\s+|T"#)

    static func dateTimes(_ text: String) -> [String] {
        var spans: [(Range<String.Index>, String)] = []
        var ds: [Range<String.Index>] = [], ts: [Range<String.Index>] = []
        for re in datePatterns { ds += re.ranges(in: text) }
        for re in timePatterns { ts += re.ranges(in: text) }
        for d in ds {
            spans.append((d, String(text[d])))
            for t in ts where t.lowerBound >= d.upperBound {
                let gap = text[d.upperBound..<t.lowerBound]
                if dateTimeGapPattern.matchesWhole(String(gap)) {
                    spans.append((d.lowerBound..<t.upperBound, String(text[d.lowerBound..<t.upperBound])))
                }
            }
        }
        for t in ts { spans.append((t, String(text[t]))) }
        return spans.sorted { $0.0.lowerBound < $1.0.lowerBound || $0.0.lowerBound == $1.0.lowerBound && $0.1.count > $1.1.count }.map(\.1)
    }

    static let identifierPattern = regex(#"(?<![\w.$€£:/@-])[A-Za-z0-9](?:[A-Za-z0-9_/-]*[A-Za-z0-9])?(?![\w@]|:\d|[.,]\d|-\w)"#)

    static func identifiers(_ text: String) -> [String] {
        identifierPattern.matches(in: text).filter { $0.count >= 3 && $0.contains(where: \.isNumber) }
    }

    /// Numbers as JSON number text: `$1,299.99` → `1299.99`, `24.99`, `2`; not digits inside words or codes.
    static let numberPattern = regex(#"(?<![\w.,:-])-?\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![\w]|[.,]\d)|(?<![\w.,:-])-?\d+(?:\.\d+)?(?![\w]|[.,]\d|-\w|:)"#)

    /// Numbers of the text and whether each is an integer (JSON text, commas dropped).
    public static func numbers(_ text: String) -> [(text: String, integer: Bool)] {
        var seen = Set<String>()
        return numberPattern.matches(in: text).compactMap { s in
            var t = s.replacing(",", with: "")
            // JSON: no leading zeros (`030` is a code, not a number).
            let digits = t.hasPrefix("-") ? String(t.dropFirst()) : t
            if digits.count > 1 && digits.hasPrefix("0") && !digits.hasPrefix("0.") { return nil }
            let parts = digits.split(separator: ".", omittingEmptySubsequences: false)
            guard parts[0].count <= 15, parts.count == 1 || parts[1].count <= 8 else { return nil }
            if t.hasPrefix("-0") && parts[0] == "0" && parts.count == 1 { t = "0" }
            guard seen.insert(t).inserted else { return nil }
            return (t, parts.count == 1)
        }
    }

    /// Words that are never part of a name: the pronoun `I` and its contractions.
    static let notNameWords: Set<String> = ["I", "I'm", "I’m", "I'd", "I’d", "I'll", "I’ll", "I've", "I’ve"]

    static let nameWordPattern = regex(#"(?<![\w'’-])(?:\p{Lu}|\p{Ll}+\p{Lu})[\p{L}\p{M}'’-]*(?:\.(?=\s|$|,))?"#)

    /// Runs of capitalised words (one space or `&` between them), and every contiguous part of a run, except
    /// a single word that starts a sentence (its capital says nothing). A period stays on an initial (`J.`) or
    /// an abbreviation of up to four letters (`Inc.`, `Ltd.`, `Corp.`); otherwise it ends the word.
    static func properNames(_ text: String) -> [String] {
        struct Word { var range: Range<String.Index>; var initial: Bool }
        var words: [Word] = []
        for var r in nameWordPattern.ranges(in: text) {
            var w = text[r]
            if w.hasSuffix(".") && w.count > 5 { r = r.lowerBound..<text.index(before: r.upperBound); w = text[r] }
            if notNameWords.contains(String(w)) { continue }
            // Sentence start: only spaces/quotes back to the text's start or to . ! ? : ; or a line break.
            var i = r.lowerBound
            var initial = true
            while i > text.startIndex {
                i = text.index(before: i)
                let c = text[i]
                if c == " " || c == "\"" || c == "“" || c == "(" { continue }
                initial = ".!?:;\n".contains(c)
                break
            }
            words.append(Word(range: r, initial: initial))
        }
        var runs: [[Word]] = []
        for w in words {
            if let last = runs.last?.last {
                let gap = text[last.range.upperBound..<w.range.lowerBound]
                // A word with a period ends the run unless it is an initial or a title (`J. R. R. Tolkien`, `Dr. Li`).
                let prev = text[last.range]
                let joins = !prev.hasSuffix(".") || prev.count == 2 || ["Mr.", "Mrs.", "Ms.", "Dr.", "St.", "Prof."].contains(String(prev))
                if joins && (gap == " " || gap == " & ") {
                    runs[runs.count - 1].append(w); continue
                }
            }
            runs.append([w])
        }
        var out: [(Range<String.Index>, String)] = []
        for run in runs {
            for a in run.indices {
                for b in a..<min(run.count, a + 5) {
                    if a == b && run[a].initial { continue }
                    let r = run[a].range.lowerBound..<run[b].range.upperBound
                    out.append((r, String(text[r])))
                    // `Acme Corp.` at the end of a sentence: the period may be the sentence's.
                    if text[r].hasSuffix("."), text[r].count > 2 { out.append((r, String(text[r].dropLast()))) }
                }
            }
        }
        return out.sorted { $0.0.lowerBound < $1.0.lowerBound || $0.0.lowerBound == $1.0.lowerBound && $0.1.count > $1.1.count }.map(\.1)
    }
}

/// A set of candidate values as a byte trie over their JSON string bodies (escaped as ``JSONValue`` writes
/// them); a ``JSONConstraint`` frame walks it with an `Int32` state, as it walks a ``SpanIndex``.
final class CandidateTrie: @unchecked Sendable {
    let offsets: [Int32]
    let bytes: [UInt8]
    let targets: [Int32]
    let terminal: [Bool]
    /// Per node: the bits of the values that end at or below it (``JSONConstraint``'s used-value set; bit 63
    /// stands for values beyond the first 63, which are never marked used).
    let below: [UInt64]
    /// Per node: the bit of the value ending here (0 when none ends here).
    let bit: [UInt64]
    /// The candidate values.
    let values: [String]

    /// - Parameters:
    ///   - raw: true for number candidates (their text is the JSON, not a string body).
    ///   - id: the value's index in the document's table of typed values (shared by every field, so a value
    ///     given to one field can be withheld from the next); nil or ≥ 63 for untracked.
    init(_ values: [String], raw: Bool = false, id: (String) -> Int? = { _ in nil }) {
        self.values = values
        var next: [[UInt8: Int32]] = [[:]]
        var term: [Bool] = [false]
        var parent: [Int32] = [-1]
        var bits: [UInt64] = [0]
        for v in values {
            var body: [UInt8]
            if raw { body = Array(v.utf8) } else {
                var s = ""; JSONValue.writeString(v, to: &s)
                body = Array(s.utf8.dropFirst().dropLast())
            }
            var s: Int32 = 0
            for b in body {
                if let t = next[Int(s)][b] { s = t } else {
                    let t = Int32(next.count)
                    next.append([:]); term.append(false); parent.append(s); bits.append(0)
                    next[Int(s)][b] = t
                    s = t
                }
            }
            term[Int(s)] = true
            let i = id(raw ? "#" + v : v) ?? 63
            bits[Int(s)] = 1 << UInt64(min(i, 63))
        }
        var below = bits
        for n in stride(from: below.count - 1, through: 1, by: -1) { below[Int(parent[n])] |= below[n] }
        self.below = below
        self.bit = bits
        var offsets: [Int32] = [0], bytes: [UInt8] = [], targets: [Int32] = []
        for edges in next {
            for (b, t) in edges.sorted(by: { $0.key < $1.key }) { bytes.append(b); targets.append(t) }
            offsets.append(Int32(bytes.count))
        }
        self.offsets = offsets; self.bytes = bytes; self.targets = targets; self.terminal = term
    }

    var isEmpty: Bool { values.isEmpty }

    @inline(__always)
    func next(_ s: Int32, _ b: UInt8) -> Int32 {
        var i = Int(offsets[Int(s)])
        let end = Int(offsets[Int(s) + 1])
        while i < end {
            let x = bytes[i]
            if x == b { return targets[i] }
            if x > b { return -1 }
            i += 1
        }
        return -1
    }

    /// The first byte on from `s` (nil at a leaf).
    func firstByte(_ s: Int32) -> UInt8? {
        offsets[Int(s)] < offsets[Int(s) + 1] ? bytes[Int(offsets[Int(s)])] : nil
    }
}
