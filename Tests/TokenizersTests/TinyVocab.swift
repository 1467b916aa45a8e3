// Hand-made miniature vocabularies for unit tests (no model files needed).

import Tokenizers

enum TinyVocab {
    /// GPT-2 bytes_to_unicode, written independently of the module's table.
    static func gpt2Char(_ b: UInt8) -> String {
        let printable = (0x21...0x7E).contains(b) || (0xA1...0xAC).contains(b) || (0xAE...0xFF).contains(b)
        if printable { return String(Unicode.Scalar(b)) }
        var n: UInt32 = 0
        for x in 0..<Int(b) {
            let p = (0x21...0x7E).contains(x) || (0xA1...0xAC).contains(x) || (0xAE...0xFF).contains(x)
            if !p { n += 1 }
        }
        return String(Unicode.Scalar(256 + n)!)
    }

    static let bpeMerges = ["h e", "l l", "he ll", "hell o", "Ġ w", "o r", "Ġw or", "Ġwor l", "Ġworl d",
                            "a b", "b c", "a a", "Ġ Ġ"]
    static let bpeSpecial: [(String, TokenType)] = [
        ("<|endoftext|>", .control), ("<|im_start|>", .control), ("<|im_end|>", .control), ("<tool>", .userDefined),
        ("<x>", .control), ("<x><y>", .control),
    ]

    /// Specials first, then the 256 byte characters, then every merge result.
    static func bpeVocabulary(pre: String? = "gpt-2", addBOS: Bool? = nil) -> TokenizerVocabulary {
        var tokens = bpeSpecial.map(\.0)
        var types = bpeSpecial.map(\.1.rawValue)
        for b in 0...255 { tokens.append(gpt2Char(UInt8(b))); types.append(TokenType.normal.rawValue) }
        for m in bpeMerges {
            let joined = m.replacingOccurrences(of: " ", with: "")
            if !tokens.contains(joined) { tokens.append(joined); types.append(TokenType.normal.rawValue) }
        }
        return TokenizerVocabulary(model: "gpt2", preTokenizer: pre, tokens: tokens, tokenTypes: types,
                                   merges: bpeMerges, special: SpecialTokenIDs(bos: 1, eos: 0), addBOS: addBOS)
    }

    static func bpe(pre: String? = "gpt-2") throws -> BPETokenizer {
        try BPETokenizer(vocabulary: bpeVocabulary(pre: pre))
    }

    /// SentencePiece: <unk> <s> </s>, 256 byte tokens, then scored pieces (longer pieces score higher).
    static func spmVocabulary(addSpacePrefix: Bool = true) -> TokenizerVocabulary {
        var tokens = ["<unk>", "<s>", "</s>"]
        var types: [Int32] = [2, 3, 3]
        var scores: [Float] = [0, 0, 0]
        let hex = Array("0123456789ABCDEF")
        for b in 0...255 {
            tokens.append("<0x\(hex[b >> 4])\(hex[b & 15])>"); types.append(6); scores.append(0)
        }
        let pieces: [(String, Float)] = [("▁", -1), ("h", -2), ("e", -2), ("l", -2), ("o", -2), ("w", -2),
                                         ("r", -2), ("d", -2), ("he", -1.5), ("ll", -1.4), ("hell", -1.2),
                                         ("hello", -1), ("▁hello", -0.5), ("▁w", -1.5), ("or", -1.5),
                                         ("▁wor", -1.1), ("▁world", -0.4), ("ld", -1.3), ("orld", -3)]
        for (p, s) in pieces { tokens.append(p); types.append(1); scores.append(s) }
        return TokenizerVocabulary(model: "llama", tokens: tokens, tokenTypes: types, scores: scores,
                                   special: SpecialTokenIDs(bos: 1, eos: 2, unknown: 0), addSpacePrefix: addSpacePrefix)
    }
}
