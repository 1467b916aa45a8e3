// Extra SmolLM2 cases (unicode, whitespace, contractions, special tokens) whose ids were produced by an
// independent oracle: HuggingFace `tokenizers` ByteLevel BPE built from the GGUF vocab and merges
// (see Golden/smollm2-extra-cases.json). Needs weights/smollm2-135m-instruct-q4_1.gguf; skipped otherwise.

import Foundation
import GGUF
import Testing
import Tokenizers

enum SmolLM2Golden {
    /// weights/<file> found by walking up from this file, or EDGELM_MODEL (the file itself or its directory).
    static let weights: String? = {
        let name = "smollm2-135m-instruct-q4_1.gguf"
        if let env = ProcessInfo.processInfo.environment["EDGELM_MODEL"] {
            for path in [env, (env as NSString).appendingPathComponent(name)]
            where path.hasSuffix(name) && FileManager.default.fileExists(atPath: path) { return path }
        }
        var dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        for _ in 0..<5 {
            let path = dir.appendingPathComponent("weights/" + name).path
            if FileManager.default.fileExists(atPath: path) { return path }
            dir = dir.deletingLastPathComponent()
        }
        return nil
    }()

    struct Case: Sendable, CustomStringConvertible {
        let text: String, ids: [Int32], idsParseSpecial: [Int32]
        var description: String { String(text.debugDescription.prefix(50)) }
    }

    static let cases: [Case] = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Golden/smollm2-extra-cases.json")
        guard let data = try? Data(contentsOf: url),
              let doc = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let cases = doc["cases"] as? [[String: Any]] else { return [] }
        func ints(_ a: Any?) -> [Int32] { (a as? [Any] ?? []).compactMap { ($0 as? NSNumber)?.int32Value } }
        return cases.map { Case(text: $0["text"] as? String ?? "", ids: ints($0["ids"]),
                                idsParseSpecial: ints($0["ids_parse_special"])) }
    }()

    static let tokenizer: (any Tokenizer)? = weights.flatMap { try? TokenizerLoader.load(from: GGUFFile(path: $0).metadata) }
}

@Suite("SmolLM2 golden cases (HF tokenizers oracle)")
struct SmolLM2GoldenTests {
    @Test func goldenFileIsPresent() {
        #expect(SmolLM2Golden.cases.count >= 70)
    }

    @Test(.enabled(if: SmolLM2Golden.weights != nil), arguments: SmolLM2Golden.cases)
    func matchesOracle(_ c: SmolLM2Golden.Case) throws {
        let t = try #require(SmolLM2Golden.tokenizer)
        #expect(t.encode(c.text, parseSpecial: false) == c.ids)
        #expect(t.encode(c.text, parseSpecial: true) == c.idsParseSpecial)
        #expect(t.decode(c.ids) == c.text)
    }
}
