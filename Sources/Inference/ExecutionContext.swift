// The shared execution context: the thread pool and step scratch that any number of sessions share, and the
// scheduler that runs their evaluation requests together — one weight pass per step for every sequence that
// is waiting (continuous batching), each sequence's logits bit-identical to evaluating it alone.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Kernels
import Synchronization

/// The compute resources sessions share: one ``ThreadPool`` and one step scratch for up to ``maxRows`` rows
/// of up to ``maxSequences`` sequences, and the scheduler that batches their work.
///
/// **Batching.** A session's ``Session/prefill(_:)`` / ``Session/decode(_:)`` hands each chunk of tokens to its
/// context and waits. Whichever waiting caller finds the context idle runs the next *step*: it takes the
/// waiting chunks in arrival order (those of the first one's model, while rows and sequences fit) and
/// evaluates them together — one pass over the weights for all rows, attention per row against its own
/// sequence's KV cache — then wakes their callers. Sequences join and leave at step boundaries; a long prompt
/// is split into its session's batch-size chunks, so other sequences' decode steps interleave with it. Before
/// a step, the runner waits briefly (a fraction of the previous step's time, at most ``gatherLimit``) for
/// sequences of the previous step that have not asked again yet, so streams that decode together stay in one
/// step. Each row is computed with the kernel orders of its own sequence's chunk, so every sequence's logits
/// are bit-identical to running it alone with the same chunks (tested).
///
/// **Sharing.** Sessions created without an explicit context use ``shared(threads:)``: one context per
/// thread count for the whole process, so N sessions never start N pools or oversubscribe the cores. Pass
/// your own context (``SessionOptions/context``) to isolate a group of sessions.
///
/// - Memory: the pool's worker stacks plus the scratch of the largest reservation (``scratchBytes``), shared
///   by every session of the context; freed when the last session and reference go.
/// - Thread safety: every method is safe from any thread.
public final class ExecutionContext: @unchecked Sendable {
    /// Threads of the pool, including the thread that runs a step.
    public var threads: Int { pool.threadCount }
    /// Most rows one step evaluates (the sum of its sequences' chunks).
    public var maxRows: Int { withLock { pass.capacity.rows } }
    /// Most sequences one step evaluates.
    public var maxSequences: Int { withLock { pass.capacity.segments } }
    /// Bytes of step scratch this context holds.
    public var scratchBytes: Int { withLock { pass.capacity.bytes } }
    /// Steps run so far and rows evaluated in them (for tests and metrics: rows / steps is the mean batch).
    public var statistics: (steps: Int, rows: Int, sequences: Int) { withLock { (steps, stepRows, stepSequences) } }

    /// Default longest wait of a step runner for sequences of the previous step to ask again (2 ms).
    public static let defaultGatherLimit: UInt64 = 2_000_000
    /// Longest a step runner waits for sequences of the previous step to ask again, in nanoseconds (it waits a
    /// quarter of the previous step's time, at least 50 µs, at most this).
    public let gatherLimit: UInt64

    let pool: ThreadPool
    private let pass: ForwardPass
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    /// Requests waiting for a step, in arrival order (capacity reserved; appending allocates nothing).
    private var pending: [StepRequest] = []
    /// Whether a thread is running a step (or reserving scratch).
    private var busy = false
    /// Sequences that took part in the last step and have not asked again (the runner waits for them).
    private var expected: Set<ObjectIdentifier> = []
    private var lastStepNanoseconds: UInt64 = 0
    private var steps = 0, stepRows = 0, stepSequences = 0

    /// Creates a context with its own pool.
    /// - Parameters:
    ///   - threads: compute threads, including the caller's (1…256).
    ///   - rows: step rows to reserve up front (sessions reserve what they need when created).
    ///   - sequences: sequences per step to reserve up front.
    ///   - gatherLimit: see ``gatherLimit``.
    public init(threads: Int, rows: Int = 0, sequences: Int = 0, gatherLimit: UInt64 = ExecutionContext.defaultGatherLimit) {
        self.gatherLimit = gatherLimit
        pool = ThreadPool(threads: max(1, min(threads, 256)))
        pass = ForwardPass(pool: pool)
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(condition, nil)
        pending.reserveCapacity(64)
        expected.reserveCapacity(64)
        var capacity = ForwardPass.Capacity()
        capacity.rows = rows; capacity.segments = sequences
        if rows > 0 || sequences > 0 { pass.reserve(capacity) }
    }

    deinit {
        pthread_cond_destroy(condition); pthread_mutex_destroy(mutex)
        condition.deallocate(); mutex.deallocate()
    }

    private static let registry = Mutex<[Int: WeakContext]>([:])

    /// The process-wide context for `threads` threads (created on first use; kept while any session or
    /// caller holds it).
    public static func shared(threads: Int) -> ExecutionContext {
        registry.withLock { contexts in
            if let context = contexts[threads]?.context { return context }
            let context = ExecutionContext(threads: threads)
            contexts[threads] = WeakContext(context: context)
            return context
        }
    }

    private final class WeakContext: @unchecked Sendable {
        weak var context: ExecutionContext?
        init(context: ExecutionContext) { self.context = context }
    }

    @inline(__always)
    private func withLock<T>(_ body: () -> T) -> T {
        pthread_mutex_lock(mutex); defer { pthread_mutex_unlock(mutex) }
        return body()
    }

    /// Grows the scratch so that a session of `model` with `options` fits a step together with others
    /// (`rows` rows, `sequences` sequences per step at least). Waits for a running step.
    func reserve(_ capacity: ForwardPass.Capacity) {
        runExclusive { $0.reserve(capacity) }
    }

