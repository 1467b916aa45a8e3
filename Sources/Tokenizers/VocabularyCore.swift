// Tokenizers: the vocabulary state shared by the BPE and SentencePiece tokenizers.
//
// Follows llama.cpp llama_vocab::impl::load: token attributes from token types, special-token defaults and
// metadata overrides (out-of-range ids ignored), inferred EOT/EOM/FIM tokens, the end-of-generation set and the
// special-token cache used to split the input before tokenization (tokenizer_st_partition).

/// llama.cpp llama_token_attr bits.
struct TokenAttributes: OptionSet, Sendable {
    let rawValue: UInt16
    static let undefined = TokenAttributes(rawValue: 1 << 0)
    static let unknown = TokenAttributes(rawValue: 1 << 1)
    static let unused = TokenAttributes(rawValue: 1 << 2)
    static let normal = TokenAttributes(rawValue: 1 << 3)
    static let control = TokenAttributes(rawValue: 1 << 4)
    static let userDefined = TokenAttributes(rawValue: 1 << 5)
    static let byte = TokenAttributes(rawValue: 1 << 6)
    static let lstrip = TokenAttributes(rawValue: 1 << 8)
    static let rstrip = TokenAttributes(rawValue: 1 << 9)

    init(rawValue: UInt16) { self.rawValue = rawValue }

    init(tokenType: Int32) {
        switch TokenType(rawValue: tokenType) {
        case .unknown: self = .unknown
        case .unused: self = .unused
        case .normal: self = .normal
        case .control: self = .control
        case .userDefined: self = .userDefined
        case .byte: self = .byte
        case .undefined, nil: self = .undefined
        }
    }
}

/// A piece of input after special-token partitioning: raw text (byte range) or an already-resolved token.
enum Fragment: Equatable {
    case text(Int, Int)  // [start, end) byte offsets
    case token(Int32)
}

struct VocabularyCore: Sendable {
    /// Token text bytes → id.
    let table: ByteStringTable
    let attributes: [TokenAttributes]
    let scores: [Float]
    let bos: Int32?, eos: Int32?, eot: Int32?, eom: Int32?, unknown: Int32?, padding: Int32?
    /// llama.cpp special_eog_ids.
    let endOfGeneration: Set<Int32>
    /// Control, user-defined and unknown tokens, longest text first (ties by id).
    let specialTokens: [Int32]
    let addBOS: Bool
    let addEOS: Bool
    /// Byte trie over the special-token texts, to find which ones occur in an input in one pass.
    /// Root children by first byte (256, -1 = none); deeper edges keyed by (node << 8 | byte).
    let trieRoot: [Int32]
    let trieEdges: [UInt64: Int32]
    /// Index into `specialTokens` of the token ending at each trie node, or -1. (nodes)
    let trieTerminal: [Int32]

    var count: Int { table.count }

