// Tokenizers: BPE pre-tokenizers (word splitting) as hand-written Unicode-category scanners.
//
// Port of llama.cpp's unicode.cpp behaviour: `unicode_regex_split` applies a list of regexes in turn, each
// splitting every piece produced by the previous one (non-matching stretches stay pieces of their own). The GPT-2
// and Llama-3 regexes use llama.cpp's custom scanners (unicode_regex_split_custom_gpt2/_llama3), reproduced here
// decision for decision, including their behaviour at piece boundaries. Categories come from Swift's Unicode tables
// (`Unicode.Scalar.Properties`), which match llama.cpp's generated tables up to the Unicode version.

/// llama.cpp's per-codepoint category flags (subset). 0 means "outside the current piece".
@usableFromInline
struct CodepointFlags {
    static let defined: UInt8 = 1, number: UInt8 = 2, letter: UInt8 = 4, whitespace: UInt8 = 8
    static let punctuation: UInt8 = 16, symbol: UInt8 = 32, mark: UInt8 = 64

    /// Flags of the 128 ASCII codepoints.
    static let ascii: [UInt8] = (0..<128).map { compute(UInt32($0)) }

    @inline(__always)
    static func of(_ cp: UInt32) -> UInt8 { cp < 128 ? ascii[Int(cp)] : compute(cp) }

    static func compute(_ cp: UInt32) -> UInt8 {
        guard let scalar = Unicode.Scalar(cp) else { return defined }
        let props = scalar.properties
        var f = defined
        switch props.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: f |= letter
        case .decimalNumber, .letterNumber, .otherNumber: f |= number
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
             .initialPunctuation, .finalPunctuation, .otherPunctuation: f |= punctuation
        case .mathSymbol, .currencySymbol, .modifierSymbol, .otherSymbol: f |= symbol
        case .nonspacingMark, .spacingMark, .enclosingMark: f |= mark
        default: break
        }
        if props.isWhitespace { f |= whitespace }
        return f
    }
}

/// The word-splitting rules selected by `tokenizer.ggml.pre`.
public enum PreTokenizerKind: Sendable, Equatable {
    /// llama.cpp LLAMA_VOCAB_PRE_TYPE_DEFAULT (missing or "default" pre).
    case `default`
    /// GPT-2: `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`.
    case gpt2
    /// SmolLM / StarCoder / Refact / Command-R: every digit alone (`\p{N}`), then GPT-2.
    case digitsThenGPT2
    /// Llama 3 (`\p{N}{1,3}`, case-insensitive contractions, newline handling).
    case llama3
    /// Qwen2: the Llama-3 rules with single digits (`\p{N}`).
    case qwen2

    /// Maps a `tokenizer.ggml.pre` value to its rules, with the llama.cpp aliases.
    /// - Returns: the kind, whether llama.cpp ignores merges for whole-vocabulary words, and its add-BOS default.
    static func resolve(_ name: String?) -> (kind: PreTokenizerKind, ignoreMerges: Bool, addBOS: Bool, cleanSpaces: Bool)? {
        guard let name, !name.isEmpty else { return (.default, false, false, true) }
        switch name {
        case "default": return (.default, false, false, true)
        case "llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2", "jina-v5-nano":
            return (.llama3, true, true, true)
        case "dbrx", "smaug-bpe": return (.llama3, false, false, true)
        case "glm4", "chatglm-bpe": return (.llama3, false, false, true)
        case "gpt-2", "gpt2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es", "jina-v2-de", "a.x-4.0",
             "mellum", "modern-bert", "mpt", "olmo", "jais", "exaone4", "jina-v1-en", "jina-v2-code", "roberta-bpe":
            return (.gpt2, false, false, true)
        case "trillion", "granite-docling": return (.gpt2, false, false, false)
        case "smollm", "command-r": return (.digitsThenGPT2, false, false, false)
        case "starcoder", "refact", "codeshell", "exaone", "minerva-7b", "mellum2":
            return (.digitsThenGPT2, false, false, true)
        case "qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2": return (.qwen2, false, false, false)
        case "megrez", "stablelm2": return (.qwen2, false, false, true)
        default: return nil
        }
    }
}

/// Splits text (as Unicode scalars) into BPE words. Pure function of the input; no state.
struct PreTokenizer: Sendable {
    let kind: PreTokenizerKind

