import EdgeLM
import EdgeLMCommandSupport
import EdgeLMEssentials

/// `edgelm bench --sequences N`: N sequences of the same prompt length and generation length evaluated
/// together on one execution context (their steps batched), as a server or a batch job would run them.
extension BenchCommand {
    /// Per-sequence measurements of one run.
    struct SequenceRun {
        var ttftMs: [Double] = []
        var decodeTokS: [Double] = []
        var aggregateDecodeTokS = 0.0
        /// Process CPU time (all threads) of the decode phase per generated token, over all sequences.
        var aggregateDecodeCPUms = 0.0
        /// Mean sequences per step over all runs (how well the steps were shared; 1 for one sequence).
        var sequencesPerStep = 1.0
    }

    /// Runs `sequences` sequences together `repetitions` times (after a warm-up): all prefill at once (each
    /// its own prompt, chunked; TTFT counts from the common start, so it includes waiting for the others'
    /// chunks), then all decode `genTokens − 1` tokens at once. Aggregate decode = all generated tokens / wall
    /// time of the decode phase.
    func measureSequences(model: Model, options: SessionOptions, prompt: [Int32], genTokens: Int,
                          sequences: Int) throws -> SequenceRun {
        var o = options
        let context = ExecutionContext(threads: options.threads)
        try context.reserve(model: model, options: o, rows: o.batchSize + sequences, sequences: sequences)
        o.context = context
        let sessions = SessionList(try (0..<sequences).map { _ in try Session(model: model, options: o) })
        // Distinct prompts (a rotation of the text per sequence), so sequences are not copies of each other.
        let prompts = (0..<sequences).map { i -> [Int32] in
            let shift = (i * 7) % max(1, prompt.count - 1)
            return Array(prompt[shift...] + prompt[..<shift])
        }
        let vocab = model.config.vocabularySize
        var total = SequenceRun()
        for run in 0...repetitions {
            let marks = MarkBoard(sequences)
            let decodeGate = DispatchSemaphore(value: 0)
            var threads: [JoinableThread] = []
            for i in 0..<sequences {
                threads.append(JoinableThread(stackSize: 1 << 20) {
                    let s = sessions.items[i]
                    s.reset()
                    do {
                        let sampler = try Sampler(parameters: .greedy, vocabularySize: vocab)
                        let start = marks.start
                        var logits = try s.prefill(prompts[i])
                        var next = sampler.sample(logits)
                        marks.set(i, ttft: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
                        s.pause()
                        decodeGate.wait()
                        let a = DispatchTime.now().uptimeNanoseconds
                        for _ in 1..<genTokens {
                            logits = try s.decode(next)
                            next = sampler.sample(logits)
                        }
                        s.pause()
                        let b = DispatchTime.now().uptimeNanoseconds
                        marks.set(i, decodeNanoseconds: b - a, end: b)
                    } catch {
                        marks.fail(error)
                    }
                })
            }
            // Release the decode phase once every sequence has its first token.
            marks.waitForPrefill()
            let decodeStart = DispatchTime.now().uptimeNanoseconds, cpuStart = Self.processCPUms()
            for _ in 0..<sequences { decodeGate.signal() }
            for t in threads { t.join() }
            let cpuEnd = Self.processCPUms()
            if let error = marks.error { throw error }
            if run == 0 { continue }  // warm-up
            total.ttftMs += marks.ttft
            if genTokens > 1 {
                total.decodeTokS += marks.decodeNanoseconds.map { Double(genTokens - 1) / (Double($0) / 1e9) }
                let wall = Double((marks.ends.max() ?? decodeStart) - decodeStart) / 1e9
                total.aggregateDecodeTokS += Double(sequences * (genTokens - 1)) / wall / Double(repetitions)
                total.aggregateDecodeCPUms += (cpuEnd - cpuStart) / Double(sequences * (genTokens - 1)) / Double(repetitions)
            }
        }
        let stats = context.statistics
        total.sequencesPerStep = stats.steps > 0 ? Double(stats.sequences) / Double(stats.steps) : 1
        return total
    }

    static func percentile(_ v: [Double], _ p: Double) -> Double {
        guard !v.isEmpty else { return 0 }
        let s = v.sorted()
        let rank = Int((p / 100 * Double(s.count)).rounded(.up)) - 1
        return s[min(max(rank, 0), s.count - 1)]
    }
}

/// Sessions handed to the bench threads (each used by one thread).
final class SessionList: @unchecked Sendable {
    let items: [Session]
    init(_ items: [Session]) { self.items = items }
}

/// Timestamps the bench threads report.
final class MarkBoard: @unchecked Sendable {
    private let lock = Lock()
    /// Signalled once per sequence that has its first token (and `count` times on a failure).
    private let prefilled = DispatchSemaphore(value: 0)
    let start = DispatchTime.now().uptimeNanoseconds
    private(set) var ttft: [Double]
    private(set) var decodeNanoseconds: [UInt64]
    private(set) var ends: [UInt64]
    private(set) var error: (any Error)?
    private let count: Int

    init(_ n: Int) {
        count = n
        ttft = Array(repeating: 0, count: n); decodeNanoseconds = Array(repeating: 0, count: n); ends = Array(repeating: 0, count: n)
    }
    func set(_ i: Int, ttft t: Double) { lock.withLock { ttft[i] = t }; prefilled.signal() }
    func set(_ i: Int, decodeNanoseconds d: UInt64, end: UInt64) { lock.lock(); decodeNanoseconds[i] = d; ends[i] = end; lock.unlock() }
    func fail(_ e: any Error) { lock.withLock { error = e }; for _ in 0..<count { prefilled.signal() } }
    func waitForPrefill() { for _ in 0..<count { prefilled.wait() } }
}
