// Tokenizers: the tokenizer protocol every GGUF tokenizer implements.
//
// Semantics follow llama.cpp (src/llama-vocab.cpp): `encode` is `llama_tokenize(add_special: false,
// parse_special:)`, `tokenPiece` is `llama_token_to_piece(special:)`, `decode` is
// `llama_detokenize(remove_special: false, unparse_special:)`.

/// A text ⇄ token-id converter built from a model's GGUF metadata.
///
/// Implementations are immutable (apart from internal caches) and safe to share between threads.
public protocol Tokenizer: Sendable {
    /// Number of tokens in the vocabulary (ids are `0..<vocabularySize`).
    var vocabularySize: Int { get }
    /// Beginning-of-sequence token, when the vocabulary has one.
    var bosID: Int32? { get }
    /// End-of-sequence token, when the vocabulary has one.
    var eosID: Int32? { get }
    /// End-of-turn token (from metadata, or inferred from texts like `<|im_end|>`, `<end_of_turn>`).
    var eotID: Int32? { get }
    /// Whether prompts should start with `bosID` (`tokenizer.ggml.add_bos_token`, llama.cpp defaults otherwise).
    var addBOS: Bool { get }

    /// Tokenizes `text` without adding BOS/EOS.
    ///
    /// Equals llama.cpp's `llama_tokenize(add_special: false, parse_special:)`: with `parseSpecial`, the texts of
    /// control tokens (e.g. `<|im_start|>`) become their ids; user-defined tokens are always matched.
    /// - Complexity: O(n log n) in the text length; repeated words hit a per-tokenizer cache.
    func encode(_ text: String, parseSpecial: Bool) -> [Int32]

    /// Detokenizes `ids` as generation output: control/unknown tokens render as nothing, invalid UTF-8 as U+FFFD.
    func decode(_ ids: [Int32]) -> String

    /// The raw bytes token `id` spells as generation output (`llama_token_to_piece(special: false)`):
    /// empty for control, unknown, unused and out-of-range ids. May be an incomplete UTF-8 sequence.
    func tokenPiece(_ id: Int32) -> [UInt8]

    /// The bytes of token `id`; with `special`, control/unknown tokens spell their text (e.g. `<|im_end|>`).
    func tokenPiece(_ id: Int32, special: Bool) -> [UInt8]

    /// True for every token that ends generation: EOS, EOT, EOM and llama.cpp's end-of-generation set
    /// (`<|im_end|>`, `<|endoftext|>`, `<end_of_turn>`, `<|eot_id|>`, FIM pad/repo/sep, …).
    func isEndOfGeneration(_ id: Int32) -> Bool
}

extension Tokenizer {
    public func tokenPiece(_ id: Int32) -> [UInt8] { tokenPiece(id, special: false) }

    /// Tokenizes `text`, adding BOS first when `addSpecial && addBOS` (llama.cpp `add_special: true`).
    public func encode(_ text: String, addSpecial: Bool, parseSpecial: Bool) -> [Int32] {
        let body = encode(text, parseSpecial: parseSpecial)
        guard addSpecial, addBOS, let bos = bosID else { return body }
        return [bos] + body
    }
}

/// The ggml token types stored in `tokenizer.ggml.token_type`.
public enum TokenType: Int32, Sendable, CaseIterable {
    case undefined = 0, normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6
}
