import Foundation
import GGUF
import InferenceTestSupport
import Testing

@testable import Inference

/// The async engine: concurrent callers batched together get exactly their solo output; cancellation (waiting,
/// mid-prefill, mid-decode) stops one request without disturbing the others and gives its lane back; the queue
/// and the memory budget refuse with typed errors.
@Suite("Engine")
struct EngineTests {
    /// Steps of ~0.1–1 ms: long enough that concurrent requests overlap even on a loaded machine.
    static func model() throws -> Model {
        let (path, _) = try TinyModel(dim: 256, heads: 4, kvHeads: 2, ffn: 512, layers: 4, context: 256).write()
        return try Model(path: path)
    }

    static let prompts = ["hello there", "the cat sat on the mat", "a", "1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18",
                          "zzz", "the the the the", "hi", "one more prompt that is a little longer than the others"]

    static func options(_ lanes: Int) -> EngineOptions {
        EngineOptions(session: SessionOptions(contextLength: 128, batchSize: 16, threads: 2), maxSequences: lanes)
    }

    static func solo(_ model: Model, _ prompt: String, maxTokens: Int = 24) throws -> GenerationResult {
        var o = options(1).session
        o.context = ExecutionContext(threads: 2)
        return try Session(model: model, options: o).generate(GenerationRequest(prompt: prompt, maxTokens: maxTokens))
    }

    @Test("Eight concurrent greedy requests each get exactly their solo tokens, in shared steps")
    func concurrentRequestsMatchSolo() async throws {
        let model = try Self.model()
        let want = try Self.prompts.map { try Self.solo(model, $0, maxTokens: 48).tokens }
        let engine = try Engine(model: model, options: Self.options(8))
        let got = try await withThrowingTaskGroup(of: (Int, [Int32]).self) { group in
            for (i, p) in Self.prompts.enumerated() {
                group.addTask { (i, try await engine.complete(GenerationRequest(prompt: p, maxTokens: 48)).tokens) }
            }
            var out = [[Int32]](repeating: [], count: Self.prompts.count)
            for try await (i, t) in group { out[i] = t }
            return out
        }
        #expect(got == want)
        let ctx = engine.context.statistics
        #expect(ctx.sequences > ctx.steps, "concurrent requests should share steps")
        while engine.statistics.running > 0 { try await Task.sleep(nanoseconds: 1_000_000) }  // lanes count after replying
        let s = engine.statistics
        #expect(s.admitted == 8 && s.finished == 8 && s.queued == 0)
    }

    @Test("The stream yields the text in pieces and then the result")
    func streamedText() async throws {
        let model = try Self.model()
        let want = try Self.solo(model, "hello there")
        let engine = try Engine(model: model, options: Self.options(2))
        var text = "", result: GenerationResult?
        for try await event in engine.generate(GenerationRequest(prompt: "hello there", maxTokens: 24)) {
            switch event {
            case .text(let t): text += t
            case .done(let r): result = r
            }
        }
        #expect(Array(text.unicodeScalars) == Array(want.text.unicodeScalars), "\(Array(text.utf8)) vs \(Array(want.text.utf8))")
        #expect(result?.tokens == want.tokens)
    }

    @Test("Cancelling one request mid-decode stops it, frees its lane and KV, and leaves the others' output unchanged")
    func cancelMidDecode() async throws {
        let model = try Self.model()
        let want = try Self.solo(model, "the cat sat on the mat", maxTokens: 40).tokens
        let engine = try Engine(model: model, options: Self.options(2))
        let decoded = PieceCounter()
        // The victim decodes until it is cancelled (its loop never ends by itself), so the cancellation always
        // lands mid-decode.
        let victim = Task {
            try await engine.run { lane in
                let s = lane.session
                s.reset()
                var logits = try s.prefill([1, 40, 41, 42])
                while true {
                    let next = Int32(logits.indices.max { logits[$0] < logits[$1] }!)
                    if s.position + 1 >= s.contextLength { s.truncate(to: 4) }
                    logits = try s.decode(next)
                    decoded.add()
                }
            } as Int
        }
        let survivor = Task { try await engine.complete(GenerationRequest(prompt: "the cat sat on the mat", maxTokens: 40)).tokens }
        while decoded.count < 3 { try await Task.sleep(nanoseconds: 200_000) }
        victim.cancel()
        await #expect(throws: InferenceError.cancelled) { try await victim.value }
        #expect(try await survivor.value == want)
        // Both lanes are free again; the cancelled one gave its KV pages back.
        while engine.statistics.running > 0 { try await Task.sleep(nanoseconds: 1_000_000) }
        let s = engine.statistics
        #expect(s.cancelled == 1 && s.finished == 2, "\(s)")
        #expect(engine.statistics.kvResidentBytes < 2 * (try Session.memoryRequirement(model: model, options: Self.options(1).session)).kvCache)
    }

