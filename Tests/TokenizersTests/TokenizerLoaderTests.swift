import GGUF
import Testing
@testable import Tokenizers

@Suite("TokenizerLoader and typed errors")
struct TokenizerLoaderTests {
    static func metadata(_ entries: [(String, GGUFValue)]) throws -> GGUFMetadata {
        try GGUFMetadata(entries.map { (key: $0.0, value: $0.1) })
    }

    static func strings(_ s: [String]) throws -> GGUFValue {
        .array(try GGUFArray(elementType: .string, values: s.map { .string($0) }))
    }

    @Test func loadsBPEFromMetadata() throws {
        let v = TinyVocab.bpeVocabulary()
        let md = try Self.metadata([
            ("tokenizer.ggml.model", .string("gpt2")), ("tokenizer.ggml.pre", .string("gpt-2")),
            ("tokenizer.ggml.tokens", try Self.strings(v.tokens)),
            ("tokenizer.ggml.token_type", .array(try GGUFArray(elementType: .int32,
                                                                values: v.tokenTypes!.map { .int32($0) }))),
            ("tokenizer.ggml.merges", try Self.strings(v.merges)),
            ("tokenizer.ggml.bos_token_id", .uint32(1)), ("tokenizer.ggml.eos_token_id", .uint32(0)),
            ("tokenizer.ggml.add_bos_token", .bool(true)),
        ])
        let t = try TokenizerLoader.load(from: md)
        #expect(t is BPETokenizer)
        #expect(t.addBOS && t.bosID == 1 && t.eosID == 0)
        let direct = try BPETokenizer(vocabulary: v)
        #expect(t.encode("hello world <|im_end|>", parseSpecial: true)
            == direct.encode("hello world <|im_end|>", parseSpecial: true))
    }

    @Test func missingKeys() throws {
        #expect(throws: TokenizerError.missingKey("tokenizer.ggml.model")) {
            try TokenizerLoader.load(from: try Self.metadata([]))
        }
        #expect(throws: TokenizerError.missingKey("tokenizer.ggml.tokens")) {
            try TokenizerLoader.load(from: try Self.metadata([("tokenizer.ggml.model", .string("gpt2"))]))
        }
        #expect(throws: TokenizerError.missingKey("tokenizer.ggml.merges")) {
            try TokenizerLoader.load(from: TokenizerVocabulary(model: "gpt2", tokens: ["a"]))
        }
    }

    @Test func wrongTypes() throws {
        let md = try Self.metadata([("tokenizer.ggml.model", .uint32(3)), ("tokenizer.ggml.tokens", try Self.strings(["a"]))])
        #expect { try TokenizerLoader.load(from: md) } throws: { error in
            guard case TokenizerError.invalidValue(let key, _) = error else { return false }
            return key == "tokenizer.ggml.model"
        }
    }

    @Test func unsupportedModelNamesIt() {
        #expect(throws: TokenizerError.unsupportedModel("rwkv")) {
            try TokenizerLoader.load(from: TokenizerVocabulary(model: "rwkv", tokens: ["a"]))
        }
        #expect(TokenizerError.unsupportedModel("rwkv").description.contains("'rwkv'"))
    }

    @Test func malformedVocabularies() {
        var v = TinyVocab.bpeVocabulary()
        v.merges.append("nospace")
        #expect(throws: TokenizerError.malformedMerge(index: v.merges.count - 1, merge: "nospace")) {
            try BPETokenizer(vocabulary: v)
        }
        #expect(throws: TokenizerError.duplicateToken(text: "a", firstID: 0, secondID: 1)) {
            try BPETokenizer(vocabulary: TokenizerVocabulary(model: "gpt2", tokens: ["a", "a"], merges: ["a a"]))
        }
        #expect(throws: TokenizerError.unsupportedPreTokenizer("no-such-pre")) {
            try BPETokenizer(vocabulary: TinyVocab.bpeVocabulary(pre: "no-such-pre"))
        }
        #expect(throws: TokenizerError.emptyVocabulary) {
            try SentencePieceTokenizer(vocabulary: TokenizerVocabulary(model: "llama", tokens: []))
        }
        #expect(throws: TokenizerError.lengthMismatch(key: "tokenizer.ggml.token_type", expected: 2, actual: 1)) {
            try SentencePieceTokenizer(vocabulary: TokenizerVocabulary(model: "llama", tokens: ["a", "b"], tokenTypes: [1]))
        }
    }

    @Test func outOfRangeSpecialIDsAreIgnoredLikeLlamaCpp() throws {
        var v = TinyVocab.bpeVocabulary()
        v.special.padding = 1_000_000
        v.special.eos = -5
        let t = try BPETokenizer(vocabulary: v)
        #expect(t.paddingID == nil)
        #expect(t.eosID == 11)  // llama.cpp's BPE default EOS id
    }
}
