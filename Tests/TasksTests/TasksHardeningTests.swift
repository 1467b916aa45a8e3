// Issue 17, items 10–12 (library side): oversized inputs name their token count, labels are validated
// ignoring case, schema keys may hold escaped quotes and may not repeat.

import Foundation
import Testing
@testable import Tasks

/// A local handler whose input never fits, reporting how much it needs.
final class TooLongLocal: LocalTaskHandler {
    func run(_ task: TaskInput) throws -> (output: TaskOutput, confidence: Double?) { (.rewrite("x"), 1) }
    func fits(_ task: TaskInput) -> Bool { false }
    func contextNeed(_ task: TaskInput) -> (tokens: Int, contextLength: Int)? { (22_392, 2048) }
}

@Suite struct TasksHardeningTests {
    static let task = TaskInput.classify(text: "long", labels: ["a", "b"], instruction: nil)

    @Test("item 10: an input too long with no remote names its token count and the context")
    func oversizedNamesCause() throws {
        let router = Router(local: TooLongLocal(), remote: nil)
        #expect(throws: TasksError.inputTooLong(tokens: 22_392, contextLength: 2048)) {
            _ = try router.run(TaskRequest(task: Self.task, capability: .classify))
        }
        // With a failing remote the message carries both causes.
        let both = Router(local: TooLongLocal(), remote: FakeRemote(fails: true))
        do {
            _ = try both.run(TaskRequest(task: Self.task, capability: .classify))
            Issue.record("no error")
        } catch {
            #expect("\(error)".contains("needs 22392 tokens but the local context holds 2048"), "\(error)")
        }
    }

    @Test("item 12: a schema key with an escaped quote is accepted and decodes")
    func escapedQuoteKey() throws {
        let schema = try JSONSchema(json: #"{"type":"object","properties":{"a\"b":{"type":"integer"},"c":{"type":"integer"}},"required":["a\"b"]}"#)
        var c = JSONConstraint(schema: schema)
        let ok = c.advance(Array(#"{"a\"b":1,"c":2}"#.utf8))
        #expect(ok && c.isComplete)
        var d = JSONConstraint(schema: schema)
        let advanced = d.advance(Array(#"{"a\"x":1}"#.utf8))
        #expect(!advanced)
    }

    @Test("item 12: duplicate keys in a schema are refused when it is parsed")
    func duplicateKeys() throws {
        for text in [#"{"type":"object","type":"object","properties":{}}"#,
                     #"{"type":"object","properties":{"a":{"type":"string"},"a":{"type":"integer"}}}"#] {
            do {
                _ = try JSONSchema(json: text)
                Issue.record("accepted \(text)")
            } catch let TasksError.invalidSchema(why) {
                #expect(why.contains("duplicate key"), "\(why)")
            }
        }
    }
}