    @Test("Dropping a generation stream stops it; the other stream's text is unchanged")
    func dropStream() async throws {
        let model = try Self.model()
        let want = try Self.solo(model, "the cat sat on the mat", maxTokens: 40).tokens
        let engine = try Engine(model: model, options: Self.options(2))
        let victim = Task {
            for try await event in engine.generate(GenerationRequest(prompt: "hello there", maxTokens: 100)) {
                if case .text = event { break }  // drop the stream after the first piece
            }
        }
        let survivor = Task { try await engine.complete(GenerationRequest(prompt: "the cat sat on the mat", maxTokens: 40)).tokens }
        try await victim.value
        #expect(try await survivor.value == want)
        while engine.statistics.running > 0 { try await Task.sleep(nanoseconds: 1_000_000) }
        #expect(engine.statistics.finished == 2)
    }

    @Test("A session cancelled mid-prefill keeps only the chunks it evaluated; another sequence in the same steps is unaffected")
    func cancelMidPrefill() throws {
        let model = try Self.model()
        let prompt = (0..<70).map { Int32(10 + $0 % 200) }   // 5 chunks of 16
        let other = (0..<30).map { Int32(20 + $0 % 100) }
        let context = ExecutionContext(threads: 2)
        var o = Self.options(1).session
        o.context = context
        let a = try Session(model: model, options: o)
        var chunks = 0
        a.shouldStop = { chunks += 1; return chunks > 2 }
        #expect(throws: InferenceError.cancelled) { try a.prefill(prompt) }
        #expect(a.tokens == Array(prompt[0..<32]))
        a.reset(); a.releaseUnusedMemory()
        #expect(a.kvResidentBytes == 0)
        let b = try Session(model: model, options: o)
        let got = Array(try b.prefill(other))
        var solo = Self.options(1).session
        solo.context = ExecutionContext(threads: 2)
        let alone = try Session(model: model, options: solo)
        let want = Array(try alone.prefill(other))
        #expect(got.map(\.bitPattern) == want.map(\.bitPattern))
    }

    @Test("A waiting request can be cancelled; a full queue refuses with queueFull")
    func queueAndCancelWhileWaiting() async throws {
        let model = try Self.model()
        var options = Self.options(1)
        options.maxQueue = 1
        let engine = try Engine(model: model, options: options)
        let gate = DispatchSemaphore(value: 0)
        // Occupy the only lane until the gate opens.
        let busy = Task { try await engine.run { _ in gate.wait(); return 1 } }
        while engine.statistics.running == 0 { try await Task.sleep(nanoseconds: 200_000) }
        let waiting = Task { try await engine.run { _ in 2 } }
        while engine.statistics.queued == 0 { try await Task.sleep(nanoseconds: 200_000) }
        await #expect(throws: EngineError.queueFull(limit: 1)) { try await engine.run { _ in 3 } }
        waiting.cancel()
        await #expect(throws: CancellationError.self) { try await waiting.value }
        gate.signal()
        #expect(try await busy.value == 1)
        let s = engine.statistics
        #expect(s.refusedQueueFull == 1 && s.cancelled == 1 && s.queued == 0)
    }

    @Test("A memory budget that holds fewer lanes than asked refuses with the number that fits")
    func budgetCountsLanes() throws {
        let model = try Self.model()
        var options = Self.options(2)
        let two = try Engine.memoryRequirement(model: model, options: options).total
        options.maxSequences = 6
        let six = try Engine.memoryRequirement(model: model, options: options).total
        #expect(six > two)
        options.session.memoryBudget = MemoryBudget(cap: two)
        #expect(throws: MemoryBudgetError.self) { try Engine(model: model, options: options) }
        do { _ = try Engine(model: model, options: options) } catch let MemoryBudgetError.exceeds(_, _, suggestion) {
            #expect(suggestion == .fewerSequences(maxSequences: 2))
        }
        options.maxSequences = 2
        #expect(try Engine(model: model, options: options).maxSequences == 2)
    }
}

/// Counts streamed pieces across tasks.
final class PieceCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    func add() { lock.lock(); n += 1; lock.unlock() }
    var count: Int { lock.lock(); defer { lock.unlock() }; return n }
}
