// Tokenizer outputs against llama.cpp reference token ids (Reference/*.json, produced by llama-cpp-python).
// Needs the real model files in weights/ (weights/fetch.sh) or EDGELM_MODEL; skipped when they are absent.

import Foundation
import GGUF
import Testing
import Tokenizers

/// One reference model: its GGUF file name and its reference JSON.
struct TokenizerReferenceModel: Sendable, CustomStringConvertible {
    let gguf: String
    let json: String
    var description: String { gguf }

    static let smollm2 = TokenizerReferenceModel(gguf: "smollm2-135m-instruct-q4_1.gguf",
                                                 json: "smollm2-135m-instruct-q4_1.json")
    static let gemma3 = TokenizerReferenceModel(gguf: "gemma-3-270m-q4_k_m.gguf", json: "gemma-3-270m-q4_k_m.json")
    static let all = [smollm2, gemma3]

    /// weights/<gguf> found by walking up from this file, or EDGELM_MODEL (a file with this name, or a directory).
    var weightsPath: String? {
        let fm = FileManager.default
        if let env = ProcessInfo.processInfo.environment["EDGELM_MODEL"] {
            if env.hasSuffix("/" + gguf) || env == gguf, fm.fileExists(atPath: env) { return env }
            let inDir = (env as NSString).appendingPathComponent(gguf)
            if fm.fileExists(atPath: inDir) { return inDir }
        }
        var dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        for _ in 0..<6 {
            let candidate = dir.appendingPathComponent("weights").appendingPathComponent(gguf).path
            if fm.fileExists(atPath: candidate) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return nil
    }

    var isAvailable: Bool { weightsPath != nil }

    /// The reference JSON from the test bundle.
    var reference: [String: Any] {
        guard let url = Bundle.module.url(forResource: "Reference/" + json, withExtension: nil)
                ?? Bundle.module.url(forResource: (json as NSString).deletingPathExtension, withExtension: "json",
                                     subdirectory: "Reference"),
              let data = try? Data(contentsOf: url),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return [:] }
        return object
    }
}

/// One tokenization case: text, and the expected ids with and without special-token parsing.
struct TokenizationCase: Sendable, CustomStringConvertible {
    let model: TokenizerReferenceModel
    let text: String
    let ids: [Int32]?
    let idsParseSpecial: [Int32]
    var description: String { "\(model.gguf): \(text.debugDescription.prefix(60))" }

    static func all(for model: TokenizerReferenceModel) -> [TokenizationCase] {
        let reference = model.reference
        func ints(_ any: Any?) -> [Int32] { (any as? [Any] ?? []).compactMap { ($0 as? NSNumber)?.int32Value } }
        var cases: [TokenizationCase] = []
        for entry in reference["tokenize"] as? [[String: Any]] ?? [] {
            cases.append(TokenizationCase(model: model, text: entry["text"] as? String ?? "",
                                          ids: ints(entry["ids"]), idsParseSpecial: ints(entry["ids_parse_special"])))
        }
        // Prompts are tokenized with special tokens parsed, BOS only when the model asks for it.
        let addBOS = reference["add_bos"] as? Bool ?? false
        for key in ["greedy", "logits"] {
            for entry in reference[key] as? [[String: Any]] ?? [] {
                var ids = ints(entry["prompt_ids"])
                if addBOS, !ids.isEmpty { ids.removeFirst() }
                cases.append(TokenizationCase(model: model, text: entry["prompt"] as? String ?? "", ids: nil,
                                              idsParseSpecial: ids))
            }
        }
        return cases
    }
}

/// Tokenizers loaded once per model for the whole run.
enum LoadedTokenizers {
    static let smollm2: Result<any Tokenizer, any Error>? = load(.smollm2)
    static let gemma3: Result<any Tokenizer, any Error>? = load(.gemma3)

