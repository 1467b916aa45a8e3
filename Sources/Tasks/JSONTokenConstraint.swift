// Tasks: schema-constrained JSON for any generation (Session.generate / Engine.generate), e.g. the server's
// `response_format`: the JSON automaton of `extract` behind the Inference module's TokenConstraint.

import Inference

/// Generation restricted to JSON documents of a ``JSONSchema`` (``JSONSchema/anyObject`` for "any object"):
/// every token must keep the output a valid prefix, the generation ends when the document is complete, and a
/// document cut short by the token budget is closed by its shortest completion — so the text always parses
/// and validates.
///
/// Strings are free (not constrained to spans of an input; that is ``TaskRunner/extract(_:schema:onPartial:)``).
/// Set it as ``GenerationRequest/constraint``.
/// - Cost: one O(token length) check per generated token when the model's pick is valid; otherwise a walk of the
///   ``TokenTrie`` (at most every vocabulary byte, typically far fewer).
public struct JSONTokenConstraint: TokenConstraint {
    private var state: JSONConstraint
    private let trie: TokenTrie
    /// Scratch of ``mask(_:)`` (the allowed ids and their logits), reused from step to step.
    private var allowedIDs: [Int32] = []
    private var allowedLogits: [Float] = []

    /// - Parameters:
    ///   - trie: the model's token trie (build once per model: `TokenTrie(tokenizer: model.tokenizer)`).
    public init(schema: JSONSchema, trie: TokenTrie, limits: JSONConstraintLimits = JSONConstraintLimits()) {
        self.state = JSONConstraint(schema: schema, limits: limits)
        self.trie = trie
    }

    public func allows(_ token: Int32) -> Bool {
        guard token >= 0, Int(token) < trie.pieces.count else { return false }
        return trie.allows(token, from: state)
    }

    public mutating func mask(_ logits: UnsafeMutableBufferPointer<Float>) -> Bool {
        // The allowed ids and their logits, in buffers kept across steps (moved out so appending does not copy).
        var ids = allowedIDs, kept = allowedLogits
        allowedIDs = []; allowedLogits = []
        ids.removeAll(keepingCapacity: true); kept.removeAll(keepingCapacity: true)
        trie.forEachAllowed(from: state) { id in
            if Int(id) < logits.count { ids.append(id); kept.append(logits[Int(id)]) }
        }
        logits.update(repeating: -.infinity)
        for (id, v) in zip(ids, kept) { logits[Int(id)] = v }
        let any = !ids.isEmpty
        allowedIDs = ids; allowedLogits = kept
        return any
    }

    public mutating func accept(_ token: Int32) {
        let ok = state.advance(trie.pieces[Int(token)])
        precondition(ok, "JSONTokenConstraint: accepted a token the constraint refuses")
    }

    public var isComplete: Bool { state.isComplete }

    public func completion() -> String { String(decoding: state.completion(), as: UTF8.self) }
}
