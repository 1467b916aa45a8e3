import Foundation
import Testing
import Inference
@testable import Tasks

/// Extraction that copies: string fields constrained to spans of the input accept exactly the non-empty
/// substrings of it (no leading/trailing whitespace), through JSON escapes; the shortest completion stays inside
/// the text; enum/number/boolean fields and free-text fields are as before.
@Suite struct SpanConstraintTests {
    static let contact = #"{"type":"object","properties":{"name":{"type":"string"},"email":{"type":["string","null"]},"summary":{"type":"string"},"tier":{"enum":["gold","basic"]}},"required":["name","email"]}"#
    static let source = "Hi, I'm Bob Lee, bob@x.io. He said \"hi\"\nbye é"

    func accepts(_ doc: String, source: String = Self.source, schema: String = Self.contact, spans: SpanPolicy = .auto) throws -> Bool {
        var c = JSONConstraint(schema: try JSONSchema(json: schema), source: source, spans: spans)
        return c.advance(Array(doc.utf8)) && c.isComplete
    }

    @Test func suffixAutomatonKnowsEverySubstring() {
        let text = "abracadabra, é!"
        let idx = SpanIndex(text)
        let bytes = Array(text.utf8)
        for i in 0..<bytes.count {
            for j in i...bytes.count { #expect(idx.contains(bytes[i..<j])) }
        }
        for s in ["abrb", "cc", "z", "abracadabra, é!!", "é?"] { #expect(!idx.contains(Array(s.utf8)), "\(s)") }
        #expect(idx.canStart)
        #expect(!SpanIndex(" \n\t").canStart)
    }

    @Test(arguments: [
        #"{"name": "Bob Lee", "email": "bob@x.io"}"#,
        #"{"name": "Bob", "email": null}"#,
        #"{"name": "\"hi\"", "email": "x.io"}"#,              // a quote of the text, escaped
        #"{"name": "hi\"\nbye", "email": "é"}"#,               // across a newline, multi-byte UTF-8
        #"{"name": "Lee", "email": "bob", "summary": "Anything the model writes", "tier": "gold"}"#,
        #"{"name": "Lee, bob@x.io. He", "email": "x"}"#,   // inner spaces and punctuation
    ])
    func acceptsSpans(doc: String) throws {
        #expect(try accepts(doc))
    }

    @Test(arguments: [
        #"{"name": "Bob Lee", "email": "john@x.io"}"#,   // invented
        #"{"name": "bob lee", "email": null}"#,          // case differs: not a span
        #"{"name": "", "email": null}"#,                 // empty
        #"{"name": " Bob", "email": null}"#,             // leading whitespace
        #"{"name": "Bob ", "email": null}"#,             // trailing whitespace
        #"{"name": "Bob", "email": "bob@x.io.."}"#,      // runs past the text
        #"{"name": "Bob", "email": "x", "tier": "Bob"}"#, // an enum stays an enum
    ])
    func rejectsNonSpans(doc: String) throws {
        #expect(try !accepts(doc), "\(doc)")
    }

    @Test func policies() throws {
        let invented = #"{"name": "Alice", "email": null}"#
        #expect(try !accepts(invented, spans: .auto))
        #expect(try accepts(invented, spans: .off))
        #expect(try accepts(invented, spans: .marked))
        let marked = #"{"type":"object","properties":{"name":{"type":"string","x-edgelm-source":"span"},"note":{"type":"string","x-edgelm-source":"free"}},"required":["name","note"]}"#
        #expect(try accepts(#"{"name": "Bob", "note": "made up"}"#, schema: marked, spans: .marked))
        #expect(try !accepts(#"{"name": "Rob", "note": "made up"}"#, schema: marked, spans: .marked))
        #expect(try accepts(#"{"name": "Rob", "note": "made up"}"#, schema: marked, spans: .off))
        // Free-text names stay free under auto; a marked span wins over the name.
        let s = try JSONSchema(json: Self.contact)
        guard case .object(let props) = s.kind else { Issue.record("not an object"); return }
        #expect(props.map { $0.schema.isSpan(named: $0.name, policy: .auto) } == [true, true, false, false])
        #expect(props.map { $0.schema.isSpan(named: $0.name, policy: .marked) } == [false, false, false, false])
    }

    @Test func schemaExtensionIsChecked() throws {
        #expect(throws: TasksError.self) { _ = try JSONSchema(json: #"{"type":"object","properties":{"a":{"type":"string","x-edgelm-source":"copy"}}}"#) }
        #expect(throws: TasksError.self) { _ = try JSONSchema(json: #"{"type":"object","properties":{"a":{"type":"integer","x-edgelm-source":"span"}}}"#) }
        #expect(throws: TasksError.self) { _ = try JSONSchema(json: #"{"type":"object","properties":{"a":{"enum":["x"],"x-edgelm-source":"span"}}}"#) }
        let ok = try JSONSchema(json: #"{"type":"object","properties":{"a":{"type":["string","null"],"x-edgelm-source":"span"}}}"#)
        guard case .object(let props) = ok.kind else { Issue.record("not an object"); return }
        #expect(props[0].schema.source == .span)
        #expect(props[0].schema.isSpan(named: "summary", policy: .auto))
    }

    /// From any reachable prefix (random walks over allowed bytes), the shortest completion closes a valid
    /// document whose span values are in the text.
    @Test(arguments: [1, 2, 3, 4, 5, 6, 7, 8] as [UInt64])
    func completionStaysInTheText(seed: UInt64) throws {
        var rng = SplitMix(seed: seed)
        let schema = try JSONSchema(json: #"{"type":"object","properties":{"name":{"type":"string","maxLength":6},"tags":{"type":"array","items":{"type":"string","maxLength":4},"maxItems":3},"email":{"type":["string","null"]}},"required":["name","tags","email"]}"#)
        let source = "Ann \"A\" O'Neil\t<ann@x.io>\nZoë 42"
        for _ in 0..<60 {
            var c = JSONConstraint(schema: schema, source: source)
            var out: [UInt8] = []
            let steps = Int(rng.next() % 40)
            for _ in 0..<steps {
                let allowed = (0...255).map(UInt8.init).filter { var t = c; return t.advance($0) }
                guard !allowed.isEmpty else { break }
                let b = allowed[Int(rng.next() % UInt64(allowed.count))]
                _ = c.advance(b)
                out.append(b)
            }
            out += c.completion()
            let v = try JSONValue.parse(out)
            try schema.validate(v)
            var strings: [String] = []
            if case .string(let n)? = v["name"] { strings.append(n) }
            if case .string(let e)? = v["email"] { strings.append(e) }
            if case .array(let a)? = v["tags"] { for case .string(let t) in a { strings.append(t) } }
            for s in strings {
                #expect(source.contains(s), "\(s) from \(String(decoding: out, as: UTF8.self))")
                #expect(!s.isEmpty && s.first?.isWhitespace == false && s.last?.isWhitespace == false, "\(s)")
            }
        }
    }

    /// Constrained decoding from random models: every span value is a substring of the input, outputs stay
    /// schema-valid, and a free field may hold anything.
    @Test(arguments: [11, 12, 13] as [UInt64])
    func extractionCopiesFromRandomModels(seed: UInt64) throws {
        var opts = TaskOptions(contextLength: 512, threads: 1)
        opts.maxExtractTokens = 40
        let r = try TaskRunnerTests.runner(seed: seed, options: opts)
        let schema = try JSONSchema(json: Self.contact)
        let text = "Ann Lee, ann@x.io, a b a b"
        let e = try r.extract(text, schema: schema)
        try schema.validate(e.value)
        for key in ["name", "email"] {
            if case .string(let s)? = e.value[key] { #expect(text.contains(s), "\(key): \(s)") }
        }
    }
}

/// A tiny deterministic generator for the random walks.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// The extraction prompt: the worked examples (other schemas) first, then the request's fields and text; a
/// context too small for the examples gets the prompt without them.
@Suite struct ExtractionPromptTests {
    @Test func demonstrationsThenFieldsAndText() throws {
        let r = try TaskRunnerTests.runner()
        let schema = try JSONSchema(json: #"{"type":"object","properties":{"name":{"type":"string"},"age":{"type":["integer","null"],"description":"in years"}},"required":["name"]}"#)
        let with = r.tokenizer.decode(r.extractionPrompt("Ann, 42", schema: schema, demonstrations: true))
        #expect(with.contains("The Hobbit") && with.contains(#""publisher": null"#))
        #expect(with.contains("Fields: name (string), age (integer or null: in years)\nText: Ann, 42"))
        #expect(with.range(of: "The Hobbit")!.lowerBound < with.range(of: "Ann, 42")!.lowerBound)
        let without = r.tokenizer.decode(r.extractionPrompt("Ann, 42", schema: schema, demonstrations: false))
        #expect(!without.contains("The Hobbit") && without.contains("Text: Ann, 42"))
        // The tiny test model's 512-token context cannot hold the examples: extraction still runs, without them.
        let e = try r.extract("Ann, 42", schema: schema)
        try schema.validate(e.value)
        #expect(e.timings.promptTokens == r.extractionPrompt("Ann, 42", schema: schema, demonstrations: false).count)
    }
}
