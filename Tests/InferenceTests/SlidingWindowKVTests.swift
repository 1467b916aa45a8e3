import InferenceTestSupport
import Foundation
import GGUF
import Inference
import Testing

/// The KV cache of sliding-window layers (Gemma 3): a ring of window + one batch positions instead of the whole
/// context, counted exactly in the memory figure, and every cache operation (truncate, snapshots, context-full
/// policies, page release) correct once the ring has wrapped.
@Suite("Sliding-window KV rings")
struct SlidingWindowKVTests {
    /// 6 layers: 0–4 slide over 8 positions, 5 is global. Context 512 → pages of 256 positions, so a ring is
    /// one page (8 + batch − 1 ≤ 256) and wraps after 256 tokens.
    static let tiny = TinyGemma(dim: 64, heads: 2, kvHeads: 1, headDim: 32, ffn: 64, layers: 6, context: 512, slidingWindow: 8, seed: 5)

    static func tokens(_ n: Int, seed: UInt64 = 1) -> [Int32] {
        var rng = TinyModel.RNG(state: seed)
        return (0..<n).map { _ in Int32(4 + abs(rng.next()) * 261.99) }
    }

    func withModel(_ body: (Model) throws -> Void) throws {
        let (path, _) = try Self.tiny.write()
        defer { try? FileManager.default.removeItem(atPath: path) }
        try body(try Model(path: path))
    }

    @Test("a sliding-window layer reserves its ring, a global layer the context; the memory figure is the reservation")
    func reservation() throws {
        try withModel { model in
            let c = model.config
            #expect(c.slidingWindows == [8, 8, 8, 8, 8, nil])
            let options = SessionOptions(contextLength: 512, batchSize: 16, threads: 1)
            let s = try Session(model: model, options: options)
            let rowBytes = KVCacheType.f16.rowBytes(c.kvDim)
            let positions = 5 * 256 + 512
            #expect(s.kvReservedBytes == positions * 2 * rowBytes)
            #expect(try Session.memoryRequirement(model: model, options: options).kvCache == positions * 2 * rowBytes)
            #expect(c.kvCacheBytes(contextLength: 512, batch: 16) == positions * 2 * rowBytes)
            // Without sliding windows every layer would hold the context: the ring saves 5 × 256 positions.
            #expect(ModelConfig.kvPositions(windows: Array(repeating: nil, count: 6), contextLength: 512, batch: 16) == 6 * 512)
        }
    }

    @Test("truncating below what a wrapped ring still holds re-evaluates the kept tokens: bit-identical to a fresh session")
    func truncateAfterWrap() throws {
        try withModel { model in
            let prefix = Self.tokens(20), long = Self.tokens(280, seed: 2), next = Self.tokens(10, seed: 3)
            let options = SessionOptions(contextLength: 512, batchSize: 32, threads: 2)
            let a = try Session(model: model, options: options)
            _ = try a.prefill(prefix + long)                 // 300 positions: the rings (256) have wrapped
            a.truncate(to: 20)
            #expect(a.tokens == prefix)
            let got = Array(try a.prefill(next))
            let b = try Session(model: model, options: options)
            _ = try b.prefill(prefix)
            let want = Array(try b.prefill(next))
            #expect(got == want)
            // A truncation the ring still covers keeps the cache (no re-evaluation needed) and is exact too.
            let c = try Session(model: model, options: options)
            _ = try c.prefill(prefix + Self.tokens(30, seed: 4))
            c.truncate(to: 20)
            #expect(Array(try c.prefill(next)) == want)
        }
    }

    @Test("a snapshot after the ring wrapped restores exactly; one that needs overwritten positions is refused")
    func snapshotsAfterWrap() throws {
        try withModel { model in
            let options = SessionOptions(contextLength: 512, batchSize: 32, threads: 2)
            let a = try Session(model: model, options: options)
            let ids = Self.tokens(300)
            _ = try a.prefill(ids)
            let snap = try a.snapshot()
            // Sliding layers keep only the window's last 7 positions, the global layer all 300.
            #expect(snap.kvBytes == (5 * 7 + 300) * 2 * KVCacheType.f16.rowBytes(model.config.kvDim))
            let b = try Session(model: model, options: SessionOptions(contextLength: 512, batchSize: 8, threads: 2))
            _ = try b.prefill(Self.tokens(50, seed: 9))     // stale contents
            _ = try b.restore(snap)
            for t in Self.tokens(12, seed: 6) { #expect(Array(try a.decode(t)) == Array(try b.decode(t))) }
            #expect(throws: InferenceError.self) { _ = try a.snapshot(count: 20) }
        }
    }

    @Test("context-full policies past the context: the rings change nothing (bit-identical to whole-context sliding layers)",
          arguments: [KVCachePolicy.slidingWindow(sinks: 4), .contextShift(keep: 4)])
    func policiesPastTheContext(policy: KVCachePolicy) throws {
        try withModel { model in
            // Batch 16: sliding layers keep a ring of 256 positions. Batch 512: the ring would be the whole
            // context, so every layer keeps every position (the layout without rings).
            let ring = try Session(model: model, options: SessionOptions(contextLength: 512, batchSize: 16, threads: 2, kvPolicy: policy))
            let whole = try Session(model: model, options: SessionOptions(contextLength: 512, batchSize: 512, threads: 2, kvPolicy: policy))
            #expect(ring.kvReservedBytes < whole.kvReservedBytes)
            let prompt = Self.tokens(500)
            #expect(Array(try ring.prefill(prompt)) == Array(try whole.prefill(prompt)))
            for t in Self.tokens(60, seed: 8) {
                let a = Array(try ring.decode(t)), b = Array(try whole.decode(t))
                #expect(a == b)
                #expect(a.allSatisfy { $0.isFinite })
            }
            #expect(ring.discardedTokens > 0 && ring.discardedTokens == whole.discardedTokens)
            #expect(ring.tokens == whole.tokens && ring.position <= 512)
        }
    }

    @Test("releasing memory returns a ring's pages only while it has not wrapped")
    func releaseUnusedMemory() throws {
        try withModel { model in
            let s = try Session(model: model, options: SessionOptions(contextLength: 512, batchSize: 16, threads: 1))
            _ = try s.prefill(Self.tokens(40))
            #expect(s.kvResidentBytes > 0)
            s.reset()
            s.releaseUnusedMemory()
            #expect(s.kvResidentBytes == 0)
            _ = try s.prefill(Self.tokens(300))
            let before = try s.decode(7)[0]
            s.releaseUnusedMemory()      // every ring page holds live positions; the global layer has none past 301
            s.truncate(to: 300)
            #expect(try s.decode(7)[0] == before)
        }
    }
}
