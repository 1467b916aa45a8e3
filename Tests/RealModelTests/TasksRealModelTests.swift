// Tasks on the real SmolLM2-135M: held-out classification accuracy and extraction validity on the sets in
// docs/data/. Skipped when weights/ is absent. Slow in debug builds: run with `-c release`.

import EdgeLM
import Foundation
import Testing

private func repoFile(_ relative: String, from file: String = #filePath) -> String? {
    var dir = URL(fileURLWithPath: file).resolvingSymlinksInPath().deletingLastPathComponent()
    while dir.path != "/" {
        let p = dir.appendingPathComponent(relative).path
        if FileManager.default.fileExists(atPath: p) { return p }
        dir = dir.deletingLastPathComponent()
    }
    return nil
}

private func lines(_ path: String) throws -> [JSONValue] {
    try String(decoding: FileManager.default.contents(atPath: path) ?? Data(), as: UTF8.self)
        .split(separator: "\n").map { try JSONValue.parse(String($0)) }
}

private func str(_ v: JSONValue?) -> String? { if case .string(let s)? = v { return s }; return nil }

@Suite("Tasks on SmolLM2", .serialized)
struct TasksRealModelTests {
    /// Held-out 28 items (14 sentiment, 14 intent), contextual calibration (the default path).
    /// Measured 0.786 (22/28: sentiment 12/14, intent 10/14) in release; uncalibrated 0.429. The bar asserted
    /// is the issue's: ≥ 0.75.
    @Test func heldOutClassificationAccuracy() throws {
        guard let model = repoFile("weights/smollm2-135m-instruct-q4_1.gguf"),
              let data = repoFile("docs/data/classify.jsonl") else {
            print("skipping: weights/smollm2-135m-instruct-q4_1.gguf absent"); return
        }
        let runner = try TaskRunner(model: try Model(path: model))
        var correct = 0, total = 0
        for v in try lines(data) where str(v["split"]) == "heldout" {
            guard case .array(let ls)? = v["labels"] else { continue }
            let labels = ls.compactMap(str)
            let c = try runner.classify(str(v["text"])!, labels: labels, instruction: str(v["instruction"]))
            if c.label == str(v["label"]) { correct += 1 }
            total += 1
            #expect(abs(c.probabilities.reduce(0, +) - 1) < 1e-9)
        }
        #expect(total == 28)
        #expect(Double(correct) / Double(total) >= 0.75, "held-out accuracy \(correct)/\(total)")
    }

    /// Every extraction parses (with Foundation too) and validates, and most fields are right.
    @Test func extractionIsValidOnEveryInput() throws {
        guard let model = repoFile("weights/smollm2-135m-instruct-q4_1.gguf"),
              let data = repoFile("docs/data/extract.jsonl"),
              let schemaPath = repoFile("docs/data/contact.schema.json") else {
            print("skipping: weights/smollm2-135m-instruct-q4_1.gguf absent"); return
        }
        let schema = try JSONSchema(json: String(decoding: FileManager.default.contents(atPath: schemaPath)!, as: UTF8.self))
        let runner = try TaskRunner(model: try Model(path: model))
        var names = 0
        for v in try lines(data) {
            let e = try runner.extract(str(v["text"])!, schema: schema)
            try schema.validate(try JSONValue.parse(e.text))
            #expect((try? JSONSerialization.jsonObject(with: Data(e.text.utf8))) != nil, "\(e.text)")
            if e.value["name"] == v["expected"]?["name"] { names += 1 }
        }
        #expect(names >= 10, "names right: \(names)/12")
    }
}
