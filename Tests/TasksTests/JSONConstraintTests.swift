import Foundation
import Testing
@testable import Tasks

/// Schemas exercising every supported feature.
enum Schemas {
    static let contact = """
    {"type":"object","properties":{
      "name":{"type":"string","maxLength":40},
      "email":{"type":["string","null"]},
      "age":{"type":"integer"},
      "vip":{"type":"boolean"}},
     "required":["name","age"]}
    """
    static let nested = """
    {"type":"object","properties":{
      "order":{"type":"object","properties":{
          "id":{"type":"integer"},
          "items":{"type":"array","items":{"type":"string","maxLength":8},"maxItems":3},
          "total":{"type":["number","null"]}},
        "required":["id","items"]},
      "status":{"enum":["open","closed","on hold",null]},
      "scores":{"type":"array","items":{"type":"number"},"maxItems":4},
      "flags":{"type":["array","null"],"items":{"type":"boolean"}}},
     "required":["order","status"]}
    """
    static let optionalOnly = """
    {"type":"object","properties":{"a":{"type":"string"},"ab":{"type":"string"},"b":{"enum":[1,12,"x"]}}}
    """
    static let allRequired = """
    {"type":"object","properties":{"city":{"type":"string","maxLength":5},"zip":{"type":"integer"},
      "tags":{"type":"array","items":{"enum":["a","b"]},"maxItems":2}},"required":["city","zip","tags"]}
    """
    static let all = [contact, nested, optionalOnly, allRequired]
}

@Suite struct JSONConstraintTests {
    func accepts(_ schemaText: String, _ doc: String) throws -> Bool {
        var s = JSONConstraint(schema: try JSONSchema(json: schemaText))
        return s.advance(Array(doc.utf8)) && s.isComplete
    }

