// Tokenizers: byte-level BPE (`tokenizer.ggml.model == "gpt2"`), bit-exact with llama.cpp llm_tokenizer_bpe_session.
//
// Pipeline per llama_tokenize: split the input at special tokens, pre-tokenize each text fragment into words
// (PreTokenizer), then run BPE on each word's bytes: start from one symbol per byte (its GPT-2 character), merge
// the adjacent pair with the lowest merge rank (ties: leftmost) until none applies, and emit each symbol's token id
// (or, for a symbol that is not a token, the tokens of its single bytes).

import Synchronization

/// Byte-level BPE tokenizer (GPT-2, SmolLM, Llama 3, Qwen2 …).
///
/// Loading builds a byte-string hash table of the vocabulary and a merge table keyed by the pair of piece ids:
/// O(vocabulary + merges) time, ~40 bytes per token and ~50 bytes per merge.
public final class BPETokenizer: Tokenizer {
    let core: VocabularyCore
    let preTokenizer: PreTokenizer
    /// llama.cpp ignore_merges: words that are whole vocabulary entries map to that token directly (Llama 3).
    let ignoreMerges: Bool
    /// llama.cpp clean_spaces: `decode` removes spaces before punctuation like clean_up_tokenization_spaces.
    let cleanSpaces: Bool
    /// (leftPiece << 32 | rightPiece) → (rank << 32 | resultPiece). Pieces ≥ vocabularySize are `extraPieces`.
    let merges: PairTable
    /// Piece strings appearing in merges that are not tokens (ids offset by vocabularySize).
    let extraPieces: ByteStringTable
    /// Piece of each single byte's GPT-2 character. (256)
    let byteToPiece: [Int32]
    /// Token of each single-byte string, for the fallback of non-token symbols. (256, -1 = none)
    let singleByteToken: [Int32]
    /// Word bytes → token ids, shared across calls (cleared when it reaches `cacheLimit` entries).
    let cache = Mutex<[[UInt8]: [Int32]]>([:])
    let cacheLimit = 65_536

    /// The pre-tokenizer rules in use.
    public var preTokenizerKind: PreTokenizerKind { preTokenizer.kind }
    /// `tokenizer.chat_template`, when the vocabulary carried one.
    public let chatTemplate: String?

    /// Builds the tokenizer. - Throws: `TokenizerError` for an unknown pre-tokenizer, malformed merges,
    ///   duplicate tokens or inconsistent arrays.
    public init(vocabulary vocab: TokenizerVocabulary) throws {
        guard let (kind, ignoreMerges, addBOSDefault, cleanSpaces) = PreTokenizerKind.resolve(vocab.preTokenizer)
        else { throw TokenizerError.unsupportedPreTokenizer(vocab.preTokenizer ?? "") }
        self.preTokenizer = PreTokenizer(kind: kind)
        self.ignoreMerges = ignoreMerges
        self.cleanSpaces = cleanSpaces
        self.chatTemplate = vocab.chatTemplate
        var bosDefault: Int? = 11, eosDefault: Int? = 11
        if vocab.preTokenizer == "glm4" || vocab.preTokenizer == "chatglm-bpe" { bosDefault = nil }
        if vocab.preTokenizer == nil { eosDefault = 11 }
        let core = try VocabularyCore(vocab, defaults: (bosDefault, eosDefault, nil),
                                      addBOSDefault: addBOSDefault, addEOSDefault: false)
        self.core = core
        let n = Int32(core.count)

        let table = core.table
        var extra = ByteStringTable(expectedCount: 64)
        @inline(__always) func piece(_ bytes: UnsafeBufferPointer<UInt8>, _ extra: inout ByteStringTable) -> Int32 {
            if let id = table.id(of: bytes) { return id }
            return n + extra.insert(bytes).id
        }
        var byteToPiece = [Int32](repeating: 0, count: 256)
        var singleByteToken = [Int32](repeating: -1, count: 256)
        for b in 0..<256 {
            byteToPiece[b] = ByteLevel.byteToUTF8[b].withUnsafeBufferPointer { piece($0, &extra) }
            singleByteToken[b] = table.id(of: [UInt8(b)]) ?? -1
        }

        var merges = PairTable(expectedCount: vocab.merges.count)
        var joined = [UInt8](repeating: 0, count: 256)
        func add(_ all: UnsafeBufferPointer<UInt8>, rank: Int) -> Bool {
            // llama.cpp: split at the first space after the first byte.
            var space = 1
            while space < all.count && all[space] != 0x20 { space += 1 }
            guard all.count >= 2, space < all.count else { return false }
            let left = piece(UnsafeBufferPointer(rebasing: all[0..<space]), &extra)
            let right = piece(UnsafeBufferPointer(rebasing: all[(space + 1)...]), &extra)
            let key = UInt64(UInt32(left)) << 32 | UInt64(UInt32(right))
            if merges[key] != nil { return true }  // llama.cpp emplace keeps the first rank (checked before joining)
            let length = all.count - 1
            if joined.count < length { joined = [UInt8](repeating: 0, count: length) }
            let result: Int32 = joined.withUnsafeMutableBufferPointer { j in
                for k in 0..<space { j[k] = all[k] }
                for k in (space + 1)..<all.count { j[k - 1] = all[k] }
                return piece(UnsafeBufferPointer(rebasing: j[0..<length]), &extra)
            }
            merges.insertIfAbsent(key, UInt64(rank) << 32 | UInt64(UInt32(result)))
            return true
        }
        for (rank, merge) in vocab.merges.enumerated() {
            let ok = merge.utf8.withContiguousStorageIfAvailable { add($0, rank: rank) }
                ?? Array(merge.utf8).withUnsafeBufferPointer { add($0, rank: rank) }
            if !ok { throw TokenizerError.malformedMerge(index: rank, merge: merge) }
        }
        self.merges = merges
        self.extraPieces = extra
        self.byteToPiece = byteToPiece
        self.singleByteToken = singleByteToken
    }

