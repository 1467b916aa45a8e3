import Testing
@testable import Tokenizers

@Suite("SentencePiece on a tiny vocabulary")
struct SentencePieceTokenizerTests {
    let t: SentencePieceTokenizer

    init() throws { t = try SentencePieceTokenizer(vocabulary: TinyVocab.spmVocabulary()) }

    func id(_ text: String) -> Int32 { t.tokenID(forText: text)! }

    @Test func scoreOrderedMerges() {
        #expect(t.encode("hello world", parseSpecial: false) == [id("▁hello"), id("▁world")])
        #expect(t.encode("", parseSpecial: false) == [])
    }

    @Test func byteFallback() {
        #expect(t.encode("é", parseSpecial: false) == [id("▁"), id("<0xC3>"), id("<0xA9>")])
        #expect(t.decode(t.encode("é", parseSpecial: false)) == "é")
    }

    @Test func spacePrefixOnlyAtStartAndAfterSpecials() {
        #expect(t.encode("<s>hello", parseSpecial: true) == [1, id("▁hello")])
        #expect(t.encode("hello<s>", parseSpecial: true) == [id("▁hello"), 1])
        let noPrefix = try! SentencePieceTokenizer(vocabulary: TinyVocab.spmVocabulary(addSpacePrefix: false))
        #expect(noPrefix.encode("hello", parseSpecial: false) == [id("hello")])
    }

    @Test func piecesAndFlags() {
        #expect(t.tokenPiece(id("▁world")) == Array(" world".utf8))
        #expect(t.tokenPiece(id("<0x41>")) == [0x41])
        #expect(t.tokenPiece(1) == [] && t.tokenPiece(1, special: true) == Array("<s>".utf8))
        #expect(t.decode([id("▁hello"), id("▁world"), 2]) == "hello world")
        // llama.cpp strips the prefix space from the first token only, even when that token is a hidden BOS.
        #expect(t.decode([1, id("▁hello"), id("▁world")]) == " hello world")
        #expect(t.addBOS && t.bosID == 1 && t.eosID == 2)
        #expect(t.isEndOfGeneration(2) && t.isEndOfGeneration(id("▁hello")) == false)
    }
}
