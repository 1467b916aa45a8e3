// Tokenizers: SentencePiece BPE (`tokenizer.ggml.model == "llama"`, e.g. Gemma 3), bit-exact with llama.cpp
// llm_tokenizer_spm_session.
//
// Each raw-text fragment (after special-token partitioning) gets an optional leading space (add_space_prefix,
// only at the start or after a special token), spaces become "▁", and the whole fragment — no pre-tokenizer — is
// split into UTF-8 characters. Adjacent symbols whose concatenation is a vocabulary entry are merged, highest
// score first (ties: leftmost). Symbols that are not tokens are emitted as byte tokens <0xXX>.

/// SentencePiece-style tokenizer driven by token scores (Llama 1/2, Gemma, Mistral v1 …).
///
/// Loading builds a byte-string hash table of the vocabulary: O(vocabulary) time, ~40 bytes per token.
public final class SentencePieceTokenizer: Tokenizer {
    let core: VocabularyCore
    /// Whether a space is prepended to text at the start and after special tokens (and stripped on decode).
    public let addSpacePrefix: Bool
    /// Token of each byte: "<0xXX>", else the single-byte string. (256, -1 = none)
    let byteToken: [Int32]
    /// `tokenizer.chat_template`, when the vocabulary carried one.
    public let chatTemplate: String?

    /// Builds the tokenizer. - Throws: `TokenizerError` for duplicate tokens or inconsistent arrays.
    public init(vocabulary vocab: TokenizerVocabulary) throws {
        let core = try VocabularyCore(vocab, defaults: (1, 2, 0), addBOSDefault: true, addEOSDefault: false)
        self.core = core
        self.addSpacePrefix = vocab.addSpacePrefix ?? true
        self.chatTemplate = vocab.chatTemplate
        let hex = Array("0123456789ABCDEF".utf8)
        self.byteToken = (0..<256).map { b in
            let name: [UInt8] = Array("<0x".utf8) + [hex[b >> 4], hex[b & 15], UInt8(ascii: ">")]
            return core.table.id(of: name) ?? core.table.id(of: [UInt8(b)]) ?? -1
        }
    }

    public var vocabularySize: Int { core.count }
    public var bosID: Int32? { core.bos }
    public var eosID: Int32? { core.eos }
    public var eotID: Int32? { core.eot }
    public var eomID: Int32? { core.eom }
    public var unknownID: Int32? { core.unknown }
    public var paddingID: Int32? { core.padding }
    public var addBOS: Bool { core.addBOS }
    public var addEOS: Bool { core.addEOS }

    public func isEndOfGeneration(_ id: Int32) -> Bool { core.endOfGeneration.contains(id) }

    /// The token type of `id` (nil when out of range).
    public func tokenType(_ id: Int32) -> TokenType? { core.tokenType(id) }

    /// The vocabulary text of token `id` (with "▁" for spaces). Nil when out of range.
    public func tokenText(_ id: Int32) -> String? {
        guard id >= 0, Int(id) < core.count else { return nil }
        return String(decoding: core.text(id), as: UTF8.self)
    }

    /// The id of the token whose vocabulary text is exactly `text`.
    public func tokenID(forText text: String) -> Int32? { core.table.id(of: Array(text.utf8)) }

    // MARK: encode

    public func encode(_ text: String, parseSpecial: Bool) -> [Int32] {
        var utf8 = Array(text.utf8)
        var out: [Int32] = []
        var buffer: [UInt8] = []
        utf8.withUnsafeBufferPointer { bytes in
            var previousWasSpecial = true
            for fragment in core.partition(bytes, parseSpecial: parseSpecial) {
                switch fragment {
                case .token(let id):
                    out.append(id)
                    previousWasSpecial = true
                case .text(let a, let b):
                    buffer.removeAll(keepingCapacity: true)
                    if addSpacePrefix && previousWasSpecial { buffer.append(contentsOf: [0xE2, 0x96, 0x81]) }
                    for k in a..<b {
                        if bytes[k] == 0x20 { buffer.append(contentsOf: [0xE2, 0x96, 0x81]) } else { buffer.append(bytes[k]) }
                    }
                    buffer.withUnsafeBufferPointer { tokenize($0, into: &out) }
                    previousWasSpecial = false
                }
            }
        }
        utf8.removeAll()
        return out
    }

    private struct Symbol { var start: Int32; var length: Int32; var prev: Int32; var next: Int32 }
    private struct Bigram {
        var score: Float, left: Int32, right: Int32, size: Int32
        /// llama.cpp llm_bigram_spm::comparator: higher score first, then leftmost.
        @inline(__always) func precedes(_ o: Bigram) -> Bool { score != o.score ? score > o.score : left < o.left }
    }