    /// Reserves room for `rows` rows and `sequences` sequences per step (e.g. an engine's chunk plus one
    /// decode row per concurrent sequence). Existing sessions' reservations stay. Not for the hot loop.
    public func reserve(model: Model, options: SessionOptions, rows: Int, sequences: Int) throws {
        let layout = try Session.Layout(model: model, options: options)
        reserve(ForwardPass.Capacity(layout: layout, rows: rows, segments: sequences))
    }

    /// Runs `body` on the step scratch with no step running (tests build exact batch compositions with it).
    func runExclusive(_ body: (ForwardPass) -> Void) {
        pthread_mutex_lock(mutex)
        while busy { pthread_cond_wait(condition, mutex) }
        busy = true
        pthread_mutex_unlock(mutex)
        body(pass)
        pthread_mutex_lock(mutex)
        if pass.rows > 0 { steps += 1; stepRows += pass.rows; stepSequences += pass.segmentCount; pass.finish() }
        busy = false
        pthread_cond_broadcast(condition)
        pthread_mutex_unlock(mutex)
    }

    /// Evaluates `request` in the next step it fits, running steps itself when the context is idle, and
    /// returns when its tokens are in its sequence's cache and its logits at its destination.
    func evaluate(_ request: StepRequest) {
        pthread_mutex_lock(mutex)
        request.done = false
        pending.append(request)
        let id = ObjectIdentifier(request.sequence)
        expected.remove(id)
        pthread_cond_broadcast(condition)
        while !request.done {
            if busy {
                pthread_cond_wait(condition, mutex)
                continue
            }
            busy = true
            gather()
            let taken = takeStep()
            let start = monotonicNanoseconds()
            pthread_mutex_unlock(mutex)
            pass.run()
            pthread_mutex_lock(mutex)
            let elapsed = monotonicNanoseconds() &- start
            lastStepNanoseconds = elapsed
            steps += 1; stepRows += pass.rows; stepSequences += taken
            pass.finish()
            expected.removeAll(keepingCapacity: true)
            for r in pending where r.inStep {
                r.done = true
                r.inStep = false
                expected.insert(ObjectIdentifier(r.sequence))
            }
            pending.removeAll { $0.done }  // in place; the others keep their arrival order
            // Sequences already waiting again are not expected.
            for r in pending { expected.remove(ObjectIdentifier(r.sequence)) }
            busy = false
            pthread_cond_broadcast(condition)
        }
        pthread_mutex_unlock(mutex)
    }

    /// Declares that `sequence` will not ask for a step soon (its generation ended): the next step does not
    /// wait for it.
    func leave(_ sequence: SequenceState) {
        pthread_mutex_lock(mutex)
        if expected.remove(ObjectIdentifier(sequence)) != nil { pthread_cond_broadcast(condition) }
        pthread_mutex_unlock(mutex)
    }

    /// With the lock held: waits until every sequence of the last step asked again, or a quarter of the last
    /// step's time (at most ``gatherLimit``) passed, or the step is full.
    private func gather() {
        guard !expected.isEmpty, !pending.isEmpty else { return }
        let limit = min(gatherLimit, max(50_000, lastStepNanoseconds / 4))
        let deadline = monotonicNanoseconds() &+ limit
        while !expected.isEmpty && pendingRows() < pass.capacity.rows {
            let now = monotonicNanoseconds()
            if now >= deadline { break }
            var ts = timespec()
            clock_gettime(CLOCK_REALTIME, &ts)
            let wake = UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec) + (deadline - now)
            ts.tv_sec = Int(wake / 1_000_000_000); ts.tv_nsec = Int(wake % 1_000_000_000)
            pthread_cond_timedwait(condition, mutex, &ts)
        }
    }

    private func pendingRows() -> Int { pending.reduce(0) { $0 + $1.ids.count } }

    /// With the lock held: marks the requests of the next step (`inStep`) and builds the step. Takes requests
    /// in arrival order that share the first one's model, while rows and sequences fit (a request that does
    /// not fit stays for the next step, ahead of later ones). Returns how many it took.
    private func takeStep() -> Int {
        let first = pending[0]
        pass.begin(model: first.model)
        pass.streamer = first.streamer
        first.inStep = true
        pass.add(first.sequence, first.ids, logits: first.logits, into: first.destination)
        // A session with a debug tap runs alone (the tap sees one sequence's tensors).
        if first.debugTap != nil {
            pass.debugTap = first.debugTap
            return 1
        }
        var taken = 1
        for r in pending.dropFirst() {
            guard pass.fits(1) else { break }
            if r.model === first.model && r.debugTap == nil && pass.fits(r.ids.count) {
                r.inStep = true
                pass.add(r.sequence, r.ids, logits: r.logits, into: r.destination)
                taken += 1
            }
        }
        return taken
    }
}

/// One sequence's request for a step: a chunk of its next tokens. Owned and reused by its ``Session``.
final class StepRequest {
    let model: Model
    let sequence: SequenceState
    var ids = UnsafeBufferPointer<Int32>(start: nil, count: 0)
    var logits = LogitsMode.none
    var destination: UnsafeMutablePointer<Float>
    var streamer: WeightStreamer?
    var debugTap: ((String, UnsafeBufferPointer<Float>) -> Void)?
    /// Whether the step being built or run includes it.
    var inStep = false
    var done = false

    init(model: Model, sequence: SequenceState, destination: UnsafeMutablePointer<Float>, streamer: WeightStreamer?) {
        self.model = model; self.sequence = sequence; self.destination = destination; self.streamer = streamer
    }
}

@inline(__always)
func monotonicNanoseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}
