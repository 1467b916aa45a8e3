// The state of one sequence: what a step reads and writes for it besides the shared scratch.

/// One sequence's KV cache and evaluated tokens.
///
/// Owned by one ``Session``. Between steps only its owner touches it; during a step that evaluates it, only
/// the thread running the step does (the owner waits for the step, and the context's lock orders the two).
final class SequenceState {
    /// KV cache: paged, f16 `K (pages, pageLen, kvDim)` and transposed `V (pages, kvDim, pageLen)` per layer,
    /// or quantized rows; a ring of pages on sliding-window layers.
    let kv: KVCache
    /// Per layer, the lowest position whose K and V the cache still holds (0 on global layers; on a
    /// sliding-window ring, positions older than its capacity were overwritten).
    var kvIntactFrom: [Int]
    /// The tokens the cache holds, at positions `0..<tokens.count`.
    var tokens: [Int32]

    init(kv: KVCache, layers: Int, contextLength: Int) {
        self.kv = kv
        kvIntactFrom = Array(repeating: 0, count: layers)
        tokens = []
        tokens.reserveCapacity(contextLength)
    }
}
