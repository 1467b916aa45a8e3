// KV cache operations of a Session: the context-full policies (sliding window with sinks, context shift) on
// one primitive (discard a range of positions and re-rotate the later keys), the attention path of the
// quantized KV types, and snapshots of a prefix's KV (the PrefixCache's unit).

import EdgeLMEssentials
import Kernels

extension Session {
    // MARK: - Context-full policies

    /// Makes room for `n` more tokens according to ``kvPolicy``.
    /// - Throws: ``InferenceError/contextOverflow(needed:contextLength:)`` when the policy refuses, or when the
    ///   kept prefix plus the input cannot fit even after eviction.
    func makeRoom(for n: Int) throws {
        let needed = tokens.count + n
        guard needed > contextLength else { return }
        let keep = min(kvPolicy.keptPrefix, tokens.count)
        let drop: Int
        switch kvPolicy {
        case .refuse:
            throw InferenceError.contextOverflow(needed: needed, contextLength: contextLength)
        case .slidingWindow:
            drop = needed - contextLength
        case .contextShift:
            drop = max((tokens.count - keep) / 2, needed - contextLength)
        }
        guard keep + n <= contextLength, drop <= tokens.count - keep else {
            throw InferenceError.contextOverflow(needed: keep + n, contextLength: contextLength)
        }
        try discard(keep..<keep + drop)
    }

    /// Removes the positions `range` from the KV cache: later positions move down by `range.count` and their
    /// keys are re-rotated by `−range.count` (RoPE is a rotation, so rotating a key of position p by −d gives
    /// the key of position p − d, up to the rounding of the cache type); V moves unchanged. The primitive of
    /// ``KVCachePolicy/slidingWindow(sinks:)`` and ``KVCachePolicy/contextShift(keep:)`` (llama.cpp's
    /// `n_keep` / `n_discard` shift).
    ///
    /// Global layers keep every remaining token. A sliding-window layer keeps what its ring still held: the
    /// moved positions, and the kept prefix only if it was still in the ring (as llama.cpp's SWA cache,
    /// which has pruned older cells), so its attention then sees those.
    /// - Throws: ``InferenceError/invalidParameter(_:)`` for a range outside `0..<position`.
    /// - Complexity: O(layers · (position − range.upperBound) · kvDim); allocates the moved rows of a ring
    ///   (window + batch rows) while it runs.
    public func discard(_ range: Range<Int>) throws {
        guard range.lowerBound >= 0, range.upperBound <= tokens.count else {
            throw InferenceError.invalidParameter("discard(\(range)) is outside the evaluated tokens 0..<\(tokens.count)")
        }
        let d = range.count
        guard d > 0 else { return }
        let count = tokens.count, kvDim = c.kvDim
        let ropeDim = c.ropeDimensionCount
        let cache = ropeTmp, row = ropeTmp + ropeDim
        /// Re-rotates the K row of `layer` at `j` into `row`.
        func rotatedK(_ layer: Int, _ j: Int) {
            kv.readK(layer: layer, pos: j, into: row)
            Ops.rope(row, heads: c.headCountKV, headDim: c.headDim, ropeDim: ropeDim, cache: cache, neox: c.ropeNeoX)
        }
        for l in 0..<c.blockCount {
            let base = c.attentionLayers[l].ropeFreqBase
            if l == 0 || base != c.attentionLayers[l - 1].ropeFreqBase {
                Ops.ropeCache(position: -d, ropeDim: ropeDim, freqBase: base, into: cache)
            }
            if kv.capacity(l) >= ctxPad {
                // Every position has its own slot: move down in place, in increasing order.
                for j in range.upperBound..<count {
                    rotatedK(l, j)
                    kv.move(layer: l, from: j, to: j - d, newK: row)
                }
                continue
            }
            // A ring: the new slots of moved rows may hold rows not moved yet, so copy them out first.
            let intact = kvIntactFrom[l]
            let moved = max(range.upperBound, intact)..<count
            let rowBytes = kvDim * MemoryLayout<Float>.stride + kv.vRowBytes
            let buffer = UnsafeMutableRawPointer.allocate(byteCount: max(1, moved.count * rowBytes), alignment: 64)
            defer { buffer.deallocate() }
            for (r, j) in moved.enumerated() {
                rotatedK(l, j)
                let slot = buffer + r * rowBytes
                slot.copyMemory(from: row, byteCount: kvDim * MemoryLayout<Float>.stride)
                kv.readV(layer: l, pos: j, into: slot + kvDim * MemoryLayout<Float>.stride)
            }
            for (r, j) in moved.enumerated() {
                let slot = buffer + r * rowBytes
                kv.storeK(layer: l, pos: j - d, UnsafePointer(slot.assumingMemoryBound(to: Float.self)))
                kv.writeV(layer: l, pos: j - d, from: slot + kvDim * MemoryLayout<Float>.stride)
            }
            kvIntactFrom[l] = intact <= range.lowerBound ? intact : max(range.lowerBound, intact - d)
        }
        tokens.removeSubrange(range)
        lastLogitsValid = false
        discardedTokens += d
    }