    public var vocabularySize: Int { core.count }
    public var bosID: Int32? { core.bos }
    public var eosID: Int32? { core.eos }
    public var eotID: Int32? { core.eot }
    /// End-of-message token (`<|eom_id|>`), when present.
    public var eomID: Int32? { core.eom }
    public var unknownID: Int32? { core.unknown }
    public var paddingID: Int32? { core.padding }
    public var addBOS: Bool { core.addBOS }
    /// Whether llama.cpp appends EOS when adding special tokens.
    public var addEOS: Bool { core.addEOS }

    public func isEndOfGeneration(_ id: Int32) -> Bool { core.endOfGeneration.contains(id) }

    /// The token type of `id` (nil when out of range).
    public func tokenType(_ id: Int32) -> TokenType? { core.tokenType(id) }

    /// The vocabulary text of token `id`, as stored (GPT-2 byte-encoded). Nil when out of range.
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
        out.reserveCapacity(utf8.count / 3 + 4)
        utf8.withUnsafeBufferPointer { bytes in
            for fragment in core.partition(bytes, parseSpecial: parseSpecial) {
                switch fragment {
                case .token(let id): out.append(id)
                case .text(let a, let b): encodeText(UnsafeBufferPointer(rebasing: bytes[a..<b]), into: &out)
                }
            }
        }
        utf8.removeAll()
        return out
    }

    /// Pre-tokenizes one raw-text fragment and BPE-encodes each word.
    func encodeText(_ bytes: UnsafeBufferPointer<UInt8>, into out: inout [Int32]) {
        // Codepoints and the byte offset where each starts. (cps + 1)
        var cps: [UInt32] = []
        var starts: [Int] = []
        cps.reserveCapacity(bytes.count)
        starts.reserveCapacity(bytes.count + 1)
        var i = 0
        while i < bytes.count {
            let (cp, len) = UTF8Scan.decode(bytes, at: i)
            cps.append(cp); starts.append(i)
            i += len
        }
        starts.append(bytes.count)
        let words = cps.withUnsafeBufferPointer { preTokenizer.split($0) }
        var scratch = BPEScratch()
        var c = 0
        for length in words {
            let word = UnsafeBufferPointer(rebasing: bytes[starts[c]..<starts[c + length]])
            c += length
            encodeWord(word, into: &out, scratch: &scratch)
        }
    }

    /// BPE-encodes one word (raw bytes), using the shared cache.
    func encodeWord(_ word: UnsafeBufferPointer<UInt8>, into out: inout [Int32], scratch: inout BPEScratch) {
        if word.count == 1 {
            emit(byteToPiece[Int(word[0])], into: &out)
            return
        }
        let key = Array(word)
        if let hit = cache.withLock({ $0[key] }) {
            out.append(contentsOf: hit)
            return
        }
        var ids: [Int32] = []
        bpe(word, into: &ids, scratch: &scratch)
        cache.withLock { cache in
            if cache.count >= cacheLimit { cache.removeAll(keepingCapacity: true) }
            cache[key] = ids
        }
        out.append(contentsOf: ids)
    }

    /// Emits a piece: its token id, or (not a token) the single-byte tokens of its text (llama.cpp fallback).
    @inline(__always)
    func emit(_ piece: Int32, into out: inout [Int32]) {
        let n = Int32(core.count)
        if piece < n { out.append(piece); return }
        extraPieces.withBytes(piece - n) { text in
            for b in text where singleByteToken[Int(b)] >= 0 { out.append(singleByteToken[Int(b)]) }
        }
    }

    /// The BPE merge loop over one word (llama.cpp llm_tokenizer_bpe_session::tokenize inner loop).
    func bpe(_ word: UnsafeBufferPointer<UInt8>, into out: inout [Int32], scratch: inout BPEScratch) {
        if ignoreMerges {
            var encoded: [UInt8] = []
            for b in word { encoded.append(contentsOf: ByteLevel.byteToUTF8[Int(b)]) }
            if let id = core.table.id(of: encoded) { out.append(id); return }
        }
        let count = word.count
        scratch.reset(count)
        for k in 0..<count {
            scratch.piece.append(byteToPiece[Int(word[k])])
            scratch.prev.append(Int32(k - 1))
            scratch.next.append(k + 1 < count ? Int32(k + 1) : -1)
        }
        for k in 1..<max(count, 1) { addCandidate(Int32(k - 1), Int32(k), &scratch) }
        while let top = scratch.pop() {
            let left = Int(top.left), right = Int(top.right)
            // Skip outdated candidates: a side was merged away or changed since the pair was queued.
            guard scratch.piece[left] == top.leftPiece, scratch.piece[right] == top.rightPiece,
                  scratch.next[left] == top.right else { continue }
            scratch.piece[left] = top.result
            scratch.piece[right] = -1
            let after = scratch.next[right]
            scratch.next[left] = after
            if after >= 0 { scratch.prev[Int(after)] = top.left }
            scratch.next[right] = -2
            if scratch.prev[left] >= 0 { addCandidate(scratch.prev[left], top.left, &scratch) }
            if after >= 0 { addCandidate(top.left, after, &scratch) }
        }
        var k: Int32 = 0
        while k >= 0 {
            emit(scratch.piece[Int(k)], into: &out)
            k = scratch.next[Int(k)]
        }
    }

    @inline(__always)
    func addCandidate(_ left: Int32, _ right: Int32, _ scratch: inout BPEScratch) {
        let lp = scratch.piece[Int(left)], rp = scratch.piece[Int(right)]
        guard let merge = merges[UInt64(UInt32(lp)) << 32 | UInt64(UInt32(rp))] else { return }
        scratch.push(BPECandidate(rank: Int32(truncatingIfNeeded: merge >> 32), left: left, right: right,
                                  leftPiece: lp, rightPiece: rp, result: Int32(truncatingIfNeeded: merge)))
    }

    // MARK: decode

    public func tokenPiece(_ id: Int32, special: Bool) -> [UInt8] {
        let attr = core.attributes(of: id)
        if attr.isEmpty { return [] }
        if !special && !attr.isDisjoint(with: [.unknown, .control]) { return [] }
        if !attr.isDisjoint(with: [.unknown, .control, .userDefined]) { return core.text(id) }
        if attr.contains(.normal) {
            var out: [UInt8] = []
            core.table.withBytes(id) { ByteLevel.decode($0, into: &out) }
            return out
        }
        if attr.contains(.byte) { return SentencePieceTokenizer.byteValue(core.text(id)).map { [$0] } ?? [] }
        return []
    }

    public func decode(_ ids: [Int32]) -> String { decode(ids, special: false) }

    /// Detokenizes like llama.cpp `llama_detokenize(remove_special: false, unparse_special: special)`.
    public func decode(_ ids: [Int32], special: Bool) -> String {
        var bytes: [UInt8] = []
        for id in ids { bytes.append(contentsOf: tokenPiece(id, special: special)) }
        if cleanSpaces { bytes = Self.cleanUpSpaces(bytes) }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// llama.cpp's three clean_spaces passes (" ?" " !" " ." " ,", " ' ", " 's" " 'm" " 're" " 've").
    static func cleanUpSpaces(_ input: [UInt8]) -> [UInt8] {
        let space = UInt8(ascii: " "), apostrophe = UInt8(ascii: "'")
        var t = input
        // Pass 1: drop a space before ? ! . ,
        var total = t.isEmpty ? 0 : 1
        for i in 1..<max(t.count, 1) {
            let x = t[i]
            if t[i - 1] == space, x == UInt8(ascii: "?") || x == UInt8(ascii: "!") || x == UInt8(ascii: ".")
                || x == UInt8(ascii: ",") { total -= 1 }
            t[total] = x; total += 1
        }
        t.removeSubrange(total...)
        // Pass 2: " ' " → "'"
        let total2 = t.count
        total = total2 == 0 ? 0 : 1
        var i = 1
        while i < total2 {
            let x = t[i]
            if x == apostrophe && i + 1 < total2 && t[i - 1] == space && t[i + 1] == space {
                total -= 1
                i += 1
                t[i] = 0
            }
            t[total] = x; total += 1
            i += 1
        }
        t.removeSubrange(total...)
        // Pass 3: " 's" " 'm" " 're" " 've" → drop the space
        let total3 = t.count
        total = total3 == 0 ? 0 : 1
        for i in 1..<max(total3, 1) {
            let x = t[i]
            if t[i - 1] == space, x == apostrophe, i + 1 < total3 {
                let x1 = t[i + 1]
                if x1 == UInt8(ascii: "s") || x1 == UInt8(ascii: "m") {
                    total -= 1
                } else if x1 != UInt8(ascii: "t") && x1 != UInt8(ascii: "d") && i + 2 < total3 {
                    let x2 = t[i + 2]
                    if (x1 == UInt8(ascii: "r") && x2 == UInt8(ascii: "e")) || (x1 == UInt8(ascii: "v") && x2 == UInt8(ascii: "e")) {
                        total -= 1
                    }
                }
            }
            t[total] = x; total += 1
        }
        t.removeSubrange(total...)
        return t
    }
}