    /// Splits `cps` into consecutive word lengths (in codepoints) summing to `cps.count`.
    func split(_ cps: UnsafeBufferPointer<UInt32>) -> [Int] {
        if cps.isEmpty { return [] }
        var pieces = [cps.count]
        switch kind {
        case .gpt2:
            pieces = Self.gpt2(cps, pieces)
        case .digitsThenGPT2:
            pieces = Self.regexSplit(cps, pieces) { cps, pos, end in
                CodepointFlags.of(cps[pos]) & CodepointFlags.number != 0 ? 1 : 0
            }
            pieces = Self.gpt2(cps, pieces)
        case .llama3:
            pieces = Self.llama3(cps, pieces, maxDigits: 3)
        case .qwen2:
            pieces = Self.llama3(cps, pieces, maxDigits: 1)
        case .default:
            // "[\p{P}\$\+<=>\^~\|]+": collapsed \p{P} covers non-ASCII punctuation plus ASCII !"#%&'()*,-./:;?@[\]_{}
            pieces = Self.regexSplit(cps, pieces) { cps, pos, end in
                var p = pos
                while p < end && Self.isDefaultPunctuation(cps[p]) { p += 1 }
                return p - pos
            }
            pieces = Self.gpt2(cps, pieces)
            pieces = Self.regexSplit(cps, pieces) { cps, pos, end in  // \p{N}+
                var p = pos
                while p < end && CodepointFlags.of(cps[p]) & CodepointFlags.number != 0 { p += 1 }
                return p - pos
            }
            pieces = Self.regexSplit(cps, pieces) { cps, pos, end in  // [0-9][0-9][0-9]
                guard end - pos >= 3 else { return 0 }
                for k in 0..<3 where !(cps[pos + k] >= 0x30 && cps[pos + k] <= 0x39) { return 0 }
                return 3
            }
        }
        return pieces
    }

    @inline(__always)
    static func isDefaultPunctuation(_ cp: UInt32) -> Bool {
        if cp < 128 {
            switch UInt8(cp) {
            case 0x21...0x2F, 0x3A...0x40, 0x5B...0x5F, 0x7B...0x7E: return true  // all ASCII punct/symbols but `
            default: return false
            }
        }
        let f = CodepointFlags.of(cp)
        return f & CodepointFlags.whitespace == 0 && f & CodepointFlags.punctuation != 0
    }

    /// std::regex_iterator-style split: `match(cps, pos, end)` returns the length of a match starting at `pos`
    /// (0 = none); matches and the stretches between them become pieces.
    static func regexSplit(_ cps: UnsafeBufferPointer<UInt32>, _ pieces: [Int],
                           _ match: (UnsafeBufferPointer<UInt32>, Int, Int) -> Int) -> [Int] {
        var out: [Int] = []
        out.reserveCapacity(pieces.count * 2)
        var start = 0
        for length in pieces {
            let end = start + length
            var gapStart = start
            var pos = start
            while pos < end {
                let n = match(cps, pos, end)
                if n > 0 {
                    if pos > gapStart { out.append(pos - gapStart) }
                    out.append(n)
                    pos += n
                    gapStart = pos
                } else {
                    pos += 1
                }
            }
            if end > gapStart { out.append(end - gapStart) }
            start = end
        }
        return out
    }

    /// llama.cpp unicode_regex_split_custom_gpt2.
    static func gpt2(_ cps: UnsafeBufferPointer<UInt32>, _ pieces: [Int]) -> [Int] {
        var out: [Int] = []
        out.reserveCapacity(cps.count / 3 + pieces.count)
        var start = 0
        for length in pieces {
            let begin = start, end = start + length
            start = end
            @inline(__always) func cpt(_ p: Int) -> UInt32 { p >= begin && p < end ? cps[p] : 0xFFFF_FFFF }
            @inline(__always) func flags(_ p: Int) -> UInt8 { p >= begin && p < end ? CodepointFlags.of(cps[p]) : 0 }
            var prevEnd = begin
            @inline(__always) func add(_ e: Int) -> Int {
                let n = e - prevEnd
                if n > 0 { out.append(n) }
                prevEnd = e
                return n
            }
            let L = CodepointFlags.letter, N = CodepointFlags.number, W = CodepointFlags.whitespace
            var pos = begin
            while pos < end {
                let c = cpt(pos)
                let f = flags(pos)
                if c == 0x27 && pos + 1 < end {  // 's|'t|'re|'ve|'m|'ll|'d
                    let n1 = cpt(pos + 1)
                    if n1 == 0x73 || n1 == 0x74 || n1 == 0x6D || n1 == 0x64 { pos += add(pos + 2); continue }
                    if pos + 2 < end {
                        let n2 = cpt(pos + 2)
                        if (n1 == 0x72 && n2 == 0x65) || (n1 == 0x76 && n2 == 0x65) || (n1 == 0x6C && n2 == 0x6C) {
                            pos += add(pos + 3); continue
                        }
                    }
                }
                var f2 = c == 0x20 ? flags(pos + 1) : f
                if f2 & L != 0 {  // ' ?\p{L}+'
                    if c == 0x20 { pos += 1 }
                    while f2 & L != 0 { pos += 1; f2 = flags(pos) }
                    _ = add(pos); continue
                }
                if f2 & N != 0 {  // ' ?\p{N}+'
                    if c == 0x20 { pos += 1 }
                    while f2 & N != 0 { pos += 1; f2 = flags(pos) }
                    _ = add(pos); continue
                }
                if f2 & (W | L | N) == 0 && f2 != 0 {  // ' ?[^\s\p{L}\p{N}]+'
                    if c == 0x20 { pos += 1 }
                    while f2 & (W | L | N) == 0 && f2 != 0 { pos += 1; f2 = flags(pos) }
                    _ = add(pos); continue
                }
                var spaces = 0
                while flags(pos + spaces) & W != 0 { spaces += 1 }
                if spaces > 1 && cpt(pos + spaces) != 0xFFFF_FFFF {  // \s+(?!\S)
                    pos += spaces - 1; _ = add(pos); continue
                }
                if spaces > 0 { pos += spaces; _ = add(pos); continue }  // \s+
                pos += 1; _ = add(pos)  // no match
            }
        }
        return out
    }

