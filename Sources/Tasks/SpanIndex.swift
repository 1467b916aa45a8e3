// Tasks: the substrings of an input text, as a suffix automaton over its bytes — what lets `extract` allow
// only tokens that continue some span of the input.

/// Every substring of a text: a suffix automaton (Blumer et al.) over its UTF-8 bytes. A byte string is a
/// substring exactly when walking it from the root never falls off; each state is an `Int32`, so a
/// ``JSONConstraint`` frame carries its position in the walk as a plain value.
/// - Memory: at most `2n` states and `3n` transitions for `n` bytes (≈ 20 bytes per input byte).
public final class SpanIndex: @unchecked Sendable {
    /// Transitions in CSR form: state s's are `bytes[offsets[s]..<offsets[s+1]]` → `targets[…]`.
    let offsets: [Int32]
    let bytes: [UInt8]
    let targets: [Int32]
    /// Per state: some transition on a byte that can go into a JSON string and is not whitespace.
    let hasNonSpaceNext: [Bool]
    /// The text has a character a span can start with (not whitespace, not a bare control character).
    public let canStart: Bool
    /// The indexed bytes.
    public let text: [UInt8]

    /// Indexes `text`. - Complexity: O(n) states and transitions (dictionary-backed while building).
    public init(_ text: String) {
        let t = Array(text.utf8)
        self.text = t
        var len: [Int32] = [0], link: [Int32] = [-1]
        var next: [[UInt8: Int32]] = [[:]]
        var last: Int32 = 0
        for c in t {
            let cur = Int32(len.count)
            len.append(len[Int(last)] + 1); link.append(0); next.append([:])
            var p = last
            while p != -1 && next[Int(p)][c] == nil { next[Int(p)][c] = cur; p = link[Int(p)] }
            if p != -1 {
                let q = next[Int(p)][c]!
                if len[Int(p)] + 1 == len[Int(q)] {
                    link[Int(cur)] = q
                } else {
                    let clone = Int32(len.count)
                    len.append(len[Int(p)] + 1); link.append(link[Int(q)]); next.append(next[Int(q)])
                    while p != -1 && next[Int(p)][c] == q { next[Int(p)][c] = clone; p = link[Int(p)] }
                    link[Int(q)] = clone; link[Int(cur)] = clone
                }
            }
            last = cur
        }
        var offsets: [Int32] = [0], bytes: [UInt8] = [], targets: [Int32] = [], nonSpace: [Bool] = []
        for edges in next {
            var any = false
            for (b, s) in edges.sorted(by: { $0.key < $1.key }) {
                bytes.append(b); targets.append(s)
                if Self.representable(b) && !Self.isSpace(b) { any = true }
            }
            offsets.append(Int32(bytes.count))
            nonSpace.append(any)
        }
        self.offsets = offsets; self.bytes = bytes; self.targets = targets; self.hasNonSpaceNext = nonSpace
        var start = false
        for i in 0..<Int(offsets[1]) {
            let b = bytes[i]
            if Self.representable(b) && !Self.isSpace(b) && !(0x80...0xC1).contains(b) && b < 0xF5 { start = true; break }
        }
        canStart = start
    }

    /// The state after `b` from state `s`, or -1 when the bytes so far followed by `b` are not in the text.
    @inline(__always)
    public func next(_ s: Int32, _ b: UInt8) -> Int32 {
        var i = Int(offsets[Int(s)])
        let end = Int(offsets[Int(s) + 1])
        while i < end {
            let x = bytes[i]
            if x == b { return targets[i] }
            if x > b { return -1 }
            i += 1
        }
        return -1
    }

    /// The transitions of state `s` (byte, target), in byte order.
    func transitions(_ s: Int32) -> [(UInt8, Int32)] {
        (Int(offsets[Int(s)])..<Int(offsets[Int(s) + 1])).map { (bytes[$0], targets[$0]) }
    }

    /// Whether `bytes` occur in the text. - Complexity: O(bytes.count).
    public func contains<S: Sequence>(_ bytes: S) -> Bool where S.Element == UInt8 {
        var s: Int32 = 0
        for b in bytes {
            s = next(s, b)
            if s < 0 { return false }
        }
        return true
    }

    /// Whitespace a span neither starts nor ends with (space, tab, newline, carriage return, form feed).
    @inline(__always)
    static func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x0A || b == 0x09 || b == 0x0D || b == 0x0C }

    /// Bytes a JSON string can hold (raw ≥ 0x20, or through the escapes `\b \f \n \r \t`).
    @inline(__always)
    static func representable(_ b: UInt8) -> Bool { b >= 0x20 || b == 0x08 || b == 0x09 || b == 0x0A || b == 0x0C || b == 0x0D }

    /// The byte a JSON escape character stands for (`n` → 0x0A), or nil for one `JSONConstraint` does not accept.
    @inline(__always)
    static func unescaped(_ e: UInt8) -> UInt8? {
        switch e {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): return e
        case UInt8(ascii: "b"): return 0x08
        case UInt8(ascii: "f"): return 0x0C
        case UInt8(ascii: "n"): return 0x0A
        case UInt8(ascii: "r"): return 0x0D
        case UInt8(ascii: "t"): return 0x09
        default: return nil
        }
    }

    /// The escape characters, in the order the shortest completion tries them.
    static let escapes: [UInt8] = Array("\"\\/bfnrt".utf8)
}
