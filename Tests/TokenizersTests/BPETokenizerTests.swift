import Testing
@testable import Tokenizers

@Suite("Byte-level BPE on a tiny vocabulary")
struct BPETokenizerTests {
    let t: BPETokenizer

    init() throws { t = try TinyVocab.bpe() }

    func id(_ text: String) -> Int32 { t.tokenID(forText: text)! }
    func byte(_ b: UInt8) -> Int32 { id(TinyVocab.gpt2Char(b)) }

    @Test func mergesBuildWholeWords() {
        #expect(t.encode("hello world", parseSpecial: false) == [id("hello"), id("Ġworld")])
        #expect(t.encode("hell", parseSpecial: false) == [id("hell")])
        #expect(t.encode("", parseSpecial: false) == [])
    }

    @Test func lowerRankMergesFirst() {
        // "a b" (rank 9) beats "b c" (rank 10).
        #expect(t.encode("abc", parseSpecial: false) == [id("ab"), byte(UInt8(ascii: "c"))])
        #expect(t.encode("bc", parseSpecial: false) == [id("bc")])
    }

    @Test func equalRankMergesLeftmostFirst() {
        #expect(t.encode("aaa", parseSpecial: false) == [id("aa"), byte(UInt8(ascii: "a"))])
        #expect(t.encode("aaaa", parseSpecial: false) == [id("aa"), id("aa")])
    }

    @Test func unmergedBytesUseByteTokens() {
        #expect(t.encode("é", parseSpecial: false) == [byte(0xC3), byte(0xA9)])
        #expect(t.encode("\n", parseSpecial: false) == [byte(0x0A)])
        #expect(t.encode("\u{0}", parseSpecial: false) == [byte(0)])
    }

    @Test func wordsDoNotMergeAcrossPreTokenizerBoundaries() {
        // "o" + " w": "Ġw" merges only inside " world"; "o" ends "hello".
        #expect(t.encode("hello  world", parseSpecial: false) == [id("hello"), byte(0x20), id("Ġworld")])
    }

    @Test func controlTokensParsedOnlyWhenRequested() {
        let text = "<|im_start|>hello<|im_end|>"
        #expect(t.encode(text, parseSpecial: true) == [1, id("hello"), 2])
        let plain = t.encode(text, parseSpecial: false)
        #expect(!plain.contains(1) && !plain.contains(2))
        #expect(t.decode(plain) == text)
    }

    @Test func userDefinedTokensAlwaysParsed() {
        #expect(t.encode("he<tool>he", parseSpecial: false) == [id("he"), 3, id("he")])
        #expect(t.encode("he<tool>he", parseSpecial: true) == [id("he"), 3, id("he")])
    }

    @Test func longerSpecialTokensWin() {
        #expect(t.encode("<x><y><x>", parseSpecial: true) == [5, 4])
        #expect(t.encode("<x><x>", parseSpecial: true) == [4, 4])
    }

    @Test func endOfGenerationInferredFromText() {
        #expect(t.isEndOfGeneration(2))  // <|im_end|>
        #expect(t.isEndOfGeneration(0))  // <|endoftext|> (also EOS)
        #expect(!t.isEndOfGeneration(1))
        #expect(t.eotID == 0 || t.eotID == 2)
        #expect(t.bosID == 1 && t.eosID == 0)
    }

    @Test func addBOSDefaultsFollowLlamaCpp() throws {
        #expect(t.addBOS == false)  // gpt-2 pre: no BOS unless the metadata asks
        #expect(try TinyVocab.bpe(pre: "llama-bpe").addBOS == true)
        let forced = try BPETokenizer(vocabulary: TinyVocab.bpeVocabulary(addBOS: true))
        #expect(forced.encode("he", addSpecial: true, parseSpecial: false) == [1, id("he")])
        #expect(t.encode("he", addSpecial: true, parseSpecial: false) == [id("he")])
    }

    @Test func piecesAndDecoding() {
        #expect(t.tokenPiece(id("Ġworld")) == Array(" world".utf8))
        #expect(t.tokenPiece(2) == [])
        #expect(t.tokenPiece(2, special: true) == Array("<|im_end|>".utf8))
        #expect(t.tokenPiece(3) == Array("<tool>".utf8))  // user-defined tokens always render
        #expect(t.tokenPiece(-1) == [] && t.tokenPiece(1_000_000) == [])
        #expect(t.decode([1, id("hello"), id("Ġworld"), 2]) == "hello world")
        #expect(t.decode([1, id("hello"), 2], special: true) == "<|im_start|>hello<|im_end|>")
        #expect(t.decode([byte(0xC3)]) == "\u{FFFD}")
    }

    @Test("Encode/decode round trip", arguments: ["hello world", "  spaced\t\ttabs\n\nnew", "naïve café 東京 🙂",
                                                  "It's 12345 o'clock!", "", " ", "\r\n"])
    func roundTrip(_ text: String) {
        #expect(t.decode(t.encode(text, parseSpecial: false)) == text)
    }

    @Test func cacheGivesSameResults() {
        let first = t.encode("hello hello hello world world", parseSpecial: false)
        let second = t.encode("hello hello hello world world", parseSpecial: false)
        #expect(first == second)
        let space = byte(0x20)
        #expect(first == [id("hello"), space, id("hello"), space, id("hello"), id("Ġworld"), id("Ġworld")])
    }

    @Test func cleanSpacesLikeLlamaCpp() {
        func clean(_ s: String) -> String { String(decoding: BPETokenizer.cleanUpSpaces(Array(s.utf8)), as: UTF8.self) }
        #expect(clean("Hello , world !") == "Hello, world!")
        #expect(clean("it ' s") == "it's")
        #expect(clean("he 's she 're we 've I 'm") == "he's she're we've I'm")
        #expect(clean("don 't we 'll") == "don 't we 'll")
        #expect(clean("") == "")
    }
}

@Suite("Tokenizer sharing across threads")
struct TokenizerConcurrencyTests {
    @Test func concurrentEncodesAgree() async throws {
        let t = try TinyVocab.bpe()
        let texts = (0..<64).map { "hello world \($0) é aaa abc <|im_end|> " + String(repeating: "hell", count: $0 % 7) }
        let expected = texts.map { t.encode($0, parseSpecial: true) }
        let results = await withTaskGroup(of: (Int, [Int32]).self) { group in
            for (i, text) in texts.enumerated() { group.addTask { (i, t.encode(text, parseSpecial: true)) } }
            var out = [[Int32]](repeating: [], count: texts.count)
            for await (i, ids) in group { out[i] = ids }
            return out
        }
        #expect(results == expected)
    }

    @Test func tokenTypes() throws {
        let t = try TinyVocab.bpe()
        #expect(t.tokenType(1) == .control)
        #expect(t.tokenType(3) == .userDefined)
        #expect(t.tokenType(t.tokenID(forText: "hello")!) == .normal)
        #expect(t.tokenType(-1) == nil)
        let s = try SentencePieceTokenizer(vocabulary: TinyVocab.spmVocabulary())
        #expect(s.tokenType(0) == .unknown && s.tokenType(3) == .byte)
    }
}
