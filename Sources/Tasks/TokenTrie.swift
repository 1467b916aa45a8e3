// Tasks: what every vocabulary token spells, as a byte trie in preorder, for fast constrained-decoding masks.

import Inference
import Synchronization
import Tokenizers

/// The byte strings of a vocabulary's tokens as a trie flattened in preorder (built once per model).
///
/// Walking it depth-first with a ``JSONConstraint`` gives every token that keeps the output valid while sharing
/// the work of common prefixes, and skipping whole subtrees at the first invalid byte.
/// - Memory: about 10 bytes per trie node (≈ 2–3 nodes per token for BPE vocabularies) plus 4 per token.
public final class TokenTrie: @unchecked Sendable {
    // Per node, preorder: (nodes)
    let byte: [UInt8]
    let depth: [Int32]
    let subtreeEnd: [Int32]    // index one past the node's last descendant
    let tokenStart: [Int32]    // (nodes + 1) CSR offsets into tokenIDs
    let tokenIDs: [Int32]
    /// The longest token in bytes.
    public let maxDepth: Int
    /// Bytes of each token id (empty for control/unused tokens, which are never proposed).
    public let pieces: [[UInt8]]
    public var nodeCount: Int { byte.count }

    /// Builds the trie from `tokenizer.tokenPiece(_:)` of every id.
    /// - Complexity: O(V log V · L) for V tokens of at most L bytes (≈ 50–100 ms for a 49k vocabulary).
    public convenience init(tokenizer: any Tokenizer) {
        let pieces = (0..<tokenizer.vocabularySize).map { tokenizer.tokenPiece(Int32($0)) }
        self.init(pieces: pieces)
    }

    /// Builds the trie from explicit token byte strings (index = token id; empty pieces are left out).
    public init(pieces: [[UInt8]]) {
        self.pieces = pieces
        let order = pieces.indices.filter { !pieces[$0].isEmpty }.sorted { pieces[$0].lexicographicallyPrecedes(pieces[$1]) }
        var byte: [UInt8] = [], depth: [Int32] = [], end: [Int32] = []
        var pairs: [(node: Int32, id: Int32)] = []
        var open: [Int] = []            // node index at each depth-1 along the current path
        var previous: [UInt8] = []
        var maxDepth = 0
        for id in order {
            let p = pieces[id]
            var lcp = 0
            while lcp < min(p.count, previous.count), p[lcp] == previous[lcp] { lcp += 1 }
            // Close nodes deeper than the common prefix.
            while open.count > lcp { end[open.removeLast()] = Int32(byte.count) }
            for d in lcp..<p.count {
                open.append(byte.count)
                byte.append(p[d]); depth.append(Int32(d + 1)); end.append(0)
            }
            pairs.append((Int32(open[p.count - 1]), Int32(id)))
            previous = p
            maxDepth = max(maxDepth, p.count)
        }
        while let o = open.popLast() { end[o] = Int32(byte.count) }
        var start = [Int32](repeating: 0, count: byte.count + 1)
        for (node, _) in pairs { start[Int(node) + 1] += 1 }
        for i in 0..<byte.count { start[i + 1] += start[i] }
        self.byte = byte; self.depth = depth; self.subtreeEnd = end
        self.tokenStart = start
        self.tokenIDs = pairs.map(\.id)   // pairs are in node order already (preorder = sorted order)
        self.maxDepth = maxDepth
    }

    /// Calls `body(id)` for every token whose bytes keep `state` a valid prefix.
    /// - Complexity: O(visited nodes) byte steps; subtrees are skipped at their first invalid byte.
    public func forEachAllowed(from state: JSONConstraint, _ body: (Int32) -> Void) {
        var states = [JSONConstraint](repeating: state, count: maxDepth + 1)   // (depth) state after the path's bytes
        var i = 0
        let n = byte.count
        while i < n {
            let d = Int(depth[i])
            states[d] = states[d - 1]
            if states[d].advance(byte[i]) {
                for k in Int(tokenStart[i])..<Int(tokenStart[i + 1]) { body(tokenIDs[k]) }
                i += 1
            } else {
                i = Int(subtreeEnd[i])
            }
        }
    }

    /// Whether token `id` keeps `state` valid (O(token length)).
    @inline(__always)
    public func allows(_ id: Int32, from state: JSONConstraint) -> Bool {
        let p = pieces[Int(id)]
        guard !p.isEmpty else { return false }
        var s = state
        return s.advance(p)
    }
}

extension TokenTrie {
    private final class Entry: @unchecked Sendable {
        weak var model: Model?
        weak var trie: TokenTrie?
        init(model: Model, trie: TokenTrie) { self.model = model; self.trie = trie }
    }
    private static let cache = Mutex<[ObjectIdentifier: Entry]>([:])

    /// The trie of `model`'s vocabulary, built once per model while anyone holds it: every task runner (batch
    /// workers, an engine's lanes) and the server's JSON mode share one instead of building their own
    /// (≈ 0.1 s and a few MB each).
    public static func shared(for model: Model) -> TokenTrie {
        cache.withLock { entries in
            let key = ObjectIdentifier(model)
            if let e = entries[key], e.model === model, let t = e.trie { return t }
            entries = entries.filter { $0.value.model != nil && $0.value.trie != nil }
            let t = TokenTrie(tokenizer: model.tokenizer)
            entries[key] = Entry(model: model, trie: t)
            return t
        }
    }
}
