import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A fixed set of persistent worker threads for data-parallel kernels.
///
/// `threads` counts the calling thread: `ThreadPool(threads: 2)` starts one worker, and `parallelFor` runs
/// tasks on the caller and that worker. Idle workers spin on an atomic for about 200 µs after each job (a
/// dispatch then costs ~1 µs), then park on a condition variable until the next job (waking a parked
/// worker costs tens of µs). GCD is deliberately not used: `concurrentPerform` serialises 2-way work here.
///
/// `parallelFor` is safe to call from several threads and from inside a running task: a call made while the
/// pool is busy runs its tasks serially on the calling thread (correct, just not parallel).
/// `deinit` stops and joins the workers.
public final class ThreadPool: @unchecked Sendable {
    /// Threads that run tasks, including the caller of `parallelFor`.
    public let threadCount: Int
    private let shared: PoolShared
    private var workers: [pthread_t] = []

    /// - Parameter threads: total threads including the caller; values below 1 are treated as 1.
    /// - Complexity: starts `threads - 1` pthreads (each with the default stack).
    public init(threads: Int) {
        threadCount = max(1, threads)
        shared = PoolShared(workers: threadCount - 1)
        for _ in 0..<(threadCount - 1) {
            let context = Unmanaged.passRetained(shared).toOpaque()
            #if canImport(Darwin)
            var thread: pthread_t?
            #else
            var thread = pthread_t()
            #endif
            let rc = pthread_create(&thread, nil, { argument in
                let raw: UnsafeMutableRawPointer? = argument
                let pool = Unmanaged<PoolShared>.fromOpaque(raw!).takeRetainedValue()
                pool.workerLoop()
                return nil
            }, context)
            precondition(rc == 0, "ThreadPool: pthread_create failed (\(rc))")
            #if canImport(Darwin)
            workers.append(thread!)
            #else
            workers.append(thread)
            #endif
        }
    }

    deinit {
        shared.shutdown()
        for thread in workers { pthread_join(thread, nil) }
    }

    /// Runs `body(i)` for every `i` in `0..<tasks` exactly once, spread over the pool's threads (tasks are
    /// handed out one at a time from an atomic counter), and returns when all have finished.
    ///
    /// `body` must be safe to run concurrently for different indices. No heap allocation per call.
    /// - Complexity: O(tasks) calls of `body`, plus ~1 µs dispatch when workers are spinning.
    public func parallelFor(_ tasks: Int, _ body: (Int) -> Void) {
        if tasks <= 0 { return }
        if tasks == 1 || threadCount == 1 || !shared.tryAcquire() {
            for i in 0..<tasks { body(i) }
            return
        }
        withoutActuallyEscaping(body) { escapable in
            withUnsafePointer(to: escapable) { pointer in
                shared.run(UnsafeRawPointer(pointer), tasks: tasks)
            }
        }
        shared.release()
    }
}

/// The state shared by the pool and its workers (workers retain this, not the `ThreadPool`, so the pool's
/// deinit can run and stop them).
final class PoolShared: @unchecked Sendable {
    /// One job: a pointer to the `(Int) -> Void` closure and the task count.
    struct Job {
        var body: UnsafeRawPointer?
        var tasks: Int
    }

    let workers: Int
    /// Bumped once per job (and once at shutdown); workers wait for it to change.
    let generation = Atomic<Int>(0)
    /// Next task index to hand out.
    let next = Atomic<Int>(0)
    /// Workers that have not yet finished the current job.
    let pending = Atomic<Int>(0)
    /// Workers parked (or about to park) on `condition`.
    let sleepers = Atomic<Int>(0)
    let busy = Atomic<Bool>(false)
    let stopping = Atomic<Bool>(false)
    /// Written by the dispatching thread before `generation` is bumped (release), read after (acquire).
    let job: UnsafeMutablePointer<Job>
    let mutex: UnsafeMutablePointer<pthread_mutex_t>
    let condition: UnsafeMutablePointer<pthread_cond_t>
    /// How long an idle worker spins before parking.
    static let spinNanoseconds: UInt64 = 200_000

    init(workers: Int) {
        self.workers = workers
        job = .allocate(capacity: 1)
        job.initialize(to: Job(body: nil, tasks: 0))
        mutex = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        condition = .allocate(capacity: 1)
        pthread_cond_init(condition, nil)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
        job.deallocate()
    }

    func tryAcquire() -> Bool {
        busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged
    }

    func release() { busy.store(false, ordering: .releasing) }

    /// Publishes a job, works on it from the calling thread and waits for every worker to check out.
    func run(_ body: UnsafeRawPointer, tasks: Int) {
        job.pointee = Job(body: body, tasks: tasks)
        next.store(0, ordering: .relaxed)
        pending.store(workers, ordering: .relaxed)
        generation.add(1, ordering: .sequentiallyConsistent)
        wakeSleepers()
        work()
        while pending.load(ordering: .acquiring) != 0 {}
    }

    func shutdown() {
        stopping.store(true, ordering: .releasing)
        generation.add(1, ordering: .sequentiallyConsistent)
        pthread_mutex_lock(mutex)
        pthread_cond_broadcast(condition)
        pthread_mutex_unlock(mutex)
    }

    private func wakeSleepers() {
        if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
            pthread_mutex_lock(mutex)
            pthread_cond_broadcast(condition)
            pthread_mutex_unlock(mutex)
        }
    }

    /// Takes task indices until none are left. Kept out of line so the copied closure is released before
    /// the worker reports completion (`withoutActuallyEscaping` checks nothing kept it).
    @inline(never)
    private func work() {
        let tasks = job.pointee.tasks
        let body = job.pointee.body!.assumingMemoryBound(to: ((Int) -> Void).self)
        while true {
            let i = next.add(1, ordering: .relaxed).oldValue
            if i >= tasks { break }
            body.pointee(i)
        }
    }

    func workerLoop() {
        var seen = 0
        while true {
            var current = generation.load(ordering: .acquiring)
            if current == seen {
                var start = timespec()
                clock_gettime(CLOCK_MONOTONIC, &start)
                var spins = 0
                while current == seen {
                    spins += 1
                    if spins & 1023 == 0 && elapsedNanoseconds(since: start) > Self.spinNanoseconds { break }
                    current = generation.load(ordering: .acquiring)
                }
                if current == seen {
                    pthread_mutex_lock(mutex)
                    sleepers.add(1, ordering: .sequentiallyConsistent)
                    current = generation.load(ordering: .sequentiallyConsistent)
                    while current == seen {
                        pthread_cond_wait(condition, mutex)
                        current = generation.load(ordering: .sequentiallyConsistent)
                    }
                    sleepers.subtract(1, ordering: .sequentiallyConsistent)
                    pthread_mutex_unlock(mutex)
                }
            }
            seen = current
            if stopping.load(ordering: .acquiring) { return }
            work()
            pending.subtract(1, ordering: .releasing)
        }
    }

    private func elapsedNanoseconds(since start: timespec) -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let seconds = Int64(now.tv_sec) - Int64(start.tv_sec)
        let nanos = Int64(now.tv_nsec) - Int64(start.tv_nsec)
        return UInt64(max(0, seconds * 1_000_000_000 + nanos))
    }
}