    /// - Parameters:
    ///   - defaults: llama.cpp's per-model default ids (used when metadata lacks them and they are in range).
    ///   - addBOSDefault: llama.cpp's default for add_bos before `tokenizer.ggml.add_bos_token` is read.
    init(_ vocab: TokenizerVocabulary, defaults: (bos: Int?, eos: Int?, unknown: Int?),
         addBOSDefault: Bool, addEOSDefault: Bool) throws {
        let n = vocab.tokens.count
        guard n > 0 else { throw TokenizerError.emptyVocabulary }
        if let types = vocab.tokenTypes, types.count < n {
            throw TokenizerError.lengthMismatch(key: "tokenizer.ggml.token_type", expected: n, actual: types.count)
        }
        if let scores = vocab.scores, scores.count < n {
            throw TokenizerError.lengthMismatch(key: "tokenizer.ggml.scores", expected: n, actual: scores.count)
        }
        var table = ByteStringTable(expectedCount: n)
        for (i, token) in vocab.tokens.enumerated() {
            var text = token
            if text.isEmpty { text = "[EMPTY_\(i)]" }  // llama.cpp renames empty tokens
            let (id, inserted) = text.utf8.withContiguousStorageIfAvailable { table.insert($0) }
                ?? table.insert(Array(text.utf8))
            if !inserted { throw TokenizerError.duplicateToken(text: text, firstID: Int(id), secondID: i) }
        }
        var attributes = vocab.tokenTypes.map { $0.prefix(n).map(TokenAttributes.init(tokenType:)) }
            ?? [TokenAttributes](repeating: .normal, count: n)
        self.scores = vocab.scores.map { Array($0.prefix(n)) } ?? [Float](repeating: 0, count: n)

        func resolve(_ metadata: Int?, _ fallback: Int?) -> Int32? {
            var id = fallback.flatMap { $0 >= 0 && $0 < n ? Int32($0) : nil }
            if let m = metadata, m >= 0, m < n { id = Int32(m) }
            return id
        }
        let s = vocab.special
        self.bos = resolve(s.bos, defaults.bos)
        self.eos = resolve(s.eos, defaults.eos)
        self.unknown = resolve(s.unknown, defaults.unknown)
        self.padding = resolve(s.padding, nil)
        var eot = resolve(s.eot, nil), eom = resolve(s.eom, nil)
        var fimPad = resolve(s.fimPad, nil), fimRepo = resolve(s.fimRepo, nil), fimSep = resolve(s.fimSeparator, nil)
        var fimPre = resolve(s.fimPrefix, nil), fimSuf = resolve(s.fimSuffix, nil), fimMid = resolve(s.fimMiddle, nil)

        // Auto-detect special tokens by text (llama.cpp walks an unordered map; we take the lowest id).
        // Each known text maps to the roles it can fill (bit i = role i below).
        let eotRole: UInt16 = 1, eomRole: UInt16 = 2, fimPreRole: UInt16 = 4, fimSufRole: UInt16 = 8
        let fimMidRole: UInt16 = 16, fimPadRole: UInt16 = 32, fimRepRole: UInt16 = 64, fimSepRole: UInt16 = 128
        let eogRole: UInt16 = 256
        var roles: [String: UInt16] = [:]
        func add(_ role: UInt16, _ texts: [String]) { for t in texts { roles[t, default: 0] |= role } }
        add(eotRole, ["<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>",
                      "<EOT>", "_<EOT>", "[EOT]", "<｜end▁of▁sentence｜>", "<end_of_utterance>"])
        add(eomRole, ["<|eom_id|>"])
        add(fimPreRole, ["<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>", "<PRE>", "▁<PRE>",
                         "<|code_prefix|>", "<|prefix|>"])
        add(fimSufRole, ["<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<｜fim▁hole｜>", "<SUF>", "▁<SUF>",
                         "<|code_suffix|>", "<|suffix|>"])
        add(fimMidRole, ["<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>", "<MID>", "▁<MID>",
                         "<|code_middle|>", "<|middle|>"])
        add(fimPadRole, ["<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"])
        add(fimRepRole, ["<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"])
        add(fimSepRole, ["<|file_sep|>"])
        add(eogRole, ["<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>",
                      "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]",
                      "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>",
                      "<｜end▁of▁sentence｜>", "[e~["])
        add(0x8000, ["<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"])  // gpt-oss: always render
        // Every known text starts with '<', '[', "_<" or "▁<"; only those tokens are looked up.
        func candidate(_ t: String) -> Bool {
            var it = t.utf8.makeIterator()
            switch it.next() {
            case UInt8(ascii: "<"), UInt8(ascii: "["): return true
            case UInt8(ascii: "_"): return it.next() == UInt8(ascii: "<")
            case 0xE2: return it.next() == 0x96 && it.next() == 0x81 && it.next() == UInt8(ascii: "<")
            default: return false
            }
        }
        let unusedBytes = Array("unused".utf8)
        func containsUnused(_ t: String) -> Bool {
            let b = Array(t.utf8)
            guard b.count >= unusedBytes.count else { return false }
            for i in 0...(b.count - unusedBytes.count) where b[i] == 0x75 && Array(b[i..<(i + 6)]) == unusedBytes {
                return true
            }
            return false
        }
        var eog = Set<Int32>()
        for (id, text) in vocab.tokens.enumerated() {
            if attributes[id].contains(.control), !attributes[id].contains(.unused), containsUnused(text) {
                attributes[id].insert(.unused)
            }
            guard candidate(text), let r = roles[text] else { continue }
            func take(_ role: UInt16, _ slot: inout Int32?) {
                if r & role != 0, slot == nil { slot = Int32(id); attributes[id].insert(.control) }
            }
            take(eotRole, &eot); take(eomRole, &eom); take(fimPreRole, &fimPre); take(fimSufRole, &fimSuf)
            take(fimMidRole, &fimMid); take(fimPadRole, &fimPad); take(fimRepRole, &fimRepo); take(fimSepRole, &fimSep)
            if r & eogRole != 0 {
                eog.insert(Int32(id))
                attributes[id].insert(.control)
            }
            if r & 0x8000 != 0 { attributes[id] = .userDefined }
        }
        for id in [fimPad, fimRepo, fimSep, self.eos, eot, eom] { if let id { eog.insert(id) } }
        // o200k_harmony / solar-open: "<|end|>" is not end-of-generation when <|return|>/<|call|> exist.
        let eogText = Set(eog.map { vocab.tokens[Int($0)] })
        if let end = eog.first(where: { vocab.tokens[Int($0)] == "<|end|>" }),
           (eogText.contains("<|return|>") && (eogText.contains("<|call|>") || eogText.contains("<|calls|>")))
            || (eogText.contains("<|flush|>") && eogText.contains("<|calls|>")) {
            eog.remove(end)
            attributes[Int(end)] = .userDefined
        }
        if eogText.contains("<|tool_response>"), let s = eog.first(where: { vocab.tokens[Int($0)] == "</s>" }) {
            eog.remove(s)
            attributes[Int(s)] = .normal
        }
        self.eot = eot
        self.eom = eom
        self.endOfGeneration = eog

        var addBOS = addBOSDefault, addEOS = addEOSDefault
        if let v = vocab.addBOS { addBOS = v }
        if let v = vocab.addEOS { addEOS = v }
        if addBOS && self.bos == nil {
            throw TokenizerError.invalidValue(key: "tokenizer.ggml.add_bos_token",
                                              reason: "is true, but tokenizer.ggml.bos_token_id is not set")
        }
        if addEOS && self.eos == nil {
            throw TokenizerError.invalidValue(key: "tokenizer.ggml.add_eos_token",
                                              reason: "is true, but tokenizer.ggml.eos_token_id is not set")
        }
        self.addBOS = addBOS
        self.addEOS = addEOS

        let specialMask: TokenAttributes = [.control, .userDefined, .unknown]
        var special = (0..<n).filter { !attributes[$0].isDisjoint(with: specialMask) }.map { Int32($0) }
        special.sort { a, b in
            let la = table.length(a), lb = table.length(b)
            return la != lb ? la > lb : a < b
        }
        self.specialTokens = special
        var root = [Int32](repeating: -1, count: 256)
        var edges: [UInt64: Int32] = [:]
        var terminal: [Int32] = [-1]  // node 0 is the (unused) root
        for (rank, id) in special.enumerated() {
            table.withBytes(id) { text in
                guard let first = text.first else { return }
                var node = root[Int(first)]
                if node < 0 { node = Int32(terminal.count); terminal.append(-1); root[Int(first)] = node }
                for b in text.dropFirst() {
                    let key = UInt64(node) << 8 | UInt64(b)
                    if let child = edges[key] { node = child } else {
                        let child = Int32(terminal.count); terminal.append(-1); edges[key] = child; node = child
                    }
                }
                terminal[Int(node)] = Int32(rank)
            }
        }
        self.trieRoot = root
        self.trieEdges = edges
        self.trieTerminal = terminal
        self.attributes = attributes
        self.table = table
    }

