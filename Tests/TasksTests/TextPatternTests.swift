// TextPattern: ICU's search semantics on Swift Regex, with a leading one-class lookbehind emulated; and the
// JSON documents the CLI and the server print, built without JSONSerialization.

import Testing
@testable import Tasks

@Suite("TextPattern and JSON documents")
struct TextPatternTests {
    /// A leading `(?<![…])` rejects a start after a listed character, and the search moves on by one
    /// character (so `x12` yields nothing, ` 34` yields `34`, `6.7` yields `6`), as ICU's lookbehind does.
    @Test func lookbehindAtStart() throws {
        let p = try TextPattern(#"(?<![\w.-])\d+"#)
        #expect(p.matches(in: "x12 34 -5 6.7 89") == ["34", "6", "89"])
        #expect(p.matches(in: "12") == ["12"])
        #expect(p.isFound(in: "a 1") && !p.isFound(in: "a1"))
    }

    /// Top-level alternatives are tried in order at each position; only the second has a lookbehind.
    @Test func alternativesInOrder() throws {
        let p = try TextPattern(#"https?://\S+|(?<![@\w.])[a-z]+\.com"#)
        #expect(p.matches(in: "see http://a.com/x or b.com, not c@d.com") == ["http://a.com/x", "b.com"])
        let nested = try TextPattern(#"(?<![x])(?:a|b)c|d"#)  // a `|` inside a group does not split
        #expect(nested.matches(in: "ac xbc bc d") == ["ac", "bc", "d"])
    }

    @Test func refusesWhatItCannotEmulate() {
        #expect(throws: TextPatternError.self) { try TextPattern(#"a(?<=b)c"#) }
        #expect(throws: TextPatternError.self) { try TextPattern(#"(?<!ab)c"#) }
        #expect(throws: TextPatternError.self) { try TextPattern(#"(unclosed"#) }
    }

    @Test func caseAndWholeMatches() throws {
        let p = try TextPattern(#"\b(?:monday|june \d+)\b"#, ignoringCase: true)
        #expect(p.matches(in: "Monday, June 8") == ["Monday", "June 8"])
        #expect(try TextPattern(#"\d{4}-\d{2}-\d{2}|\d+\.\d+"#).matchesWhole("2025-02-03"))
        #expect(try !TextPattern(#"\d{4}-\d{2}-\d{2}|\d+\.\d+"#).matchesWhole("2025-02-03 x"))
    }

    /// Every lexer pattern compiles (they are built with `try!`), and the lexers still find their spans.
    @Test func lexersFindTheirSpans() {
        let all = [SpanLexer.emailPattern, SpanLexer.urlPattern, SpanLexer.phonePattern, SpanLexer.identifierPattern,
                   SpanLexer.numberPattern, SpanLexer.nameWordPattern, SpanLexer.notPhonePattern,
                   SpanLexer.dateTimeGapPattern] + SpanLexer.datePatterns + SpanLexer.timePatterns
        #expect(all.count == 18)
        #expect(SpanLexer.phones("Call +1 555-123-4567 or 2025-02-03.") == ["+1 555-123-4567"])
        #expect(SpanLexer.numbers("$1,299.99 for 2 items, code A-12").map(\.text) == ["1299.99", "2"])
        #expect(SpanLexer.emailPattern.matches(in: "Hi, I'm Bob Lee, bob@x.io") == ["bob@x.io"])
    }

    @Test func documents() throws {
        let doc: [String: Any] = ["b": 1, "a": [1.5, "x/y", true], "n": Optional<Int>.none as Any,
                                  "f": Float(0.1), "v": JSONValue.null, "big": 1e20, "nan": Double.nan]
        #expect(JSONValue(document: doc).description
                == #"{"a":[1.5,"x/y",true],"b":1,"big":1e+20,"f":0.1,"n":null,"nan":null,"v":null}"#)
        #expect(try JSONValue.parse(JSONValue(document: doc).description) == JSONValue(document: doc))
        #expect(JSONValue(document: ["k": [String: Any](), "l": [Any]()]).prettyText == "{\n  \"k\" : {},\n  \"l\" : []\n}")
        #expect(JSONValue(document: ["a": ["b": 1] as [String: Any]]).prettyText == "{\n  \"a\" : {\n    \"b\" : 1\n  }\n}")
    }
}
