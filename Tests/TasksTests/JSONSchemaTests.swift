import Testing
@testable import Tasks

@Suite struct JSONSchemaTests {
    @Test func parsesTheSubset() throws {
        let s = try JSONSchema(json: Schemas.nested)
        guard case .object(let props) = s.kind else { Issue.record("not an object"); return }
        #expect(props.map(\.name) == ["order", "status", "scores", "flags"])
        #expect(props.map(\.required) == [true, true, false, false])
        #expect(props[1].schema.nullable)
        #expect(props[1].schema.kind == .enumeration([.string("open"), .string("closed"), .string("on hold")]))
        #expect(props[3].schema.nullable)
    }

    @Test(arguments: [
        #"{"type":"object","properties":{"a":{"type":"string","format":"ipv4"}}}"#,
        ##"{"type":"object","properties":{"a":{"$ref":"#/x"}}}"##,
        #"{"type":"object","properties":{"a":{"anyOf":[{"type":"string"}]}}}"#,
        #"{"type":"object","properties":{"a":{"type":["string","integer"]}}}"#,
        #"{"type":"object","properties":{"a":{"type":"number","minimum":0}}}"#,
        #"{"type":"object","properties":{"a":{"type":"array"}}}"#,
        #"{"type":"object","properties":{"a":{"type":"string"}},"required":["b"]}"#,
        #"{"type":"object","properties":{"a":{"type":"date"}}}"#,
        #"{"type":"object","properties":{"a":{"type":"string","maxLength":0}}}"#,
        #"{"type":"string"}"#,
        #"{"type":"object","properties":{"a":{"enum":[]}}}"#,
    ])
    func rejectsUnsupportedFeaturesUpFront(text: String) {
        #expect { try JSONSchema(json: text) } throws: { error in
            guard case TasksError.unsupportedSchema(let path, let reason) = error else { return false }
            return !path.isEmpty && !reason.isEmpty && "\(error)".contains("supported")
        }
    }

    @Test(arguments: ["", "[1]", "{", "{\"type\":\"object\",}", "nope"])
    func rejectsNonObjects(text: String) {
        #expect(throws: TasksError.self) { try JSONSchema(json: text) }
    }

    @Test func validatorFindsViolations() throws {
        let s = try JSONSchema(json: Schemas.contact)
        try s.validate(try JSONValue.parse(#"{"name":"A","age":1}"#))
        for bad in [#"{"age":1}"#, #"{"name":3,"age":1}"#, #"{"name":"A","age":1.5}"#, #"{"name":null,"age":1}"#] {
            #expect(throws: TasksError.self) { try s.validate(try JSONValue.parse(bad)) }
        }
    }

    @Test func jsonRoundTrip() throws {
        let text = #"{"a":[1,-2.5,true,null,"x\"\\\n\u00e9"],"b":{}}"#
        let v = try JSONValue.parse(text)
        #expect(try JSONValue.parse(v.description) == v)
        #expect(v["a"] == .array([.number(1), .number(-2.5), .bool(true), .null, .string("x\"\\\né")]))
    }
}