/// A queued merge candidate; ordered by (rank, left) like llama.cpp llm_bigram_bpe::comparator.
struct BPECandidate {
    var rank: Int32, left: Int32, right: Int32, leftPiece: Int32, rightPiece: Int32, result: Int32

    @inline(__always)
    func precedes(_ o: BPECandidate) -> Bool { rank != o.rank ? rank < o.rank : left < o.left }
}

/// Reusable per-call buffers for the BPE loop: a symbol linked list and a binary min-heap of candidates.
struct BPEScratch {
    var piece: [Int32] = [], prev: [Int32] = [], next: [Int32] = []
    var heap: [BPECandidate] = []

    mutating func reset(_ count: Int) {
        piece.removeAll(keepingCapacity: true); prev.removeAll(keepingCapacity: true)
        next.removeAll(keepingCapacity: true); heap.removeAll(keepingCapacity: true)
        piece.reserveCapacity(count); prev.reserveCapacity(count); next.reserveCapacity(count)
    }

    mutating func push(_ c: BPECandidate) {
        heap.append(c)
        var i = heap.count - 1
        while i > 0 {
            let parent = (i - 1) >> 1
            guard heap[i].precedes(heap[parent]) else { break }
            heap.swapAt(i, parent); i = parent
        }
    }

    mutating func pop() -> BPECandidate? {
        guard let top = heap.first else { return nil }
        let last = heap.removeLast()
        if !heap.isEmpty {
            heap[0] = last
            var i = 0
            let n = heap.count
            while true {
                let l = 2 * i + 1, r = l + 1
                var m = i
                if l < n && heap[l].precedes(heap[m]) { m = l }
                if r < n && heap[r].precedes(heap[m]) { m = r }
                if m == i { break }
                heap.swapAt(i, m); i = m
            }
        }
        return top
    }
}