    // MARK: - Snapshots

    /// The positions of each layer a snapshot of the first `count` tokens keeps: all of them on global
    /// layers, the last `window − 1` (what the next token attends to) on sliding-window layers.
    func snapshotRanges(count: Int) -> [Range<Int>] {
        c.attentionLayers.map { $0.firstVisible(from: count)..<count }
    }

    /// The KV of the first `count` evaluated tokens (and, when `count == position`, the logits of the last
    /// one), copied out of the session: restore it into any session of the same model and KV type with
    /// ``restore(_:)``.
    /// - Throws: ``InferenceError/invalidParameter(_:)`` when `count` is not in `1...position`.
    /// - Throws: ``InferenceError/invalidParameter(_:)`` also when a sliding-window ring overwrote positions
    ///   the snapshot needs (`count` far below the position).
    /// - Memory: ``KVSnapshot/byteCount`` = `Σ_layers kept positions · 2 · rowBytes(kvDim)` (+ `vocab · 4` with
    ///   logits; a sliding-window layer keeps at most its window).
    /// - Complexity: O(layers · count · kvDim).
    public func snapshot(count: Int? = nil) throws -> KVSnapshot {
        let n = count ?? tokens.count
        guard n >= 1, n <= tokens.count else {
            throw InferenceError.invalidParameter("snapshot(count: \(n)) needs 1…\(tokens.count) evaluated tokens")
        }
        let ranges = snapshotRanges(count: n)
        for (l, r) in ranges.enumerated() where r.lowerBound < kvIntactFrom[l] {
            throw InferenceError.invalidParameter("snapshot(count: \(n)): layer \(l)'s sliding-window ring no longer holds positions \(r.lowerBound)..<\(kvIntactFrom[l]); take the snapshot right after evaluating the prefix")
        }
        let bytes = kv.snapshotBytes(ranges: ranges)
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: max(bytes, 1), alignment: 64)
        kv.copyOut(ranges: ranges, to: buffer)
        var logits: [Float]? = nil
        if n == tokens.count && lastLogitsValid {
            logits = Array(UnsafeBufferPointer(start: logitsBuffer + lastLogitsRow * c.vocabularySize, count: c.vocabularySize))
        }
        return KVSnapshot(key: KVSnapshot.Key(model: model, kvType: kv.type), tokens: Array(tokens[0..<n]),
                          storage: buffer, byteCount: bytes, lastLogits: logits)
    }

    /// Replaces the session's tokens and KV cache with a snapshot's. Subsequent evaluation is bit-identical to
    /// a session that evaluated the snapshot's tokens itself (the cache holds the same bytes). When the
    /// snapshot carries the logits of its last token, they are returned (the same buffer ``prefill(_:)``
    /// returns); otherwise nil.
    /// - Throws: ``InferenceError/invalidParameter(_:)`` for a snapshot of another model or KV type, or
    ///   longer than the context.
    /// - Complexity: O(layers · count · kvDim).
    @discardableResult
    public func restore(_ snapshot: KVSnapshot) throws -> UnsafeBufferPointer<Float>? {
        guard snapshot.key == KVSnapshot.Key(model: model, kvType: kv.type) else {
            throw InferenceError.invalidParameter("the KV snapshot was taken with another model or KV type (\(snapshot.key.kvType.rawValue)) than this session's (\(kv.type.rawValue))")
        }
        guard snapshot.tokens.count <= contextLength else {
            throw InferenceError.contextOverflow(needed: snapshot.tokens.count, contextLength: contextLength)
        }
        let ranges = snapshotRanges(count: snapshot.tokens.count)
        kv.copyIn(ranges: ranges, from: snapshot.storage)
        for (l, r) in ranges.enumerated() { kvIntactFrom[l] = r.lowerBound }
        tokens = snapshot.tokens
        discardedTokens = 0
        guard let logits = snapshot.lastLogits else { lastLogitsValid = false; return nil }
        logits.withUnsafeBufferPointer { logitsBuffer.update(from: $0.baseAddress!, count: c.vocabularySize) }
        lastLogitsRow = 0
        lastLogitsValid = true
        return UnsafeBufferPointer(start: logitsBuffer, count: c.vocabularySize)
    }
}

