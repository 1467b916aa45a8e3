// Tokenizers: building a tokenizer from GGUF metadata (`tokenizer.*` keys).

import GGUF

/// Creates the tokenizer a GGUF file describes.
public enum TokenizerLoader {
    /// Metadata keys read here (llama.cpp LLM_KV_TOKENIZER_*).
    enum Key {
        static let model = "tokenizer.ggml.model", pre = "tokenizer.ggml.pre", tokens = "tokenizer.ggml.tokens"
        static let tokenType = "tokenizer.ggml.token_type", scores = "tokenizer.ggml.scores"
        static let merges = "tokenizer.ggml.merges"
        static let bos = "tokenizer.ggml.bos_token_id", eos = "tokenizer.ggml.eos_token_id"
        static let eot = "tokenizer.ggml.eot_token_id", eom = "tokenizer.ggml.eom_token_id"
        static let unknown = "tokenizer.ggml.unknown_token_id", separator = "tokenizer.ggml.seperator_token_id"
        static let padding = "tokenizer.ggml.padding_token_id", mask = "tokenizer.ggml.mask_token_id"
        static let fimPre = "tokenizer.ggml.fim_pre_token_id", fimSuf = "tokenizer.ggml.fim_suf_token_id"
        static let fimMid = "tokenizer.ggml.fim_mid_token_id", fimPad = "tokenizer.ggml.fim_pad_token_id"
        static let fimRep = "tokenizer.ggml.fim_rep_token_id", fimSep = "tokenizer.ggml.fim_sep_token_id"
        static let prefix = "tokenizer.ggml.prefix_token_id", suffix = "tokenizer.ggml.suffix_token_id"
        static let middle = "tokenizer.ggml.middle_token_id"
        static let addBOS = "tokenizer.ggml.add_bos_token", addEOS = "tokenizer.ggml.add_eos_token"
        static let addSpacePrefix = "tokenizer.ggml.add_space_prefix"
        static let chatTemplate = "tokenizer.chat_template"
    }

    /// Reads the `tokenizer.*` metadata into a plain `TokenizerVocabulary`.
    /// - Throws: `TokenizerError.missingKey` / `.invalidValue` for absent or mistyped keys.
    public static func vocabulary(from metadata: GGUFMetadata) throws -> TokenizerVocabulary {
        func wrap<T>(_ key: String, _ body: () throws -> T) throws -> T {
            do { return try body() } catch let error as TokenizerError { throw error } catch {
                throw TokenizerError.invalidValue(key: key, reason: "\(error)")
            }
        }
        guard metadata[Key.model] != nil else { throw TokenizerError.missingKey(Key.model) }
        guard metadata[Key.tokens] != nil else { throw TokenizerError.missingKey(Key.tokens) }
        let model = try wrap(Key.model) { try metadata.string(Key.model) }
        var vocab = TokenizerVocabulary(model: model, tokens: try wrap(Key.tokens) { try metadata.stringArray(Key.tokens) })
        vocab.preTokenizer = try wrap(Key.pre) { try metadata.optionalString(Key.pre) }
        if metadata[Key.tokenType] != nil {
            let types = try wrap(Key.tokenType) { try metadata.intArray(Key.tokenType) }
            vocab.tokenTypes = types.map { Int32(truncatingIfNeeded: $0) }
        }
        if metadata[Key.scores] != nil { vocab.scores = try wrap(Key.scores) { try metadata.floatArray(Key.scores) } }
        if metadata[Key.merges] != nil { vocab.merges = try wrap(Key.merges) { try metadata.stringArray(Key.merges) } }
        func id(_ key: String) throws -> Int? { try wrap(key) { try metadata.optionalInt(key) } }
        var s = SpecialTokenIDs(bos: try id(Key.bos), eos: try id(Key.eos), eot: try id(Key.eot), eom: try id(Key.eom),
                                unknown: try id(Key.unknown), separator: try id(Key.separator),
                                padding: try id(Key.padding), mask: try id(Key.mask))
        s.fimPrefix = try id(Key.fimPre) ?? id(Key.prefix)
        s.fimSuffix = try id(Key.fimSuf) ?? id(Key.suffix)
        s.fimMiddle = try id(Key.fimMid) ?? id(Key.middle)
        s.fimPad = try id(Key.fimPad)
        s.fimRepo = try id(Key.fimRep)
        s.fimSeparator = try id(Key.fimSep)
        vocab.special = s
        vocab.addBOS = try wrap(Key.addBOS) { try metadata.optionalBool(Key.addBOS) }
        vocab.addEOS = try wrap(Key.addEOS) { try metadata.optionalBool(Key.addEOS) }
        vocab.addSpacePrefix = try wrap(Key.addSpacePrefix) { try metadata.optionalBool(Key.addSpacePrefix) }
        vocab.chatTemplate = try wrap(Key.chatTemplate) { try metadata.optionalString(Key.chatTemplate) }
        return vocab
    }

    /// Builds the tokenizer described by a GGUF file's metadata.
    /// - Returns: a `BPETokenizer` for "gpt2", a `SentencePieceTokenizer` for "llama".
    /// - Throws: `TokenizerError` (missing/ill-typed keys, unknown model or pre-tokenizer, malformed merges …).
    /// - Complexity: O(vocabulary + merges); ~10 ms for SmolLM2's 49k tokens and 49k merges in release builds.
    public static func load(from metadata: GGUFMetadata) throws -> any Tokenizer {
        try load(from: vocabulary(from: metadata))
    }

    /// Builds the tokenizer for a plain vocabulary description.
    public static func load(from vocabulary: TokenizerVocabulary) throws -> any Tokenizer {
        switch vocabulary.model {
        case "gpt2":
            if vocabulary.merges.isEmpty { throw TokenizerError.missingKey(Key.merges) }
            return try BPETokenizer(vocabulary: vocabulary)
        case "llama":
            return try SentencePieceTokenizer(vocabulary: vocabulary)
        default:
            throw TokenizerError.unsupportedModel(vocabulary.model)
        }
    }
}