    @inline(__always)
    func attributes(of id: Int32) -> TokenAttributes {
        id >= 0 && Int(id) < attributes.count ? attributes[Int(id)] : []
    }

    /// Splits `bytes` at special-token texts (llama.cpp tokenizer_st_partition). Control and unknown tokens are
    /// matched only when `parseSpecial`; user-defined tokens always. Longer tokens are matched first.
    /// - Complexity: O(specialTokens × length) byte comparisons in the worst case.
    func partition(_ bytes: UnsafeBufferPointer<UInt8>, parseSpecial: Bool) -> [Fragment] {
        guard !bytes.isEmpty else { return [] }
        var fragments: [Fragment] = [.text(0, bytes.count)]
        // Which special tokens occur at all (in partition order)? Usually none or a handful.
        var present = Set<Int32>()
        for i in 0..<bytes.count {
            var node = trieRoot[Int(bytes[i])]
            var j = i
            while node >= 0 {
                if trieTerminal[Int(node)] >= 0 { present.insert(trieTerminal[Int(node)]) }
                j += 1
                guard j < bytes.count, let child = trieEdges[UInt64(node) << 8 | UInt64(bytes[j])] else { break }
                node = child
            }
        }
        if present.isEmpty { return fragments }
        let candidates = present.sorted().map { specialTokens[Int($0)] }
        table.arena.withUnsafeBufferPointer { arena in
            for id in candidates {
                let attr = attributes[Int(id)]
                if !parseSpecial && !attr.isDisjoint(with: [.control, .unknown]) { continue }
                let start = Int(table.offsets[Int(id)]), end = Int(table.offsets[Int(id) + 1])
                let needle = UnsafeBufferPointer(rebasing: arena[start..<end])
                guard let first = needle.first else { continue }
                guard fragments.contains(where: { f in
                    if case .text(let a, let b) = f { return Self.find(needle, first, in: bytes, from: a, to: b) != nil }
                    return false
                }) else { continue }
                var next: [Fragment] = []
                next.reserveCapacity(fragments.count + 2)
                for fragment in fragments {
                    guard case .text(let a, let b) = fragment,
                          var match = Self.find(needle, first, in: bytes, from: a, to: b) else {
                        next.append(fragment); continue
                    }
                    var base = a
                    while true {
                        var leftEnd = match
                        if attr.contains(.lstrip) { while leftEnd > base && Self.isCSpace(bytes[leftEnd - 1]) { leftEnd -= 1 } }
                        if leftEnd > base { next.append(.text(base, leftEnd)) }
                        next.append(.token(id))
                        base = match + needle.count
                        if attr.contains(.rstrip) { while base < b && Self.isCSpace(bytes[base]) { base += 1 } }
                        guard base < b, let found = Self.find(needle, first, in: bytes, from: base, to: b) else { break }
                        match = found
                    }
                    if base < b { next.append(.text(base, b)) }
                }
                fragments = next
            }
        }
        return fragments
    }

