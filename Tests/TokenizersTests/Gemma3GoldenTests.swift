// Extra Gemma 3 (SentencePiece) cases whose ids come from an independent oracle: the `sentencepiece` library
// running a BPE model built from the GGUF tokens, scores and types (Golden/gemma3-extra-cases.json).
// Needs weights/gemma-3-270m-q4_k_m.gguf (or EDGELM_MODEL); skipped otherwise.

import Foundation
import GGUF
import Testing
import Tokenizers

enum Gemma3Golden {
    static let weights: String? = {
        let name = "gemma-3-270m-q4_k_m.gguf"
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
        let text: String, ids: [Int32]
        var description: String { String(text.debugDescription.prefix(50)) }
    }

    static let cases: [Case] = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Golden/gemma3-extra-cases.json")
        guard let data = try? Data(contentsOf: url),
              let doc = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let cases = doc["cases"] as? [[String: Any]] else { return [] }
        return cases.map { c in
            Case(text: c["text"] as? String ?? "",
                 ids: (c["ids"] as? [Any] ?? []).compactMap { ($0 as? NSNumber)?.int32Value })
        }
    }()

    static let tokenizer: (any Tokenizer)? = weights.flatMap { try? TokenizerLoader.load(from: GGUFFile(path: $0).metadata) }
}

@Suite("Gemma 3 golden cases (sentencepiece oracle)")
struct Gemma3GoldenTests {
    @Test func goldenFileIsPresent() {
        #expect(Gemma3Golden.cases.count >= 50)
    }

    @Test(.enabled(if: Gemma3Golden.weights != nil), arguments: Gemma3Golden.cases)
    func matchesOracle(_ c: Gemma3Golden.Case) throws {
        let t = try #require(Gemma3Golden.tokenizer)
        #expect(t.encode(c.text, parseSpecial: false) == c.ids)
        #expect(t.decode(c.ids) == c.text)
    }
}