/// The KV cache of a token prefix, copied out of a ``Session`` (immutable; safe to share across threads).
public final class KVSnapshot: @unchecked Sendable {
    /// What a snapshot is valid for: one model file (by path and size) and one KV type.
    struct Key: Equatable {
        var path: String, fileBytes: Int, layers: Int, kvDim: Int, kvType: KVCacheType
        init(model: Model, kvType: KVCacheType) {
            path = model.file.path; fileBytes = model.weightBytes
            layers = model.config.blockCount; kvDim = model.config.kvDim; self.kvType = kvType
        }
    }
    let key: Key
    /// The tokens whose KV this holds, positions `0..<tokens.count`.
    public let tokens: [Int32]
    let storage: UnsafeMutableRawPointer
    /// Bytes of KV held (per layer: K rows, then V).
    public let kvBytes: Int
    /// Logits after the last token, when the snapshot was taken right after evaluating it.
    public let lastLogits: [Float]?
    /// Bytes this snapshot keeps in memory (KV plus logits).
    public var byteCount: Int { kvBytes + (lastLogits?.count ?? 0) * 4 }
    /// The KV type of the session it came from.
    public var kvType: KVCacheType { key.kvType }

    init(key: Key, tokens: [Int32], storage: UnsafeMutableRawPointer, byteCount: Int, lastLogits: [Float]?) {
        self.key = key; self.tokens = tokens; self.storage = storage; self.kvBytes = byteCount; self.lastLogits = lastLogits
    }

    deinit { storage.deallocate() }
}

/// Small f32 helpers of the quantized-KV attention path (scalar twins below).
enum QuantizedAttentionMath {
    /// Σ a[i]·b[i] in 8 lanes (n % 8 == 0), lanes summed in order.
    @inline(__always)
    static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc = SIMD8<Float>()
        var i = 0
        while i < n {
            acc.addProduct(UnsafeRawPointer(a + i).loadUnaligned(as: SIMD8<Float>.self),
                           UnsafeRawPointer(b + i).loadUnaligned(as: SIMD8<Float>.self))
            i += 8
        }
        return acc.sum()
    }

    /// Scalar twin of ``dot(_:_:_:)`` (same lane order, so the same result).
    static func dot_reference(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
        var lanes = [Float](repeating: 0, count: 8)
        for i in 0..<n { lanes[i % 8] = lanes[i % 8].addingProduct(a[i], b[i]) }
        return SIMD8<Float>(lanes).sum()
    }

    /// y[i] += a · x[i] (n % 8 == 0).
    @inline(__always)
    static func axpy(_ a: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
        let av = SIMD8<Float>(repeating: a)
        var i = 0
        while i < n {
            let xv = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self)
            let yv = UnsafeRawPointer(y + i).loadUnaligned(as: SIMD8<Float>.self)
            UnsafeMutableRawPointer(y + i).storeBytes(of: yv.addingProduct(av, xv), as: SIMD8<Float>.self)
            i += 8
        }
    }

    /// Scalar twin of ``axpy(_:_:_:_:)``.
    static func axpy_reference(_ a: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
        for i in 0..<n { y[i] = y[i].addingProduct(a, x[i]) }
    }
}