    /// llama.cpp unicode_regex_split_custom_llama3 (maxDigits 3); with maxDigits 1 it equals the Qwen2 regex.
    static func llama3(_ cps: UnsafeBufferPointer<UInt32>, _ pieces: [Int], maxDigits: Int) -> [Int] {
        var out: [Int] = []
        out.reserveCapacity(cps.count / 3 + pieces.count)
        var start = 0
        for length in pieces {
            let begin = start, end = start + length
            start = end
            @inline(__always) func cpt(_ p: Int) -> UInt32 { p >= begin && p < end ? cps[p] : 0xFFFF_FFFF }
            @inline(__always) func flags(_ p: Int) -> UInt8 { p >= begin && p < end ? CodepointFlags.of(cps[p]) : 0 }
            @inline(__always) func lower(_ c: UInt32) -> UInt32 { c >= 0x41 && c <= 0x5A ? c + 32 : c }
            var prevEnd = begin
            @inline(__always) func add(_ e: Int) -> Int {
                let n = e - prevEnd
                if n > 0 { out.append(n) }
                prevEnd = e
                return n
            }
            let L = CodepointFlags.letter, N = CodepointFlags.number, W = CodepointFlags.whitespace
            var pos = begin
            while pos < end {
                let c = cpt(pos)
                let f = flags(pos)
                if c == 0x27 && pos + 1 < end {  // (?i:'s|'t|'re|'ve|'m|'ll|'d)
                    let n1 = lower(cpt(pos + 1))
                    if n1 == 0x73 || n1 == 0x74 || n1 == 0x6D || n1 == 0x64 { pos += add(pos + 2); continue }
                    if pos + 2 < end {
                        let n2 = lower(cpt(pos + 2))
                        if (n1 == 0x72 && n2 == 0x65) || (n1 == 0x76 && n2 == 0x65) || (n1 == 0x6C && n2 == 0x6C) {
                            pos += add(pos + 3); continue
                        }
                    }
                }
                if !(c == 0x0D || c == 0x0A || f & N != 0) {  // [^\r\n\p{L}\p{N}]?\p{L}+
                    if f & L != 0 || flags(pos + 1) & L != 0 {
                        pos += 1
                        while flags(pos) & L != 0 { pos += 1 }
                        _ = add(pos); continue
                    }
                }
                if f & N != 0 {  // \p{N}{1,maxDigits}
                    var ini = pos
                    while flags(pos) & N != 0 {
                        pos += 1
                        if pos - ini >= maxDigits { _ = add(pos); ini = pos }
                    }
                    _ = add(pos); continue
                }
                var f2 = c == 0x20 ? flags(pos + 1) : f  // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
                if f2 & (W | L | N) == 0 && f != 0 {
                    if c == 0x20 { pos += 1 }
                    while f2 & (W | L | N) == 0 && f2 != 0 { pos += 1; f2 = flags(pos) }
                    var c2 = cpt(pos)
                    while c2 == 0x0D || c2 == 0x0A { pos += 1; c2 = cpt(pos) }
                    _ = add(pos); continue
                }
                var spaces = 0
                var lastNewlineEnd = 0
                while flags(pos + spaces) & W != 0 {
                    let c2 = cpt(pos + spaces)
                    if c2 == 0x0D || c2 == 0x0A { lastNewlineEnd = pos + spaces + 1 }
                    spaces += 1
                }
                if lastNewlineEnd > 0 { pos = lastNewlineEnd; _ = add(pos); continue }  // \s*[\r\n]+
                if spaces > 1 && cpt(pos + spaces) != 0xFFFF_FFFF {  // \s+(?!\S)
                    pos += spaces - 1; _ = add(pos); continue
                }
                if spaces > 0 { pos += spaces; _ = add(pos); continue }  // \s+
                pos += 1; _ = add(pos)
            }
        }
        return out
    }
}
