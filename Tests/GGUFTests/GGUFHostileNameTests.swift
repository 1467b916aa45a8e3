// Issue 17, item 2: a corrupt key/tensor-name length or a name made of terminal escapes must give a short,
// fast error with no control byte. Before the fix the first case built a 30 MB key and a 54 MB message.

import Foundation
import Testing
@testable import GGUF

@Suite("Hostile names in GGUF files")
struct GGUFHostileNameTests {
    static func hasControl(_ s: String) -> Bool { s.unicodeScalars.contains { SafeText.isControl($0) } }

    @Test("a key length pointing deep into the file is refused before decoding, with a short message")
    func hugeKeyLength() throws {
        // A valid header whose first key claims 30,000,000 bytes, followed by 40 MB of filler.
        var d = Bytes.header(tensors: 0, kvs: 1).data
        withUnsafeBytes(of: UInt64(30_000_000).littleEndian) { d.append(contentsOf: $0) }
        d.append(Data(repeating: 0x41, count: 40_000_000))
        let start = Date()
        let e = ggufError { _ = try GGUFFile(data: d) }
        #expect(Date().timeIntervalSince(start) < 2)
        guard case .stringTooLong(_, 24, 30_000_000, GGUFParser.maxKeyLength)? = e else {
            Issue.record("expected stringTooLong, got \(String(describing: e))"); return
        }
        #expect("\(e!)".utf8.count < 300)
    }

    @Test("a tensor name longer than 64 bytes is refused")
    func longTensorName() throws {
        let b = Bytes.header(tensors: 1, kvs: 0)
        b.str(String(repeating: "t", count: 65)).u32(1).i64(4).u32(0).u64(0).pad(to: 32)
        b.raw([UInt8](repeating: 0, count: 16))
        guard case .stringTooLong(let what, _, 65, 64)? = ggufError({ _ = try GGUFFile(data: b.data) }) else {
            Issue.record("expected stringTooLong"); return
        }
        #expect(what == "tensor name")
    }

    @Test("escape sequences in a key never reach the message; long names are truncated to ~64 bytes")
    func escapedKeys() throws {
        let evil = "\u{1B}[2J\u{1B}]0;PW\u{07}X"
        // Two keys with the same evil name: duplicateKey quotes it.
        let b = Bytes.header(tensors: 0, kvs: 2)
        b.str(evil).u32(4).u32(1)
        b.str(evil).u32(4).u32(1)
        let e = try #require(ggufError { _ = try GGUFFile(data: b.data) })
        let text = "\(e)"
        #expect(!Self.hasControl(text), "\(text.debugDescription)")
        #expect(text.contains("\\x1B[2J"))
        // An invalid value type after a 60 KB key: the message quotes 64 bytes of it.
        let long = Bytes.header(tensors: 0, kvs: 1)
        long.str(String(repeating: "k", count: 60_000)).u32(99)
        let e2 = try #require(ggufError { _ = try GGUFFile(data: long.data) })
        #expect("\(e2)".utf8.count < 400)
        #expect("\(e2)".contains("…(+59936 bytes)"))
    }

    @Test("SafeText.quote escapes C0, DEL, C1, bidi overrides and truncates by bytes")
    func safeText() {
        #expect(SafeText.quote("a\u{1B}b\u{7F}c\u{85}d\u{202E}e") == "a\\x1Bb\\x7Fc\\x85d\\u{202E}e")
        #expect(SafeText.quote(String(repeating: "é", count: 100), limit: 10) == String(repeating: "é", count: 5) + "…(+190 bytes)")
        #expect(SafeText.escapeControls("x\ny") == "x\\x0Ay")
        #expect(SafeText.quote("plain") == "plain")
    }
}
