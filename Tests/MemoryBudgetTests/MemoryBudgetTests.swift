import InferenceTestSupport
import Foundation
import Testing
@testable import Inference
import DeviceProfiles
import GGUF

@Suite struct MemoryBudgetTests {
    static func tinyModel(layers: Int = 2, context: Int = 256) throws -> Model {
        var t = TinyModel()
        t.layers = layers
        t.context = context
        return try Model(path: t.write().path)
    }

    @Test func kvAndScratchAreTheAllocatedSizes() throws {
        let m = try Self.tinyModel()
        let c = m.config
        let o = SessionOptions(contextLength: 50, batchSize: 8, threads: 2)
        let r = try Session.memoryRequirement(model: m, options: o)
        // ctx 50 pads to 64; K and V, f16.
        #expect(r.kvCache == 2 * c.blockCount * 64 * c.kvDim * 2)
        // Scratch: the float buffers of Session.init, counted independently here.
        let b = 8, tasks = c.headCount * min(b, 2 * 2)
        let floats = b * (3 * c.embeddingLength + 2 * c.qDim + 2 * c.kvDim + 2 * c.feedForwardLength
                          + c.vocabularySize + c.ropeDimensionCount) + tasks * 64
        #expect(r.scratch > floats * 4)
        #expect(r.scratch < floats * 4 + tasks * (c.headDim + 64) * 2 + b * 2 * c.feedForwardLength + 4096)
        #expect(r.weights == m.weightBytes)
        // One worker stack, plus the tile scratch of both threads: the tiny model's Q4_1 rows pack into less
        // than the 16 KiB first allocation (+ 64 B header).
        #expect(r.threadStacks == 128 * 1024 + 2 * (16 * 1024 + 64))
        #expect(r.total == r.weights + r.kvCache + r.scratch + r.tokenizer + r.threadStacks + r.runtime)
    }

    @Test func requirementGrowsWithContextAndBatch() throws {
        let m = try Self.tinyModel()
        func total(_ ctx: Int, _ b: Int) throws -> Int {
            try Session.memoryRequirement(model: m, options: SessionOptions(contextLength: ctx, batchSize: b, threads: 1)).total
        }
        #expect(try total(64, 8) < total(128, 8))
        #expect(try total(64, 8) < total(64, 16))
        #expect(try total(33, 8) == total(64, 8))     // same 32-padding
    }

    @Test func streamedNeedsLessThanResidentForDeepModels() throws {
        let m = try Self.tinyModel(layers: 6)
        let res = try Session.memoryRequirement(model: m, options: SessionOptions(contextLength: 64, threads: 1))
        let str = try Session.memoryRequirement(model: m, options: SessionOptions(contextLength: 64, threads: 1, residency: .streamed))
        #expect(str.kvCache == res.kvCache && str.scratch == res.scratch)
        #expect(str.weights > 0)
        // The window holds one layer (or head chunk) plus slack, not all six.
        let layer = m.file.tensors.filter { $0.name.hasPrefix("blk.0.") }.reduce(0) { $0 + $1.byteCount }
        #expect(str.weights >= layer)
    }

    @Test func sessionFitsExactlyAtItsRequirement() throws {
        let m = try Self.tinyModel()
        var o = SessionOptions(contextLength: 128, batchSize: 8, threads: 1)
        let need = try Session.memoryRequirement(model: m, options: o).total
        o.memoryBudget = MemoryBudget(cap: need)
        _ = try Session(model: m, options: o)
        o.memoryBudget = MemoryBudget(cap: need - 1)
        #expect(throws: MemoryBudgetError.self) { try Session(model: m, options: o) }
    }

    @Test func refusalSuggestsTheExactMaximumContext() throws {
        let m = try Self.tinyModel()
        var o = SessionOptions(contextLength: 256, batchSize: 8, threads: 1)
        let at128 = try Session.memoryRequirement(model: m, options: SessionOptions(contextLength: 128, batchSize: 8, threads: 1)).total
        o.memoryBudget = MemoryBudget(cap: at128)
        do {
            _ = try Session(model: m, options: o)
            Issue.record("expected a refusal")
        } catch let MemoryBudgetError.exceeds(needed, cap, suggestion) {
            #expect(cap == at128)
            #expect(needed == (try Session.memoryRequirement(model: m, options: o).total))
            guard case .smallerContext(let c) = suggestion else { Issue.record("got \(suggestion)"); return }
            // Padding to 32: 128 fits, and nothing past it up to the next pad boundary costs less.
            #expect(c == 128)
            var fit = o; fit.contextLength = c
            _ = try Session(model: m, options: fit)
            var over = o; over.contextLength = c + 1
            #expect(throws: MemoryBudgetError.self) { try Session(model: m, options: over) }
        }
    }

    @Test func refusalSuggestsFewerThreadsWhenThatIsEnough() throws {
        let m = try Self.tinyModel()
        let one = try Session.memoryRequirement(model: m, options: SessionOptions(contextLength: 64, batchSize: 8, threads: 1)).total
        var o = SessionOptions(contextLength: 64, batchSize: 8, threads: 8)
        o.memoryBudget = MemoryBudget(cap: one)
        #expect(throws: MemoryBudgetError.exceeds(needed: try Session.memoryRequirement(model: m, options: o).total, cap: one,
                                                  suggestion: .fewerThreads(maxThreads: 1))) {
            try Session(model: m, options: o)
        }
    }

    @Test func refusalAsksForMoreWhenNothingFits() throws {
        let m = try Self.tinyModel()
        var o = SessionOptions(contextLength: 64, threads: 1)
        o.memoryBudget = MemoryBudget(cap: 1 << 20)      // below the runtime baseline alone
        do {
            _ = try Session(model: m, options: o)
            Issue.record("expected a refusal")
        } catch let e as MemoryBudgetError {
            guard case .exceeds(_, _, .raiseCap(let minimum, _)) = e else { Issue.record("got \(e)"); return }
            #expect(minimum > 1 << 20)
            #expect(e.description.contains("hint:"))
        }
    }

    /// Streaming only drops pages of the read-only mapping: logits must be bit-identical to resident ones.
    @Test(arguments: [1, 2])
    func streamedLogitsAreBitIdentical(threads: Int) throws {
        let m = try Self.tinyModel(layers: 3)
        let a = try Session(model: m, options: SessionOptions(contextLength: 64, batchSize: 4, threads: threads))
        let b = try Session(model: m, options: SessionOptions(contextLength: 64, batchSize: 4, threads: threads, residency: .streamed))
        let prompt: [Int32] = [72, 101, 108, 108, 111, 32, 119, 111, 114, 108, 100]
        var la = Array(try a.prefill(prompt)), lb = Array(try b.prefill(prompt))
        #expect(la == lb)
        for t: Int32 in [3, 250, 17] {
            la = Array(try a.decode(t)); lb = Array(try b.decode(t))
            #expect(la == lb)
        }
        var all: [[Float]] = [], allS: [[Float]] = []
        a.reset(); b.reset()
        try a.evaluateAll(prompt) { _, l in all.append(Array(l)) }
        try b.evaluateAll(prompt) { _, l in allS.append(Array(l)) }
        #expect(all == allS)
    }

    @Test func headChunksCoverEveryRowInMultiplesOfFour() throws {
        let m = try Self.tinyModel()
        let rows = WeightStreamer.headRowsPerChunk(m.weights.output)
        #expect(rows % 4 == 0 && rows >= 4)
        #expect((m.weights.output.rows + rows - 1) / rows >= 4)
    }
}
