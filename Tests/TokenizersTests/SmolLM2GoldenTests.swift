// Extra SmolLM2 cases (unicode, whitespace, contractions, special tokens) whose ids were produced by an
// independent oracle: HuggingFace `tokenizers` ByteLevel BPE built from the GGUF vocab and merges
// (see Golden/smollm2-extra-cases.json). Needs weights/smollm2-135m-instruct-q4_1.gguf; skipped otherwise.

import Foundation
import GGUF
import Testing
@testable import Tokenizers

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

/// The other pre-tokenizers (gpt-2, llama-bpe, qwen2, default) run over SmolLM2's vocabulary and merges, against
/// HF `tokenizers` applying the original regexes (Golden/smollm2-vocab-pretokenizers.json).
enum PreTokenizerGolden {
    struct Case: Sendable, CustomStringConvertible {
        let pre: String, text: String, ids: [Int32]
        var description: String { "\(pre): \(text.debugDescription.prefix(40))" }
    }

    static let cases: [Case] = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Golden/smollm2-vocab-pretokenizers.json")
        guard let data = try? Data(contentsOf: url),
              let doc = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let byPre = doc["pretokenizers"] as? [String: [[String: Any]]] else { return [] }
        return byPre.keys.sorted().flatMap { pre in
            byPre[pre]!.map { c in
                Case(pre: pre, text: c["text"] as? String ?? "",
                     ids: (c["ids"] as? [Any] ?? []).compactMap { ($0 as? NSNumber)?.int32Value })
            }
        }
    }()

    static let tokenizers: [String: BPETokenizer] = {
        guard let path = SmolLM2Golden.weights,
              var vocab = try? TokenizerLoader.vocabulary(from: GGUFFile(path: path).metadata) else { return [:] }
        var out: [String: BPETokenizer] = [:]
        for pre in ["gpt-2", "llama-bpe", "qwen2", "default"] {
            vocab.preTokenizer = pre
            out[pre] = try? BPETokenizer(vocabulary: vocab)
        }
        return out
    }()
}

@Suite("Pre-tokenizers over a real vocabulary (HF tokenizers oracle)")
struct PreTokenizerGoldenTests {
    @Test func goldenFileIsPresent() {
        #expect(Set(PreTokenizerGolden.cases.map(\.pre)) == ["gpt-2", "llama-bpe", "qwen2", "default"])
    }

    @Test(.enabled(if: SmolLM2Golden.weights != nil), arguments: PreTokenizerGolden.cases)
    func matchesOracle(_ c: PreTokenizerGolden.Case) throws {
        let t = try #require(PreTokenizerGolden.tokenizers[c.pre])
        #expect(t.encode(c.text, parseSpecial: false) == c.ids)
    }
}
