// Tokenizers: the plain-Swift description of a tokenizer, as stored in GGUF `tokenizer.*` metadata.

/// Special-token ids exactly as given by metadata (`nil` when the key is absent; llama.cpp defaults then apply).
public struct SpecialTokenIDs: Sendable, Equatable {
    public var bos: Int?, eos: Int?, eot: Int?, eom: Int?, unknown: Int?, separator: Int?, padding: Int?, mask: Int?
    public var fimPrefix: Int?, fimSuffix: Int?, fimMiddle: Int?, fimPad: Int?, fimRepo: Int?, fimSeparator: Int?

    public init(bos: Int? = nil, eos: Int? = nil, eot: Int? = nil, eom: Int? = nil, unknown: Int? = nil,
                separator: Int? = nil, padding: Int? = nil, mask: Int? = nil) {
        self.bos = bos; self.eos = eos; self.eot = eot; self.eom = eom
        self.unknown = unknown; self.separator = separator; self.padding = padding; self.mask = mask
    }
}

/// Everything needed to build a tokenizer, independent of the GGUF reader.
///
/// Field meanings follow the GGUF keys `tokenizer.ggml.*`; build one by hand for tests or let
/// `TokenizerLoader.load(from:)` read it from a file's metadata.
public struct TokenizerVocabulary: Sendable {
    /// `tokenizer.ggml.model`: "gpt2" (byte-level BPE) or "llama" (SentencePiece).
    public var model: String
    /// `tokenizer.ggml.pre`: the BPE pre-tokenizer name (nil → llama.cpp's "default").
    public var preTokenizer: String?
    /// `tokenizer.ggml.tokens`: token texts (GPT-2 byte-encoded for BPE, `▁` for spaces in SentencePiece).
    public var tokens: [String]
    /// `tokenizer.ggml.token_type` (see `TokenType`); nil → all normal.
    public var tokenTypes: [Int32]?
    /// `tokenizer.ggml.scores` (SentencePiece merge priorities); nil → all zero.
    public var scores: [Float]?
    /// `tokenizer.ggml.merges`: "left right" pairs, highest priority first (BPE only).
    public var merges: [String]
    /// Special token ids from metadata.
    public var special: SpecialTokenIDs
    /// `tokenizer.ggml.add_bos_token` / `add_eos_token` / `add_space_prefix` (nil → llama.cpp defaults).
    public var addBOS: Bool?
    public var addEOS: Bool?
    public var addSpacePrefix: Bool?
    /// `tokenizer.chat_template` (Jinja source), if any.
    public var chatTemplate: String?

    public init(model: String, preTokenizer: String? = nil, tokens: [String], tokenTypes: [Int32]? = nil,
                scores: [Float]? = nil, merges: [String] = [], special: SpecialTokenIDs = SpecialTokenIDs(),
                addBOS: Bool? = nil, addEOS: Bool? = nil, addSpacePrefix: Bool? = nil, chatTemplate: String? = nil) {
        self.model = model; self.preTokenizer = preTokenizer; self.tokens = tokens; self.tokenTypes = tokenTypes
        self.scores = scores; self.merges = merges; self.special = special
        self.addBOS = addBOS; self.addEOS = addEOS; self.addSpacePrefix = addSpacePrefix
        self.chatTemplate = chatTemplate
    }
}