    static func load(_ model: TokenizerReferenceModel) -> Result<any Tokenizer, any Error>? {
        guard let path = model.weightsPath else { return nil }
        return Result { try TokenizerLoader.load(from: GGUFFile(path: path).metadata) }
    }

    static func tokenizer(_ model: TokenizerReferenceModel) throws -> any Tokenizer {
        let result = model.gguf == TokenizerReferenceModel.smollm2.gguf ? smollm2 : gemma3
        guard let result else { throw CancellationError() }
        return try result.get()
    }
}

@Suite("Tokenizer vs llama.cpp reference")
struct TokenizerReferenceTests {
    @Test("SmolLM2 tokenization matches llama.cpp", .enabled(if: TokenizerReferenceModel.smollm2.isAvailable),
          arguments: TokenizationCase.all(for: .smollm2))
    func smollm2(_ c: TokenizationCase) throws {
        try check(c)
    }

    @Test("Gemma 3 tokenization matches llama.cpp", .enabled(if: TokenizerReferenceModel.gemma3.isAvailable),
          arguments: TokenizationCase.all(for: .gemma3))
    func gemma3(_ c: TokenizationCase) throws {
        try check(c)
    }

    func check(_ c: TokenizationCase) throws {
        let tokenizer = try LoadedTokenizers.tokenizer(c.model)
        if let ids = c.ids { #expect(tokenizer.encode(c.text, parseSpecial: false) == ids) }
        #expect(tokenizer.encode(c.text, parseSpecial: true) == c.idsParseSpecial)
    }

    @Test("Reference files list cases for every model", arguments: TokenizerReferenceModel.all)
    func referenceHasCases(_ model: TokenizerReferenceModel) {
        #expect(TokenizationCase.all(for: model).count >= 16)
    }

    @Test("SmolLM2 special tokens and flags", .enabled(if: TokenizerReferenceModel.smollm2.isAvailable))
    func smollm2Specials() throws {
        let t = try LoadedTokenizers.tokenizer(.smollm2)
        #expect(t.vocabularySize == 49152)
        #expect(t.bosID == 1)
        #expect(t.eosID == 2)
        #expect(t.addBOS == false)
        #expect(t.isEndOfGeneration(2))   // <|im_end|>
        #expect(t.isEndOfGeneration(0))   // <|endoftext|>
        #expect(!t.isEndOfGeneration(1))  // <|im_start|>
        #expect(!t.isEndOfGeneration(504))
        #expect(t.tokenPiece(2).isEmpty)  // control tokens render as nothing
        #expect(t.tokenPiece(2, special: true) == Array("<|im_end|>".utf8))
    }

    @Test("Gemma 3 special tokens and flags", .enabled(if: TokenizerReferenceModel.gemma3.isAvailable))
    func gemma3Specials() throws {
        let t = try LoadedTokenizers.tokenizer(.gemma3)
        #expect(t.vocabularySize == 262144)
        #expect(t.bosID == 2)
        #expect(t.eosID == 1)
        #expect(t.addBOS == true)
        #expect(t.isEndOfGeneration(1))
        #expect(t.eotID.map { t.tokenPiece($0, special: true) } == Array("<end_of_turn>".utf8))
    }

    @Test("Decoding the greedy outputs gives llama.cpp's text", arguments: TokenizerReferenceModel.all)
    func decodeGreedy(_ model: TokenizerReferenceModel) throws {
        guard model.isAvailable else { return }
        let t = try LoadedTokenizers.tokenizer(model)
        for entry in model.reference["greedy"] as? [[String: Any]] ?? [] {
            let ids = (entry["ids"] as? [Any] ?? []).compactMap { ($0 as? NSNumber)?.int32Value }
            let text = entry["text"] as? String ?? ""
            var decoder = StreamingDecoder(tokenizer: t)
            var streamed = ""
            for id in ids where !t.isEndOfGeneration(id) { streamed += decoder.append(id) }
            streamed += decoder.finish()
            #expect(streamed == text)
        }
    }
}