    /// llama.cpp llm_tokenizer_spm_session::tokenize on one escaped fragment.
    private func tokenize(_ text: UnsafeBufferPointer<UInt8>, into out: inout [Int32]) {
        guard !text.isEmpty else { return }
        var symbols: [Symbol] = []
        symbols.reserveCapacity(text.count)
        var offset = 0
        while offset < text.count {
            let len = min(UTF8Scan.sequenceLength(text[offset]), text.count - offset)
            let index = Int32(symbols.count)
            symbols.append(Symbol(start: Int32(offset), length: Int32(len), prev: index - 1,
                                  next: offset + len == text.count ? -1 : index + 1))
            offset += len
        }
        var heap: [Bigram] = []
        func push(_ b: Bigram) {
            heap.append(b)
            var i = heap.count - 1
            while i > 0 {
                let p = (i - 1) >> 1
                guard heap[i].precedes(heap[p]) else { break }
                heap.swapAt(i, p); i = p
            }
        }
        func pop() -> Bigram? {
            guard let top = heap.first else { return nil }
            let last = heap.removeLast()
            if !heap.isEmpty {
                heap[0] = last
                var i = 0
                while true {
                    let l = 2 * i + 1, r = l + 1
                    var m = i
                    if l < heap.count && heap[l].precedes(heap[m]) { m = l }
                    if r < heap.count && heap[r].precedes(heap[m]) { m = r }
                    if m == i { break }
                    heap.swapAt(i, m); i = m
                }
            }
            return top
        }
        func tryAdd(_ left: Int32, _ right: Int32) {
            guard left >= 0, right >= 0 else { return }
            let l = symbols[Int(left)], r = symbols[Int(right)]
            let start = Int(l.start), size = Int(l.length + r.length)
            guard let token = core.table.id(of: UnsafeBufferPointer(rebasing: text[start..<(start + size)])) else { return }
            push(Bigram(score: core.scores[Int(token)], left: left, right: right, size: Int32(size)))
        }
        for i in 1..<max(symbols.count, 1) { tryAdd(Int32(i - 1), Int32(i)) }
        while let bigram = pop() {
            let l = symbols[Int(bigram.left)], r = symbols[Int(bigram.right)]
            if l.length == 0 || r.length == 0 || l.length + r.length != bigram.size { continue }
            symbols[Int(bigram.left)].length += r.length
            symbols[Int(bigram.right)].length = 0
            symbols[Int(bigram.left)].next = r.next
            if r.next >= 0 { symbols[Int(r.next)].prev = bigram.left }
            tryAdd(symbols[Int(bigram.left)].prev, bigram.left)
            tryAdd(bigram.left, symbols[Int(bigram.left)].next)
        }
        var i: Int32 = 0
        while i >= 0 {
            let s = symbols[Int(i)]
            let range = Int(s.start)..<Int(s.start + s.length)
            if let id = core.table.id(of: UnsafeBufferPointer(rebasing: text[range])) {
                out.append(id)
            } else {
                for k in range where byteToken[Int(text[k])] >= 0 { out.append(byteToken[Int(text[k])]) }
            }
            i = s.next
        }
    }

    // MARK: decode

    public func tokenPiece(_ id: Int32, special: Bool) -> [UInt8] {
        let attr = core.attributes(of: id)
        if attr.isEmpty { return [] }
        if !special && !attr.isDisjoint(with: [.unknown, .control]) { return [] }
        if !attr.isDisjoint(with: [.unknown, .control, .userDefined]) { return core.text(id) }
        if attr.contains(.normal) { return Self.unescapeSpaces(core.text(id)) }
        if attr.contains(.byte) { return Self.byteValue(core.text(id)).map { [$0] } ?? [] }
        return []
    }

    public func decode(_ ids: [Int32]) -> String { decode(ids, special: false) }

    /// Detokenizes like llama.cpp `llama_detokenize(remove_special: false, unparse_special: special)`: with
    /// add_space_prefix, one leading space of the first token is removed.
    public func decode(_ ids: [Int32], special: Bool) -> String {
        var bytes: [UInt8] = []
        for (i, id) in ids.enumerated() {
            var piece = tokenPiece(id, special: special)
            if i == 0 && addSpacePrefix && piece.first == 0x20 { piece.removeFirst() }
            bytes.append(contentsOf: piece)
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// "▁" (E2 96 81) → " ".
    static func unescapeSpaces(_ text: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(text.count)
        var i = 0
        while i < text.count {
            if i + 2 < text.count && text[i] == 0xE2 && text[i + 1] == 0x96 && text[i + 2] == 0x81 {
                out.append(0x20); i += 3
            } else {
                out.append(text[i]); i += 1
            }
        }
        return out
    }

    /// The byte of a "<0xXX>" token text (llama.cpp token_to_byte).
    static func byteValue(_ text: [UInt8]) -> UInt8? {
        guard text.count >= 5 else { return nil }
        func hex(_ c: UInt8) -> UInt8? {
            switch c {
            case 0x30...0x39: return c - 0x30
            case 0x41...0x46: return c - 0x41 + 10
            case 0x61...0x66: return c - 0x61 + 10
            default: return nil
            }
        }
        guard let hi = hex(text[3]), let lo = hex(text[4]) else { return nil }
        return hi << 4 | lo
    }
}