    @inline(__always)
    static func isCSpace(_ c: UInt8) -> Bool { c == 0x20 || (c >= 0x09 && c <= 0x0D) }

    @inline(__always)
    static func find(_ needle: UnsafeBufferPointer<UInt8>, _ first: UInt8, in hay: UnsafeBufferPointer<UInt8>,
                     from: Int, to: Int) -> Int? {
        let m = needle.count
        guard to - from >= m else { return nil }
        var i = from
        let last = to - m
        while i <= last {
            if hay[i] == first {
                var k = 1
                while k < m && hay[i + k] == needle[k] { k += 1 }
                if k == m { return i }
            }
            i += 1
        }
        return nil
    }

    /// The token type of `id` after llama.cpp's adjustments (nil when out of range).
    func tokenType(_ id: Int32) -> TokenType? {
        let a = attributes(of: id)
        if a.isEmpty { return nil }
        if a.contains(.userDefined) { return .userDefined }
        if a.contains(.control) { return .control }
        if a.contains(.unknown) { return .unknown }
        if a.contains(.byte) { return .byte }
        if a.contains(.unused) { return .unused }
        if a.contains(.normal) { return .normal }
        return .undefined
    }

    /// Raw text bytes of token `id` (as stored in the vocabulary).
    func text(_ id: Int32) -> [UInt8] { table.bytes(id) }
}
