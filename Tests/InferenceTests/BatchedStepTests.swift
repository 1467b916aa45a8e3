import Foundation
import GGUF
import InferenceTestSupport
import Kernels
import Testing

@testable import Inference

/// Several sequences in one step: every sequence's logits must be bit-identical to evaluating it alone with
/// the same chunks, whatever else shares the step (decode rows, prefill chunks, `.all` scoring rows, other
/// positions, sliding-window rings), on a Llama model with int8 kernels and a Gemma 3 model.
@Suite("Multi-sequence steps")
struct BatchedStepTests {
    enum Kind: String, CaseIterable { case llama, gemma }

    /// `larger`: steps long enough (~0.1–1 ms) that threads overlap even on a loaded machine.
    static func model(_ kind: Kind, larger: Bool = false) throws -> Model {
        switch kind {
        case .llama:
            let (path, _) = try TinyModel(dim: larger ? 256 : 64, heads: 4, kvHeads: 2, ffn: larger ? 512 : 96,
                                          layers: larger ? 4 : 2, context: 128).write()
            return try Model(path: path)
        case .gemma:
            let (path, _) = try TinyGemma(dim: larger ? 256 : 96, ffn: larger ? 512 : 128, context: 128,
                                          matrixType: .q8_0, embeddingType: .q8_0).write()
            return try Model(path: path)
        }
    }

    /// One sequence's script: the chunks it evaluates, in order, and which logits each asks for.
    struct Script { var chunks: [([Int32], LogitsMode)] }

    static func randomTokens(_ n: Int, vocab: Int, _ rng: inout SplitMix) -> [Int32] {
        (0..<n).map { _ in Int32(rng.next() % UInt64(vocab - 10)) + 4 }
    }

    /// The logits each chunk left (all rows for `.all`, one for `.last`, none for `.none`).
    static func logitsAfter(_ s: Session, _ count: Int, _ mode: LogitsMode) -> [UInt32] {
        let vocab = s.model.config.vocabularySize
        let rows = mode == .all ? count : (mode == .last ? 1 : 0)
        return Array(UnsafeBufferPointer(start: s.logitsBuffer, count: rows * vocab)).map(\.bitPattern)
    }

    @Test("Each sequence's logits in a mixed step equal its logits alone", arguments: Kind.allCases)
    func mixedStepsBitIdentical(kind: Kind) throws {
        let model = try Self.model(kind)
        let vocab = model.config.vocabularySize
        var rng = SplitMix(seed: 11)
        // Four sequences: a long prompt in chunks then decode, a short prompt then decode, a scoring sequence
        // (.all rows), and one that only decodes after a one-token prompt. 16-token chunks (the batch size).
        let scripts: [Script] = [
            Script(chunks: [(Self.randomTokens(16, vocab: vocab, &rng), .none), (Self.randomTokens(9, vocab: vocab, &rng), .last)]
                   + (0..<6).map { _ in (Self.randomTokens(1, vocab: vocab, &rng), .last) }),
            Script(chunks: [(Self.randomTokens(5, vocab: vocab, &rng), .last)]
                   + (0..<8).map { _ in (Self.randomTokens(1, vocab: vocab, &rng), .last) }),
            Script(chunks: [(Self.randomTokens(12, vocab: vocab, &rng), .all), (Self.randomTokens(8, vocab: vocab, &rng), .all),
                            (Self.randomTokens(3, vocab: vocab, &rng), .all)]),
            Script(chunks: (0..<14).map { _ in (Self.randomTokens(1, vocab: vocab, &rng), .last) }),
        ]
        let options = SessionOptions(contextLength: 64, batchSize: 16, threads: 2)

        // Alone: each on its own context.
        var alone: [[[UInt32]]] = []
        for script in scripts {
            var o = options; o.context = ExecutionContext(threads: 2)
            let s = try Session(model: model, options: o)
            var out: [[UInt32]] = []
            for (ids, mode) in script.chunks {
                ids.withUnsafeBufferPointer { s.forward($0, logits: mode) }
                out.append(Self.logitsAfter(s, ids.count, mode))
            }
            alone.append(out)
        }

        // Together: several compositions of which sequences share each step.
        let shared = ExecutionContext(threads: 2)
        try shared.reserve(model: model, options: options, rows: 16 * 4, sequences: 4)
        for pattern in 0..<3 {
            var o = options; o.context = shared
            let sessions = try scripts.map { _ in try Session(model: model, options: o) }
            var next = Array(repeating: 0, count: scripts.count)
            var together: [[[UInt32]]] = Array(repeating: [], count: scripts.count)
            var step = 0
            while next.indices.contains(where: { next[$0] < scripts[$0].chunks.count }) {
                // Pattern 0: everyone each step; 1: staggered (sequence i joins at step i); 2: alternate halves.
                let members = next.indices.filter { i in
                    guard next[i] < scripts[i].chunks.count else { return false }
                    switch pattern {
                    case 0: return true
                    case 1: return step >= i
                    default: return (i + step) % 2 == 0 || step > 20
                    }
                }
                step += 1
                guard !members.isEmpty else { continue }
                Session.evaluateTogether(members.map { i in
                    (sessions[i], scripts[i].chunks[next[i]].0, scripts[i].chunks[next[i]].1)
                })
                for i in members {
                    let (ids, mode) = scripts[i].chunks[next[i]]
                    together[i].append(Self.logitsAfter(sessions[i], ids.count, mode))
                    next[i] += 1
                }
            }
            for i in scripts.indices {
                #expect(together[i] == alone[i], "\(kind) pattern \(pattern): sequence \(i) differs from its run alone")
                #expect(sessions[i].tokens == scripts[i].chunks.flatMap(\.0))
            }
        }
        #expect(shared.statistics.steps > 0 && shared.statistics.sequences > shared.statistics.steps)
    }

