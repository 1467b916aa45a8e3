// PrefixCache: KV snapshots of shared prompt prefixes (a fixed instruction followed by varying inputs),
// bounded in bytes with least-recently-used eviction, shared by the sessions of one model.

import EdgeLMEssentials
import Synchronization

/// KV caches of prompt prefixes, reused across requests: restoring a prefix's KV replaces prefilling it and
/// gives bit-identical logits (the cache holds the same bytes the prefill wrote).
///
/// Bounded by ``capacityBytes`` (count it against the memory budget with
/// ``SessionOptions/prefixCacheBytes``); inserting beyond it evicts the least recently used entries. An
/// entry larger than the whole capacity is not kept. Thread-safe.
public final class PrefixCache: @unchecked Sendable {
    /// The most bytes the cached snapshots may hold together.
    public let capacityBytes: Int
    private struct Store {
        var entries: [[Int32]: (snapshot: KVSnapshot, lastUse: UInt64)] = [:]
        var clock: UInt64 = 0
        var bytes = 0
        var hits = 0, misses = 0
    }
    private let store = Mutex(Store())

    /// - Parameter capacityBytes: the bound on ``byteCount``.
    public init(capacityBytes: Int) { self.capacityBytes = max(0, capacityBytes) }

    /// Bytes held by the cached snapshots (KV plus last logits).
    public var byteCount: Int { store.withLock { $0.bytes } }
    /// Number of cached prefixes.
    public var count: Int { store.withLock { $0.entries.count } }
    /// Lookups that found their prefix / did not.
    public var hits: Int { store.withLock { $0.hits } }
    public var misses: Int { store.withLock { $0.misses } }

    /// The snapshot of exactly `prefix`, marking it most recently used; nil when absent.
    /// - Complexity: O(prefix.count) (hashing).
    public func lookup(_ prefix: [Int32]) -> KVSnapshot? {
        store.withLock { s -> KVSnapshot? in
            guard let e = s.entries[prefix] else { s.misses += 1; return nil }
            s.clock += 1
            s.entries[prefix] = (e.snapshot, s.clock)
            s.hits += 1
            return e.snapshot
        }
    }

    /// Caches `snapshot` under its tokens, evicting least recently used entries until it fits. A snapshot
    /// larger than ``capacityBytes`` is dropped. - Complexity: O(entries) per eviction.
    public func insert(_ snapshot: KVSnapshot) {
        store.withLock { s in
            let size = snapshot.byteCount
            guard size <= capacityBytes else { return }
            if let old = s.entries.removeValue(forKey: snapshot.tokens) { s.bytes -= old.snapshot.byteCount }
            while s.bytes + size > capacityBytes,
                  let victim = s.entries.min(by: { $0.value.lastUse < $1.value.lastUse }) {
                s.bytes -= victim.value.snapshot.byteCount
                s.entries.removeValue(forKey: victim.key)
            }
            s.clock += 1
            s.entries[snapshot.tokens] = (snapshot, s.clock)
            s.bytes += size
        }
    }

    /// Drops every entry.
    public func removeAll() { store.withLock { $0.entries.removeAll(); $0.bytes = 0 } }
}

extension Session {
    /// Evaluates `input` (after a ``reset()``) reusing the KV of its first `prefixLength` tokens from `cache`:
    /// on a hit the prefix's KV is restored instead of prefilled; on a miss the prefix is prefilled, its
    /// snapshot (with its last logits) is cached, and the rest is evaluated. Returns the logits of the last
    /// token of `input`, bit-identical to `prefill(prefix)` followed by `prefill(rest)`.
    /// - Throws: ``InferenceError/invalidParameter(_:)`` when the session is not empty or `prefixLength` is not
    ///   in `1...input.count`; the errors of ``prefill(_:)``.
    @discardableResult
    public func prefill(_ input: [Int32], reusingPrefix prefixLength: Int, from cache: PrefixCache) throws -> UnsafeBufferPointer<Float> {
        guard tokens.isEmpty else {
            throw InferenceError.invalidParameter("prefill(_:reusingPrefix:from:) needs an empty session (call reset() first)")
        }
        guard prefixLength >= 1, prefixLength <= input.count else {
            throw InferenceError.invalidParameter("prefix length \(prefixLength) must be in 1…\(input.count)")
        }
        let prefix = Array(input[0..<prefixLength])
        var logits: UnsafeBufferPointer<Float>
        if let s = cache.lookup(prefix), s.key == KVSnapshot.Key(model: model, kvType: kvType), s.lastLogits != nil,
           let restored = try restore(s) {
            logits = restored
        } else {
            logits = try prefill(prefix)
            cache.insert(try snapshot())
        }
        if prefixLength < input.count { logits = try prefill(Array(input[prefixLength...])) }
        return logits
    }
}
