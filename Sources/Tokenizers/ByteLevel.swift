// Tokenizers: GPT-2's byte ⇄ printable-unicode mapping used by byte-level BPE vocabularies.
//
// Bytes 0x21–0x7E, 0xA1–0xAC and 0xAE–0xFF map to the same codepoint; the other 68 bytes map, in byte order, to
// U+0100, U+0101, … (so ' ' is 'Ġ' U+0120 and '\n' is 'Ċ' U+010A). Same table as llama.cpp unicode_byte_to_utf8.

enum ByteLevel {
    /// Codepoint for each byte. (256)
    static let byteToScalar: [UInt32] = {
        var map = [UInt32](repeating: 0, count: 256)
        var n: UInt32 = 0
        for b in 0..<256 {
            if (0x21...0x7E).contains(b) || (0xA1...0xAC).contains(b) || (0xAE...0xFF).contains(b) {
                map[b] = UInt32(b)
            } else {
                map[b] = 256 + n
                n += 1
            }
        }
        return map
    }()

    /// UTF-8 of the codepoint for each byte. (256)
    static let byteToUTF8: [[UInt8]] = byteToScalar.map { Array(String(Unicode.Scalar($0)!).utf8) }

    /// Byte for each codepoint below 324, or -1. (324)
    static let scalarToByte: [Int16] = {
        var map = [Int16](repeating: -1, count: 324)
        for (b, cp) in byteToScalar.enumerated() { map[Int(cp)] = Int16(b) }
        return map
    }()

    /// Decodes a byte-level token text to the raw bytes it stands for (llama.cpp llama_decode_text), appending to
    /// `out`. Codepoints outside the table become "[UNK_BYTE_0x…<text>]" like llama.cpp.
    static func decode(_ text: UnsafeBufferPointer<UInt8>, into out: inout [UInt8]) {
        var i = 0
        while i < text.count {
            let (cp, len) = UTF8Scan.decode(text, at: i)
            if cp < 324, scalarToByte[Int(cp)] >= 0 {
                out.append(UInt8(scalarToByte[Int(cp)]))
            } else {
                out.append(contentsOf: Array("[UNK_BYTE_0x".utf8))
                for k in i..<(i + len) {
                    let hex = Array("0123456789abcdef".utf8)
                    out.append(hex[Int(text[k] >> 4)]); out.append(hex[Int(text[k] & 15)])
                }
                out.append(contentsOf: text)
                out.append(UInt8(ascii: "]"))
            }
            i += len
        }
    }
}

/// Minimal UTF-8 helpers over byte buffers.
enum UTF8Scan {
    /// Length of the sequence a lead byte starts (llama.cpp unicode_len_utf8: 1 for continuation bytes too).
    @inline(__always)
    static func sequenceLength(_ lead: UInt8) -> Int {
        switch lead >> 4 {
        case 0xC, 0xD: return 2
        case 0xE: return 3
        case 0xF: return 4
        default: return 1
        }
    }

    /// Decodes the codepoint at `i` (input assumed valid UTF-8; malformed bytes decode as U+FFFD, length 1).
    @inline(__always)
    static func decode(_ s: UnsafeBufferPointer<UInt8>, at i: Int) -> (UInt32, Int) {
        let b0 = s[i]
        if b0 < 0x80 { return (UInt32(b0), 1) }
        let n = sequenceLength(b0)
        guard n > 1, i + n <= s.count else { return (0xFFFD, 1) }
        var cp = UInt32(b0) & (0xFF >> (n + 1))
        for k in 1..<n {
            let b = s[i + k]
            guard b & 0xC0 == 0x80 else { return (0xFFFD, 1) }
            cp = (cp << 6) | UInt32(b & 0x3F)
        }
        return (cp, n)
    }
}
