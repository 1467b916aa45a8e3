import Testing
@testable import Tokenizers

@Suite("StreamingDecoder UTF-8 boundaries")
struct StreamingDecoderTests {
    let t: BPETokenizer
    init() throws { t = try TinyVocab.bpe() }
    func byte(_ b: UInt8) -> Int32 { t.tokenID(forText: TinyVocab.gpt2Char(b))! }

    @Test func holdsBackSplitCharacters() {
        var d = StreamingDecoder(tokenizer: t)
        #expect(d.append(byte(0xC3)) == "")
        #expect(d.hasPendingBytes)
        #expect(d.append(byte(0xA9)) == "é")
        let emoji = Array("😀".utf8)
        #expect(d.append(byte(emoji[0])) == "")
        #expect(d.append(byte(emoji[1])) == "")
        #expect(d.append(byte(emoji[2])) == "")
        #expect(d.append(byte(emoji[3])) == "😀")
        #expect(d.finish() == "")
    }

    @Test func mixedTextAndControlTokens() {
        var d = StreamingDecoder(tokenizer: t)
        var out = ""
        for id in t.encode("hello<|im_end|> wörld", parseSpecial: true) { out += d.append(id) }
        out += d.finish()
        #expect(out == "hello wörld")
    }

    @Test func invalidBytesBecomeReplacementCharacters() {
        var d = StreamingDecoder(tokenizer: t)
        #expect(d.append(byte(0x80)) == "\u{FFFD}")  // lone continuation byte: never completes
        #expect(d.append(byte(0xE2)) == "")
        #expect(d.append(byte(UInt8(ascii: "a"))) == "\u{FFFD}a")  // broken sequence is flushed
        #expect(d.append(byte(0xF0)) == "")
        #expect(d.finish() == "\u{FFFD}")  // incomplete at the end
        #expect(!d.hasPendingBytes)
    }

    @Test("Every split point of a multi-byte text", arguments: ["é", "東京", "🙂a", "aé東🙂"])
    func allSplits(_ text: String) {
        let bytes = Array(text.utf8)
        for cut in 0...bytes.count {
            var d = StreamingDecoder(tokenizer: t)
            var out = d.appendBytes(Array(bytes[0..<cut]))
            out += d.appendBytes(Array(bytes[cut...]))
            out += d.finish()
            #expect(out == text)
            #expect(!out.contains("\u{FFFD}"))
        }
    }
}
