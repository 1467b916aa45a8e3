// The async API for apps: one engine per model, shared by any number of callers, whose concurrent requests
// run as sequences batched into the same steps (ExecutionContext), with admission against a memory budget.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// How an ``Engine`` runs.
public struct EngineOptions: Sendable {
    /// The shape of every sequence: context length, prefill chunk (``SessionOptions/batchSize``), threads, KV
    /// type and policy, residency. Its ``SessionOptions/memoryBudget`` is the cap for the whole engine.
    public var session: SessionOptions
    /// Sequences evaluated concurrently (each holds a KV cache of `session.contextLength` tokens). With a
    /// memory budget, the engine refuses to start when fewer than this many fit (see ``maxSequencesFitting``).
    public var maxSequences: Int
    /// Requests that may wait for a free sequence; beyond it a call throws ``EngineError/queueFull(limit:)``.
    public var maxQueue: Int

    public init(session: SessionOptions = SessionOptions(), maxSequences: Int = 4, maxQueue: Int = 256) {
        self.session = session; self.maxSequences = maxSequences; self.maxQueue = maxQueue
    }
}

/// Why an ``Engine`` refused a request.
public enum EngineError: Error, Equatable, CustomStringConvertible {
    /// `limit` requests are already waiting.
    case queueFull(limit: Int)
    /// The engine is shutting down.
    case shutDown

    public var description: String {
        switch self {
        case .queueFull(let n): return "\(n) requests are already waiting for this model; retry later (or raise maxQueue / --max-queue)"
        case .shutDown: return "the engine is shutting down and takes no new requests"
        }
    }
}

/// What a streamed generation produces.
public enum GenerationEvent: Sendable {
    /// Text as it is produced (never half a UTF-8 character, never part of a stop string).
    case text(String)
    /// The generation ended: the whole result, with timings.
    case done(GenerationResult)
}

/// A model served to many concurrent callers: generation as an `AsyncThrowingStream`, and any session work
/// (``run(_:)``, the task API of the `Tasks` module) on one of ``maxSequences`` *lanes*.
///
/// Each lane owns one ``Session`` (its KV cache) and a thread that runs one request at a time on it; all
/// lanes share one ``ExecutionContext``, so the prefill chunks and decode tokens of concurrent requests are
/// evaluated together, one pass over the weights per step, and every request gets exactly the tokens it
/// would get alone. A request waits (in arrival order) until a lane is free — with a memory budget, lanes are
/// only as many as their KV caches fit next to the weights and scratch, so admission is the budget check.
/// Swift `Task` cancellation (or dropping the stream) stops a request within one step, waiting or running;
/// its lane's KV pages go back to the OS at once and the next request takes the lane.
///
/// - Memory: ``memoryRequirement(model:options:)``: the weights once, the step scratch once, a KV cache per
///   lane.
/// - Thread safety: `Sendable`; call from any task or thread.
public final class Engine: Sendable {
    public let model: Model
    public let options: EngineOptions
    /// The pool and step scratch every lane runs on.
    public let context: ExecutionContext
    private let state: Mutex<State>
    private let lanes: [Lane]

    /// Counters of the engine's work (for metrics; no request content).
    public struct Statistics: Sendable, Equatable {
        /// Requests running on a lane / waiting for one.
        public var running = 0, queued = 0
        /// Requests admitted, finished, cancelled, refused because the queue was full.
        public var admitted = 0, finished = 0, cancelled = 0, refusedQueueFull = 0
        /// Bytes of KV cache the lanes hold resident now.
        public var kvResidentBytes = 0
    }

    private struct State {
        var queue: [Job] = []
        var idle: [Int] = []
        var stats = Statistics()
        var stopping = false
    }

    /// Bytes an engine with `options` keeps resident at most: weights, tokenizer, runtime, the step scratch
    /// for a prefill chunk plus one decode row per lane, and one KV cache per lane.
    /// - Throws: ``InferenceError/invalidParameter(_:)`` for bad options.
    public static func memoryRequirement(model: Model, options: EngineOptions) throws -> MemoryBreakdown {
        var one = try Session.memoryRequirement(model: model, options: options.session)
        let layout = try Session.Layout(model: model, options: options.session)
        let n = max(1, options.maxSequences)
        one.kvCache *= n
        one.scratch = ForwardPass.Capacity(layout: layout, rows: layout.batch + n, segments: n).bytes
            + n * (layout.logits + layout.ropeTmp) * MemoryLayout<Float>.stride
        return one
    }

