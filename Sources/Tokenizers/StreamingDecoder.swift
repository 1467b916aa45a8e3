// Tokenizers: incremental detokenization for streaming generation output.

/// Turns a stream of token ids into text without ever emitting half a UTF-8 character.
///
/// Token pieces are raw bytes (`Tokenizer.tokenPiece`), and byte-level BPE or byte-fallback tokens can end in the
/// middle of a multi-byte character. Incomplete trailing bytes are held back until the next token completes them;
/// bytes that can never form a valid character are emitted as U+FFFD. Control tokens render as nothing.
///
/// ```swift
/// var decoder = StreamingDecoder(tokenizer: tokenizer)
/// for id in generated { print(decoder.append(id), terminator: "") }
/// print(decoder.finish())
/// ```
public struct StreamingDecoder: Sendable {
    public let tokenizer: any Tokenizer
    /// Render control tokens as their text (llama.cpp `special: true`).
    public var special: Bool
    /// Bytes of an incomplete trailing character. (≤ 3)
    private var pending: [UInt8] = []

    public init(tokenizer: any Tokenizer, special: Bool = false) {
        self.tokenizer = tokenizer
        self.special = special
    }

    /// Appends token `id` and returns the text that is now complete (possibly empty).
    /// - Complexity: O(piece length).
    public mutating func append(_ id: Int32) -> String {
        appendBytes(tokenizer.tokenPiece(id, special: special))
    }

    /// Appends raw piece bytes and returns the text that is now complete.
    public mutating func appendBytes(_ bytes: [UInt8]) -> String {
        pending.append(contentsOf: bytes)
        let cut = Self.completePrefixLength(pending)
        if cut == 0 { return "" }
        let text = String(decoding: pending[0..<cut], as: UTF8.self)
        pending.removeFirst(cut)
        return text
    }

    /// Flushes held-back bytes (an incomplete character becomes U+FFFD) and resets the decoder.
    public mutating func finish() -> String {
        defer { pending.removeAll() }
        return pending.isEmpty ? "" : String(decoding: pending, as: UTF8.self)
    }

    /// Whether bytes are being held back waiting for the rest of a character.
    public var hasPendingBytes: Bool { !pending.isEmpty }

    /// Length of the longest prefix that does not end inside a possibly-valid incomplete UTF-8 sequence.
    static func completePrefixLength(_ b: [UInt8]) -> Int {
        let n = b.count
        // Look at most 3 bytes back for the lead byte of the last sequence.
        var i = n - 1
        let lowest = max(0, n - 3)
        while i >= lowest {
            let byte = b[i]
            if byte & 0xC0 != 0x80 {  // ASCII or a lead byte
                let need: Int
                switch byte {
                case 0xC2...0xDF: need = 2
                case 0xE0...0xEF: need = 3
                case 0xF0...0xF4: need = 4
                default: return n  // ASCII or invalid lead: everything is final
                }
                if n - i >= need { return n }
                // Incomplete: hold back only if the continuation bytes so far are plausible.
                for k in (i + 1)..<n where !isValidContinuation(lead: byte, index: k - i, byte: b[k]) { return n }
                return i
            }
            i -= 1
        }
        return n
    }

    /// Whether `byte` can be the `index`-th byte (1-based after the lead) of a sequence starting with `lead`.
    private static func isValidContinuation(lead: UInt8, index: Int, byte: UInt8) -> Bool {
        if index == 1 {
            switch lead {
            case 0xE0: return (0xA0...0xBF).contains(byte)
            case 0xED: return (0x80...0x9F).contains(byte)
            case 0xF0: return (0x90...0xBF).contains(byte)
            case 0xF4: return (0x80...0x8F).contains(byte)
            default: return byte & 0xC0 == 0x80
            }
        }
        return byte & 0xC0 == 0x80
    }
}
