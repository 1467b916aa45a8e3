import Foundation
import Testing
@testable import Tasks

/// Typed span fields: the lexer's candidates per type, how a field gets its type (schema `format`, `pattern`,
/// `x-edgelm-type`, property names), and the constraint — a typed field takes one of its candidates or `null`,
/// one span fills one field, numbers come from the text, spans end at word boundaries.
@Suite struct SpanTypeTests {
    func cands(_ t: SpanType, _ text: String) -> [String] { SpanLexer.candidates(t, in: text) }

    @Test func lexerFindsEmailsPhonesAndURLs() {
        #expect(cands(.email, "Hi, I'm Bob Lee, bob@x.io.") == ["bob@x.io"])
        #expect(cands(.email, "write to a.b+c@mail.example.co.uk or nobody") == ["a.b+c@mail.example.co.uk"])
        #expect(cands(.email, "call 555-0134, see x.io") == [])
        let text = "Call +1 415 555 0199 or (206) 555-0147 or 555-0134; order 55812 on 2025-02-03 for $1299.99 at 9:30."
        #expect(cands(.phone, text) == ["+1 415 555 0199", "(206) 555-0147", "555-0134"])
        #expect(cands(.url, "see https://example.com/a?b=1, www.test.org. or bob@x.io or x.io, at 8 p.m. e.g. here")
                == ["https://example.com/a?b=1", "www.test.org", "x.io"])
    }

    @Test func lexerFindsDatesAndTimes() {
        let text = "Join us on Saturday, June 8, at 7 pm; then next Monday at 9:30 am, 2025-02-03 14:00, 12 May 2025, October 21st at noon, 17:00 CET, 8:00 p.m. tomorrow."
        let dates = cands(.date, text)
        for d in ["Saturday, June 8", "June 8", "Saturday", "next Monday", "Monday", "2025-02-03", "12 May 2025", "October 21st", "tomorrow"] {
            #expect(dates.contains(d), "\(d) not in \(dates)")
        }
        #expect(!dates.contains("7 pm") && !dates.contains("14:00"))
        let times = cands(.time, text)
        for t in ["7 pm", "9:30 am", "14:00", "noon", "17:00 CET", "17:00", "8:00 p.m."] { #expect(times.contains(t), "\(t) not in \(times)") }
        #expect(!times.contains("2025") && !times.contains("12"))
        let both = cands(.dateTime, "Meet on March 14 at 9:30 am.")
        #expect(both.contains("March 14 at 9:30 am") && both.contains("March 14") && both.contains("9:30 am"))
    }

    @Test func lexerFindsIdentifiersNumbersAndNames() {
        let order = "Order #A1023: 2 x Mouse at $1,024.99 each, ref B-7781 (PO 4410-C) at 9:30, code 030."
        #expect(cands(.identifier, order) == ["A1023", "B-7781", "4410-C", "030"])
        #expect(SpanLexer.numbers(order).map(\.text) == ["2", "1024.99"])
        #expect(SpanLexer.numbers(order).map(\.integer) == [true, false])
        let names = cands(.properName, "Regards, Anna Berg. Hi, I'm Maria Lopez from Acme Corp. Contact Grace Hopper today.")
        for n in ["Anna Berg", "Maria Lopez", "Acme Corp.", "Acme Corp", "Grace Hopper", "Contact Grace Hopper", "Hopper"] {
            #expect(names.contains(n), "\(n) not in \(names)")
        }
        // A capitalised word that only starts a sentence is no name; the pronoun I never is.
        for n in ["Regards", "Hi", "I'm", "I'm Maria Lopez", "Contact"] { #expect(!names.contains(n), "\(n) in \(names)") }
    }

    @Test func fieldNamesSuggestTypes() {
        let cases: [(String, SpanType?)] = [
            ("email", .email), ("contactEmail", .email), ("e_mail", .email), ("phone", .phone), ("phone_number", .phone),
            ("mobile", .phone), ("website", .url), ("homepage_url", .url), ("date", .date), ("start_date", .date),
            ("time", .time), ("startTime", .time), ("timestamp", .dateTime), ("order_id", .identifier),
            ("invoiceNumber", .identifier), ("company", .properName), ("company_name", .properName), ("name", .properName),
            ("full_name", .properName), ("customer", .properName), ("product", nil), ("product_name", nil), ("event", nil),
            ("event_name", nil), ("location", nil), ("title", nil), ("quantity", nil),
        ]
        for (name, type) in cases { #expect(SpanType.forName(name) == type, "\(name)") }
    }

    @Test func schemaFormatPatternAndTypeKeywords() throws {
        func props(_ json: String) throws -> [JSONSchema.Property] {
            guard case .object(let p) = try JSONSchema(json: json).kind else { return [] }
            return p
        }
        let p = try props(#"{"type":"object","properties":{"a":{"type":"string","format":"email"},"b":{"type":["string","null"],"pattern":"^[A-Z]\\d+$"},"name":{"type":"string","x-edgelm-type":"any"},"c":{"type":"string","x-edgelm-type":"phone"},"n":{"type":"integer","x-edgelm-source":"free"}}}"#)
        #expect(p[0].schema.valueType == .email && p[1].schema.pattern == #"^[A-Z]\d+$"# && p[2].schema.untyped)
        #expect(p[0].schema.candidateKind(named: "a", policy: .schema)?.type == .email)
        #expect(p[0].schema.candidateKind(named: "a", policy: .off) == nil)
        #expect(p[1].schema.candidateKind(named: "b", policy: .off)?.pattern != nil)   // a pattern always binds
        #expect(p[2].schema.candidateKind(named: "name", policy: .auto) == nil)           // "any" turns the name hint off
        #expect(p[3].schema.candidateKind(named: "c", policy: .schema)?.type == .phone)
        #expect(p[4].schema.candidateKind(named: "n", policy: .auto) == nil)              // a free number
        #expect(try JSONSchema(json: #"{"type":"object","properties":{"q":{"type":"integer"}}}"#).kind
                != JSONSchema(kind: .object([])).kind)
        // The validator checks patterns.
        let s = try JSONSchema(json: #"{"type":"object","properties":{"b":{"type":"string","pattern":"^[A-Z]\\d+$"}}}"#)
        try s.validate(.object([("b", .string("A12"))]))
        #expect(throws: TasksError.self) { try s.validate(.object([("b", .string("a12"))])) }
        for bad in [#"{"type":"object","properties":{"a":{"type":"string","format":"ipv4"}}}"#,
                    #"{"type":"object","properties":{"a":{"type":"integer","format":"email"}}}"#,
                    #"{"type":"object","properties":{"a":{"type":"string","pattern":"("}}}"#,
                    #"{"type":"object","properties":{"a":{"type":"string","x-edgelm-type":"colour"}}}"#,
                    #"{"type":"object","properties":{"a":{"type":"string","format":"email","x-edgelm-type":"email"}}}"#,
                    #"{"type":"object","properties":{"a":{"type":"string","x-edgelm-source":"free","format":"email"}}}"#,
                    #"{"type":"object","properties":{"a":{"type":"number","x-edgelm-source":"span"}}}"#] {
            #expect(throws: TasksError.self, "\(bad)") { _ = try JSONSchema(json: bad) }
        }
    }

    static let contact = #"{"type":"object","properties":{"name":{"type":"string"},"email":{"type":["string","null"]},"phone":{"type":["string","null"]},"company":{"type":["string","null"]}},"required":["name","email","phone","company"]}"#

    func accepts(_ doc: String, _ source: String, schema: String = Self.contact, types: SpanTypePolicy = .auto, distinct: Bool = true) throws -> Bool {
        var c = JSONConstraint(schema: try JSONSchema(json: schema), source: source, types: types, distinct: distinct)
        return c.advance(Array(doc.utf8)) && c.isComplete
    }

    @Test func typedFieldsTakeCandidatesOrNull() throws {
        let text = "Hi, I'm Bob Lee, bob@x.io"
        #expect(try accepts(#"{"name": "Bob Lee", "email": "bob@x.io", "phone": null, "company": null}"#, text))
        // The issue's answer — `x.io` as the email and the phone and the company — is no longer possible.
        #expect(try !accepts(#"{"name": "Bob Lee", "email": "x.io", "phone": null, "company": null}"#, text))
        #expect(try !accepts(#"{"name": "Bob Lee", "email": "bob@x.io", "phone": "x.io", "company": null}"#, text))
        #expect(try !accepts(#"{"name": "Hi", "email": null, "phone": null, "company": null}"#, text))
        // Without typing, any span goes (the old behaviour).
        #expect(try accepts(#"{"name": "Hi", "email": "x.io", "phone": "x.io", "company": "x.io"}"#, text, types: .off))
        // No phone number in the text: `null` is the only value, and the completion writes it.
        var c = JSONConstraint(schema: try JSONSchema(json: Self.contact), source: text, types: .auto)
        let prefixOK = c.advance(Array(#"{"name": "Bob Lee", "email": "bob@x.io", "phone": "#.utf8))
        #expect(prefixOK)
        var q = c
        let quoteOK = q.advance(UInt8(ascii: "\""))
        #expect(!quoteOK)
        #expect(String(decoding: c.completion(), as: UTF8.self) == #"null,"company":null}"#)
        #expect(c.candidates(of: "email") == ["bob@x.io"] && c.candidates(of: "phone") == [])
    }

    @Test func oneSpanFillsOneField() throws {
        let text = "Tom Riley, Contoso Pharma, t.riley@contoso.com"
        #expect(try accepts(#"{"name": "Tom Riley", "email": "t.riley@contoso.com", "phone": null, "company": "Contoso Pharma"}"#, text))
        // The name's span, or a part of it, cannot be the company while another candidate is left.
        #expect(try !accepts(#"{"name": "Tom Riley", "email": null, "phone": null, "company": "Tom Riley"}"#, text))
        #expect(try !accepts(#"{"name": "Tom Riley", "email": null, "phone": null, "company": "Riley"}"#, text))
        #expect(try accepts(#"{"name": "Tom Riley", "email": null, "phone": null, "company": "Tom Riley"}"#, text, distinct: false))
        // Nothing left for a nullable field: null. A required field may repeat a value rather than fail.
        let two = #"{"type":"object","properties":{"a":{"type":"string","format":"email"},"b":{"type":["string","null"],"format":"email"},"c":{"type":"string","format":"email"}},"required":["a","b","c"]}"#
        #expect(try accepts(#"{"a": "x@y.io", "b": null, "c": "x@y.io"}"#, "mail x@y.io", schema: two))
        #expect(try !accepts(#"{"a": "x@y.io", "b": "x@y.io", "c": "x@y.io"}"#, "mail x@y.io", schema: two))
    }

    @Test func numbersComeFromTheText() throws {
        let schema = #"{"type":"object","properties":{"quantity":{"type":["integer","null"]},"price":{"type":["number","null"]},"total":{"type":"number","x-edgelm-source":"free"}},"required":["quantity","price","total"]}"#
        let text = "Buy 12 tennis balls for $8.40."
        #expect(try accepts(#"{"quantity": 12, "price": 8.40, "total": 100.8}"#, text, schema: schema))
        #expect(try !accepts(#"{"quantity": 3, "price": 8.40, "total": 1}"#, text, schema: schema))     // not in the text
        #expect(try !accepts(#"{"quantity": 8.40, "price": 12, "total": 1}"#, text, schema: schema))    // not an integer
        #expect(try !accepts(#"{"quantity": 12, "price": 12, "total": 1}"#, text, schema: schema))      // given to quantity
        #expect(try accepts(#"{"quantity": 3, "price": 8.4, "total": 1}"#, text, schema: schema, types: .schema))
        #expect(try accepts(#"{"quantity": null, "price": null, "total": 0}"#, "no numbers here", schema: schema))
        #expect(try !accepts(#"{"quantity": 1, "price": null, "total": 0}"#, "no numbers here", schema: schema))
    }

    @Test func patternsTakeTheirMatches() throws {
        let schema = #"{"type":"object","properties":{"sku":{"type":["string","null"],"pattern":"^[A-Z]{2}-\\d{3}$"},"code":{"type":"string","pattern":"[0-9]{4}"}},"required":["sku","code"]}"#
        let text = "Items AB-123 and CD-45, code 7781."
        #expect(try accepts(#"{"sku": "AB-123", "code": "7781"}"#, text, schema: schema, types: .off))
        #expect(try !accepts(#"{"sku": "CD-45", "code": "7781"}"#, text, schema: schema))
        let c = JSONConstraint(schema: try JSONSchema(json: schema), source: "no code", types: .auto)
        #expect(c.unsatisfiableFields == ["code"])
    }

    @Test func spansEndAtWordBoundaries() throws {
        let schema = #"{"type":"object","properties":{"product":{"type":"string","maxLength":5}},"required":["product"]}"#
        let text = "Please send 2 yoga mats."
        #expect(try accepts(#"{"product": "yoga mats"}"#, text, schema: schema.replacingOccurrences(of: "5", with: "20")))
        #expect(try !accepts(#"{"product": "yoga ma"}"#, text, schema: schema.replacingOccurrences(of: "5", with: "20")))
        #expect(try !accepts(#"{"product": "Pleas"}"#, text, schema: schema.replacingOccurrences(of: "5", with: "20")))
        // maxLength cuts a word: the span may end where the limit leaves no room.
        #expect(try accepts(#"{"product": "Pleas"}"#, text, schema: schema))
    }

    /// From any reachable prefix of a typed schema (random walks over allowed bytes), the shortest completion
    /// closes a valid document whose typed values are candidates of their field and whose spans are in the text.
    @Test(arguments: [1, 2, 3, 4, 5, 6, 7, 8] as [UInt64])
    func completionOfTypedFieldsIsValid(seed: UInt64) throws {
        var rng = SplitMix(seed: seed)
        let schema = try JSONSchema(json: #"{"type":"object","properties":{"name":{"type":"string","maxLength":12},"email":{"type":["string","null"]},"emails":{"type":"array","items":{"type":"string","format":"email"},"maxItems":3},"phone":{"type":"string"},"qty":{"type":["integer","null"]},"price":{"type":"number"},"when":{"type":["string","null"],"format":"date-time"},"company":{"type":["string","null"]}},"required":["name","email","emails","phone","qty","price","when","company"]}"#)
        let source = "Ann \"A\" O'Neil <ann@x.io>, Bo Li bo@y.org, +1 415 555 0199, 2 x 3.5 on March 4 at 9 am. Zoë GmbH"
        for _ in 0..<60 {
            var c = JSONConstraint(schema: schema, source: source, types: .auto)
            var out: [UInt8] = []
            for _ in 0..<Int(rng.next() % 160) {
                let allowed = (0...255).map(UInt8.init).filter { var t = c; return t.advance($0) }
                guard !allowed.isEmpty else { break }
                let b = allowed[Int(rng.next() % UInt64(allowed.count))]
                _ = c.advance(b)
                out.append(b)
            }
            out += c.completion()
            let v = try JSONValue.parse(out)
            try schema.validate(v)
            for key in ["email", "when", "company"] {
                if case .string(let s)? = v[key] { #expect(c.candidates(of: key)!.contains(s), "\(key): \(s)") }
            }
            if case .string(let s)? = v["name"] { #expect(source.contains(s), "\(s)") }
            if case .array(let a)? = v["emails"] { for case .string(let s) in a { #expect(["ann@x.io", "bo@y.org"].contains(s)) } }
            if case .number(let q)? = v["qty"] {
                #expect(SpanLexer.numbers(source).filter(\.integer).map { Double($0.text)! }.contains(q), "qty \(q)")
            }
        }
    }

    /// The issue's probe through the runner on random tiny models: the email is the text's address or null,
    /// never another span; every value stays schema-valid.
    @Test(arguments: [21, 22, 23, 24] as [UInt64])
    func bobLeeFromRandomModels(seed: UInt64) throws {
        var opts = TaskOptions(contextLength: 512, threads: 1)
        opts.maxExtractTokens = 60
        let r = try TaskRunnerTests.runner(seed: seed, options: opts)
        let schema = try JSONSchema(json: Self.contact)
        let text = "Hi, I'm Bob Lee, bob@x.io"
        let e = try r.extract(text, schema: schema)
        try schema.validate(e.value)
        #expect(e.value["email"] == .null || e.value["email"] == .string("bob@x.io"), "\(e.text)")
        #expect(e.value["phone"] == .null, "\(e.text)")
    }
}