    /// The most lanes whose KV caches fit `budget` with `options` (0 when not even one does).
    public static func maxSequencesFitting(model: Model, options: EngineOptions, budget: MemoryBudget) -> Int {
        var o = options
        var best = 0
        var n = 1
        while n <= 1024 {
            o.maxSequences = n
            guard let need = try? memoryRequirement(model: model, options: o).total, need <= budget.cap else { break }
            best = n
            n += 1
        }
        return best
    }

    /// Starts the lanes (their sessions and threads).
    /// - Throws: ``InferenceError/invalidParameter(_:)`` for bad options; ``MemoryBudgetError/exceeds(needed:cap:suggestion:)``
    ///   when `options.session.memoryBudget` cannot hold `maxSequences` lanes (the suggestion names how many fit).
    public init(model: Model, options: EngineOptions = EngineOptions()) throws {
        guard options.maxSequences >= 1, options.maxSequences <= 1024 else {
            throw InferenceError.invalidParameter("max sequences must be in 1…1024, got \(options.maxSequences)")
        }
        guard options.maxQueue >= 0 else { throw InferenceError.invalidParameter("max queue must be ≥ 0") }
        if let budget = options.session.memoryBudget {
            let need = try Self.memoryRequirement(model: model, options: options).total
            if need > budget.cap {
                let fit = Self.maxSequencesFitting(model: model, options: options, budget: budget)
                var one = options.session; one.memoryBudget = budget
                let suggestion: MemoryBudgetSuggestion = fit >= 1
                    ? .fewerSequences(maxSequences: fit)
                    : budget.suggestion(model: model, options: one)
                throw MemoryBudgetError.exceeds(needed: need, cap: budget.cap, suggestion: suggestion)
            }
        }
        self.model = model
        self.options = options
        let context = options.session.context ?? ExecutionContext(threads: options.session.threads)
        self.context = context
        var laneOptions = options.session
        laneOptions.context = context
        laneOptions.memoryBudget = nil  // checked above for all lanes together
        let n = options.maxSequences
        try context.reserve(model: model, options: laneOptions, rows: min(laneOptions.batchSize, laneOptions.contextLength ?? .max) + n,
                            sequences: n)
        lanes = try (0..<n).map { i in Lane(index: i, session: try Session(model: model, options: laneOptions)) }
        state = Mutex(State(idle: Array((0..<n).reversed())))
        for lane in lanes { lane.start(engine: self) }
    }

    deinit {
        state.withLock { $0.stopping = true }
        for lane in lanes { lane.stop() }
    }

    /// Lanes (concurrent sequences).
    public var maxSequences: Int { lanes.count }

    /// Counters now.
    public var statistics: Statistics {
        var s = state.withLock { $0.stats }
        s.kvResidentBytes = lanes.reduce(0) { $0 + $1.session.kvResidentBytes }
        return s
    }

    // MARK: - Running work on a lane