    @Test(arguments: [
        (Schemas.contact, #"{"name": "Ann", "age": 31}"#),
        (Schemas.contact, #"{"name":"Ann","email":null,"age":-0,"vip":true}"#),
        (Schemas.contact, #"{"name": "Zoë \"Z\" Ö", "email": "z@x.io", "age": 7, "vip": false}"#),
        (Schemas.nested, #"{"order": {"id": 1, "items": ["a", "bb"], "total": 12.5}, "status": "on hold"}"#),
        (Schemas.nested, #"{"order":{"id":0,"items":[]},"status":null,"scores":[1,-2.25,0.5],"flags":null}"#),
        (Schemas.optionalOnly, #"{}"#),
        (Schemas.optionalOnly, #"{"ab": "x", "b": 12}"#),
        (Schemas.optionalOnly, #"{"a": "", "b": 1}"#),
        (Schemas.allRequired, #"{"city": "Oslo", "zip": 150, "tags": ["b", "a"]}"#),
    ])
    func acceptsValidDocuments(schema: String, doc: String) throws {
        #expect(try accepts(schema, doc))
        // And the document validates with the independent validator.
        try JSONSchema(json: schema).validate(try JSONValue.parse(doc))
    }

    @Test(arguments: [
        (Schemas.contact, #"{"age": 31, "name": "Ann"}"#),            // schema order
        (Schemas.contact, #"{"name": "Ann"}"#),                       // missing required
        (Schemas.contact, #"{"name": "Ann", "age": 3.5}"#),           // integer
        (Schemas.contact, #"{"name": "Ann", "age": 01}"#),            // leading zero
        (Schemas.contact, #"{"name": "Ann", "age": 1, "x": 1}"#),     // unknown key
        (Schemas.contact, #"{"name": "a\u0041", "age": 1}"#),         // \u escapes are not produced
        (Schemas.contact, "{\"name\": \"a\nb\", \"age\": 1}"),        // raw control character
        (Schemas.contact, #"{"name":  "Ann", "age": 1}"#),            // two spaces
        (Schemas.contact, #" {"name": "Ann", "age": 1}"#),            // leading space
        (Schemas.contact, #"{"name": "Ann", "age": 1}}"#),            // trailing bytes
        (Schemas.contact, #"{"name": "\#(String(repeating: "x", count: 41))", "age": 1}"#),  // maxLength
        (Schemas.nested, #"{"order": {"id": 1, "items": ["a","b","c","d"]}, "status": "open"}"#),  // maxItems
        (Schemas.nested, #"{"order": {"id": 1, "items": ["123456789"]}, "status": "open"}"#),
        (Schemas.nested, #"{"order": {"id": 1, "items": []}, "status": "opened"}"#),
        (Schemas.optionalOnly, #"{"b": 2}"#),
        (Schemas.optionalOnly, #"{"b": "y"}"#),
        (Schemas.allRequired, #"{"city": "Oslo", "zip": 1e3, "tags": []}"#),
    ])
    func rejectsInvalidDocuments(schema: String, doc: String) throws {
        #expect(try !accepts(schema, doc))
    }

    @Test func rejectsInvalidUTF8InStrings() throws {
        let schema = try JSONSchema(json: Schemas.contact)
        for bad: [UInt8] in [[0xC0, 0x80], [0xED, 0xA0, 0x80], [0xE0, 0x80, 0x80], [0xF5], [0x80], [0xC3, 0x28]] {
            var s = JSONConstraint(schema: schema)
            let accepted = s.advance(Array(#"{"name": ""#.utf8) + bad)
            #expect(!accepted, "accepted \(bad)")
        }
        var ok = JSONConstraint(schema: schema)
        let okAccepted = ok.advance(Array(#"{"name": "€😀"#.utf8))
        #expect(okAccepted)
        // Closing in the middle of a multi-byte character is impossible.
        var cut = JSONConstraint(schema: schema)
        let prefixOK = cut.advance(Array(#"{"name": ""#.utf8) + [0xE2, 0x82])
        #expect(prefixOK)
        let closedEarly = cut.advance(UInt8(ascii: "\""))
        #expect(!closedEarly)
    }

    /// Random valid prefixes (each step a uniformly random accepted byte), then the completion:
    /// the result must always parse and validate. Exercises every state's completion.
    @Test(arguments: Array(Schemas.all.indices))
    func randomPrefixPlusCompletionValidates(schemaIndex: Int) throws {
        let schema = try JSONSchema(json: Schemas.all[schemaIndex])
        var rng = SystemRandomNumberGeneratorSeeded(seed: UInt64(schemaIndex) &* 7919 &+ 1)
        let alphabet: [UInt8] = Array(#"{}[]",: nulltruefalse-0123456789.abcxyzOpenClosedhold\"#.utf8) + [0xC3, 0xA9, 0xE2, 0x82, 0xAC]
        for trial in 0..<300 {
            var s = JSONConstraint(schema: schema)
            var bytes: [UInt8] = []
            let length = Int(rng.next() % 120)
            while bytes.count < length && !s.isComplete {
                let options = (alphabet + (0...255).map(UInt8.init)).filter { var c = s; return c.advance($0) }
                #expect(!options.isEmpty, "dead end after \(String(decoding: bytes, as: UTF8.self))")
                guard !options.isEmpty else { break }
                // Prefer structural/alphabet bytes (listed first) to reach deep states.
                let pick = rng.next() % 4 == 0 ? options.randomElement(using: &rng)! : options[Int(rng.next() % UInt64(min(options.count, 12)))]
                let accepted = s.advance(pick)
                #expect(accepted)
                bytes.append(pick)
            }
            let completed = bytes + s.completion()
            var check = JSONConstraint(schema: schema)
            let accepted = check.advance(completed)
            #expect(accepted && check.isComplete, "trial \(trial): \(String(decoding: completed, as: UTF8.self))")
            let value = try JSONValue.parse(completed)
            try schema.validate(value)
            // Foundation agrees that it is JSON.
            #expect(throws: Never.self) { try JSONSerialization.jsonObject(with: Data(completed)) }
        }
    }

    @Test func completionFromStartIsMinimalDocument() throws {
        let s = JSONConstraint(schema: try JSONSchema(json: Schemas.allRequired))
        #expect(String(decoding: s.completion(), as: UTF8.self) == #"{"city":"","zip":0,"tags":[]}"#)
        let o = JSONConstraint(schema: try JSONSchema(json: Schemas.optionalOnly))
        #expect(String(decoding: o.completion(), as: UTF8.self) == "{}")
    }
}

/// A deterministic generator for tests (SplitMix64).
struct SystemRandomNumberGeneratorSeeded: RandomNumberGenerator {
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