    static let generated = 32

    @Test("Sessions on many threads sharing one context generate exactly what each generates alone", arguments: Kind.allCases)
    func concurrentSessionsMatchAlone(kind: Kind) throws {
        let model = try Self.model(kind, larger: true)
        let vocab = model.config.vocabularySize
        var rng = SplitMix(seed: 5)
        let prompts = (0..<6).map { i in Self.randomTokens(3 + 7 * i, vocab: vocab, &rng) }
        let options = SessionOptions(contextLength: 96, batchSize: 16, threads: 2)

        @Sendable func greedy(_ s: Session, _ prompt: [Int32]) throws -> [Int32] {
            var logits = try s.prefill(prompt)
            var out: [Int32] = []
            for _ in 0..<Self.generated {
                let next = Int32(logits.indices.max { logits[$0] < logits[$1] }!)
                out.append(next)
                logits = try s.decode(next)
            }
            return out
        }
        var alone: [[Int32]] = []
        for p in prompts {
            var o = options; o.context = ExecutionContext(threads: 2)
            alone.append(try greedy(try Session(model: model, options: o), p))
        }
        let shared = ExecutionContext(threads: 2)
        try shared.reserve(model: model, options: options, rows: 16 + prompts.count, sequences: prompts.count)
        let results = ResultBox(count: prompts.count)
        let group = DispatchGroup()
        var o = options; o.context = shared
        let sessions = SessionBox(try prompts.map { _ in try Session(model: model, options: o) })
        let start = DispatchSemaphore(value: 0)
        let threads = prompts.indices.map { i in
            Thread {
                defer { group.leave() }
                start.wait()  // all threads generate at once
                do {
                    let s = sessions.sessions[i]
                    results.set(i, try greedy(s, prompts[i]))
                    s.pause()
                } catch {
                    results.set(i, [])
                }
            }
        }
        for t in threads { group.enter(); t.start() }
        for _ in threads { start.signal() }
        group.wait()
        #expect(results.values == alone)
        let stats = shared.statistics
        // Every request ran in some step; concurrent requests shared steps (more sequences than steps).
        #expect(stats.sequences == prompts.reduce(0) { $0 + ($1.count + 15) / 16 + Self.generated })
        #expect(stats.sequences > stats.steps)
    }
}

/// Sessions handed to threads (each used by one thread only).
final class SessionBox: @unchecked Sendable {
    let sessions: [Session]
    init(_ sessions: [Session]) { self.sessions = sessions }
}

/// Results written from several threads.
final class ResultBox: @unchecked Sendable {
    private let lock = NSLock()
    private var storage: [[Int32]]
    init(count: Int) { storage = Array(repeating: [], count: count) }
    func set(_ i: Int, _ v: [Int32]) { lock.lock(); storage[i] = v; lock.unlock() }
    var values: [[Int32]] { lock.lock(); defer { lock.unlock() }; return storage }
}

/// A small deterministic generator for test data.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