    /// Runs `body` with a lane's session on the lane's thread, once a lane is free; returns its result. The
    /// session holds what the lane's previous call left (a prompt prefix worth reusing, as the task runner
    /// does; call ``Session/reset()`` for a fresh conversation) unless that call was cancelled. The session's ``Session/shouldStop`` reports cancellation of the calling task; `body` may keep
    /// per-lane objects in ``LaneContext/storage`` for later calls (e.g. a task runner and its caches).
    /// - Throws: ``EngineError/queueFull(limit:)`` when `maxQueue` requests already wait; `CancellationError`
    ///   when the task is cancelled while waiting; whatever `body` throws (``InferenceError/cancelled`` when it
    ///   was stopped).
    public func run<T: Sendable>(_ body: @escaping @Sendable (LaneContext) throws -> T) async throws -> T {
        let job = Job()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
                job.work = { lane in
                    do { continuation.resume(returning: try body(lane)) } catch { continuation.resume(throwing: error) }
                }
                job.abandon = { error in continuation.resume(throwing: error) }
                submit(job)
            }
        } onCancel: {
            cancel(job)
        }
    }

    /// Generates text for `request`, streamed. Dropping or cancelling the stream's consumer stops the request
    /// within one step (waiting or running) and frees its lane.
    /// - Throws (from the stream): ``EngineError``, ``InferenceError`` (prompt too long, bad parameters).
    public func generate(_ request: GenerationRequest) -> AsyncThrowingStream<GenerationEvent, any Error> {
        makeGeneration(request).stream
    }

    /// ``generate(_:)`` that refuses at once: throws ``EngineError/queueFull(limit:)`` or
    /// ``EngineError/shutDown`` instead of putting the refusal into the stream, so a server can answer 429/503
    /// before it commits to a streamed 200.
    public func startGeneration(_ request: GenerationRequest) throws -> AsyncThrowingStream<GenerationEvent, any Error> {
        let (stream, refusal) = makeGeneration(request)
        if let refusal { throw refusal }
        return stream
    }

    private func makeGeneration(_ request: GenerationRequest) -> (stream: AsyncThrowingStream<GenerationEvent, any Error>, refusal: (any Error)?) {
        let (stream, continuation) = AsyncThrowingStream<GenerationEvent, any Error>.makeStream()
        let job = Job()
        job.work = { lane in
            do {
                lane.session.reset()
                let result = try lane.session.generate(request) { text in
                    continuation.yield(.text(text))
                    return !lane.isCancelled
                }
                if lane.isCancelled { continuation.finish(throwing: CancellationError()) } else {
                    continuation.yield(.done(result))
                    continuation.finish()
                }
            } catch {
                continuation.finish(throwing: error)
            }
        }
        job.abandon = { error in continuation.finish(throwing: error) }
        continuation.onTermination = { [weak self] termination in
            if case .cancelled = termination { self?.cancel(job) }
        }
        let refusal = submit(job)
        return (stream, refusal)
    }

    /// Generates text for `request` and returns the whole result (``generate(_:)`` without the stream).
    public func complete(_ request: GenerationRequest) async throws -> GenerationResult {
        var result: GenerationResult?
        // Read to the end: leaving the stream early would count as cancelling it.
        for try await event in generate(request) {
            if case .done(let r) = event { result = r }
        }
        guard let result else { throw CancellationError() }
        return result
    }

    // MARK: - Scheduling

    /// Queues `job` or hands it to an idle lane; returns the refusal (already given to the job) if neither.
    @discardableResult
    private func submit(_ job: Job) -> (any Error)? {
        let refusal: (any Error)? = state.withLock { s in
            if s.stopping { return EngineError.shutDown }
            if let lane = s.idle.popLast() {
                s.stats.running += 1; s.stats.admitted += 1
                lanes[lane].assign(job)
                return nil
            }
            guard s.queue.count < options.maxQueue else {
                s.stats.refusedQueueFull += 1
                return EngineError.queueFull(limit: options.maxQueue)
            }
            s.queue.append(job)
            s.stats.queued = s.queue.count
            return nil
        }
        if let refusal { job.finish(abandoning: refusal) }
        return refusal
    }

    private func cancel(_ job: Job) {
        job.cancelled.store(true, ordering: .releasing)
        let removed: Bool = state.withLock { s in
            guard let i = s.queue.firstIndex(where: { $0 === job }) else { return false }
            s.queue.remove(at: i)
            s.stats.queued = s.queue.count
            s.stats.cancelled += 1
            return true
        }
        if removed { job.finish(abandoning: CancellationError()) }
    }

    /// A lane finished a job: count it, and give the lane the next waiting one (or mark it idle).
    fileprivate func laneFinished(_ lane: Lane, cancelled: Bool) {
        state.withLock { s in
            s.stats.finished += 1
            if cancelled { s.stats.cancelled += 1 }
            if !s.stopping, !s.queue.isEmpty {
                let job = s.queue.removeFirst()
                s.stats.queued = s.queue.count
                s.stats.admitted += 1
                lane.assign(job)
            } else {
                s.stats.running -= 1
                s.idle.append(lane.index)
            }
        }
    }

    /// One request waiting for or running on a lane.
    fileprivate final class Job: @unchecked Sendable {
        var work: ((LaneContext) -> Void)?
        var abandon: ((any Error) -> Void)?
        let cancelled = Atomic<Bool>(false)
        private let finished = Atomic<Bool>(false)

        /// Resumes the caller with `error` unless it was resumed already.
        func finish(abandoning error: any Error) {
            guard !finished.exchange(true, ordering: .acquiringAndReleasing) else { return }
            abandon?(error)
            work = nil; abandon = nil
        }

        func runOnce(_ lane: LaneContext) {
            guard !finished.exchange(true, ordering: .acquiringAndReleasing) else { return }
            work?(lane)
            work = nil; abandon = nil
        }
    }

    /// A session and the thread that runs jobs on it.
    fileprivate final class Lane: @unchecked Sendable {
        let index: Int
        let session: Session
        let storage = LaneStorage()
        private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
        private var job: Job?
        private var stopping = false
        private var thread: pthread_t?
        private weak var engine: Engine?

        init(index: Int, session: Session) {
            self.index = index; self.session = session
            pthread_mutex_init(mutex, nil); pthread_cond_init(condition, nil)
        }

        func start(engine: Engine) {
            self.engine = engine
            let box = Unmanaged.passRetained(self).toOpaque()
            var t = pthread_t()
            let rc = pthread_create(&t, nil, { raw in
                let lane = Unmanaged<Lane>.fromOpaque(raw!).takeRetainedValue()
                lane.loop()
                return nil
            }, box)
            precondition(rc == 0, "Engine: pthread_create failed (\(rc))")
            thread = t
        }

        func stop() {
            pthread_mutex_lock(mutex); stopping = true; pthread_cond_signal(condition); pthread_mutex_unlock(mutex)
            if let thread { pthread_join(thread, nil) }
        }

        func assign(_ job: Job) {
            pthread_mutex_lock(mutex); self.job = job; pthread_cond_signal(condition); pthread_mutex_unlock(mutex)
        }

        private func loop() {
            while true {
                pthread_mutex_lock(mutex)
                while job == nil && !stopping { pthread_cond_wait(condition, mutex) }
                let next = job
                job = nil
                let stop = stopping
                pthread_mutex_unlock(mutex)
                if let next {
                    let context = LaneContext(session: session, storage: storage, job: next)
                    session.shouldStop = { next.cancelled.load(ordering: .acquiring) }
                    next.runOnce(context)
                    session.shouldStop = nil
                    session.pause()
                    let cancelled = next.cancelled.load(ordering: .acquiring)
                    if cancelled {
                        // A cancelled request's KV pages go back to the OS now (the reservation stays with the lane).
                        session.reset()
                        session.releaseUnusedMemory()
                    }
                    if let engine { engine.laneFinished(self, cancelled: cancelled) } else { next.finish(abandoning: EngineError.shutDown) }
                    continue
                }
                if stop { return }
            }
        }

        deinit {
            pthread_cond_destroy(condition); pthread_mutex_destroy(mutex)
            condition.deallocate(); mutex.deallocate()
        }
    }
}

/// What ``Engine/run(_:)`` gives its body: the lane's session and per-lane storage.
public struct LaneContext: @unchecked Sendable {
    /// The lane's session: empty at the start of the call, shared with the engine's other lanes' steps.
    public let session: Session
    /// Objects kept on this lane across calls (e.g. a task runner built on ``session``).
    public let storage: LaneStorage
    fileprivate let job: Engine.Job
    fileprivate init(session: Session, storage: LaneStorage, job: Engine.Job) {
        self.session = session; self.storage = storage; self.job = job
    }

    /// Whether the caller cancelled the request (the session stops by itself; long loops in the body should
    /// check this too).
    public var isCancelled: Bool { job.cancelled.load(ordering: .acquiring) }
}

/// Per-lane objects, by key (used by one lane's thread at a time).
public final class LaneStorage: @unchecked Sendable {
    private var values: [String: AnyObject] = [:]
    /// The object stored under `key`, made by `make` on first use.
    public func value<T: AnyObject>(_ key: String, _ make: () throws -> T) rethrows -> T {
        if let v = values[key] as? T { return v }
        let v = try make()
        values[key] = v
        return v
    }
}
