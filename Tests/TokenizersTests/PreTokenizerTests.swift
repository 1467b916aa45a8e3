import Testing
@testable import Tokenizers

@Suite("Pre-tokenizers (llama.cpp unicode.cpp rules)")
struct PreTokenizerTests {
    func split(_ kind: PreTokenizerKind, _ text: String) -> [String] {
        let scalars = Array(text.unicodeScalars)
        let cps = scalars.map(\.value)
        let lengths = cps.withUnsafeBufferPointer { PreTokenizer(kind: kind).split($0) }
        var out: [String] = []
        var i = 0
        for n in lengths {
            var s = String.UnicodeScalarView()
            s.append(contentsOf: scalars[i..<(i + n)])
            out.append(String(s))
            i += n
        }
        #expect(i == cps.count)
        return out
    }

    @Test func gpt2() {
        #expect(split(.gpt2, "Hello world's  end\n") == ["Hello", " world", "'s", " ", " end", "\n"])
        #expect(split(.gpt2, "I'M sure") == ["I", "'", "M", " sure"])  // case-sensitive contractions
        #expect(split(.gpt2, "a1b2 99x") == ["a", "1", "b", "2", " 99", "x"])
        #expect(split(.gpt2, "hi!!! ?? ") == ["hi", "!!!", " ??", " "])
        #expect(split(.gpt2, "café naïve") == ["café", " naïve"])
        #expect(split(.gpt2, "e\u{301}") == ["e", "\u{301}"])  // combining marks are not letters
        #expect(split(.gpt2, "") == [])
    }

    @Test func digitsThenGPT2() {
        #expect(split(.digitsThenGPT2, "abc 12345") == ["abc", " ", "1", "2", "3", "4", "5"])
        #expect(split(.digitsThenGPT2, "x٣y") == ["x", "٣", "y"])
    }

    @Test func llama3() {
        #expect(split(.llama3, "I'M 123456 done\n\n") == ["I", "'M", " ", "123", "456", " done", "\n\n"])
        #expect(split(.llama3, "hello,world  \n x") == ["hello", ",world", "  \n", " x"])
        #expect(split(.llama3, "...\n\nok") == ["...\n\n", "ok"])
    }

    @Test func qwen2() {
        #expect(split(.qwen2, "I'M 1234 done") == ["I", "'M", " ", "1", "2", "3", "4", " done"])
    }

    @Test func defaultRules() {
        // punctuation runs split first, then GPT-2, then number runs and groups of three ASCII digits.
        #expect(split(.default, "a,b 1234567") == ["a", ",", "b", " ", "123", "456", "7"])
    }

    @Test func aliases() {
        #expect(PreTokenizerKind.resolve("smollm")?.kind == .digitsThenGPT2)
        #expect(PreTokenizerKind.resolve("llama-bpe")?.kind == .llama3)
        #expect(PreTokenizerKind.resolve("qwen2")?.kind == .qwen2)
        #expect(PreTokenizerKind.resolve(nil)?.kind == .default)
        #expect(PreTokenizerKind.resolve("gpt-2")?.kind == .gpt2)
        #expect(PreTokenizerKind.resolve("no-such-pre") == nil)
    }
}
