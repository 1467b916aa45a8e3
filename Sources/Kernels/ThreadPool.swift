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
///
/// Protocol: `next` packs (job generation << 32 | next task index). Open generations are even. The dispatcher
/// first closes the previous job (an odd generation with no claimable index), then writes the job fields, then
/// publishes the next even generation with index 0. Every thread claims tasks with a compare-exchange that also
/// checks the generation, so a worker that wakes late can never claim a task of the old job after the fields
/// changed (its compare-exchange fails once the job is closed) nor of a job whose fields are still being written
/// (closed generations are never claimed). The fields and the closing store are sequentially consistent, so a
/// worker that reads new fields is guaranteed to see the close in its compare-exchange. The dispatcher returns when `done` reaches the task count — it never waits for workers
/// that did not take part (important on an oversubscribed CPU, where a worker may not run for milliseconds).
final class PoolShared: @unchecked Sendable {
    let workers: Int
    /// (generation << 32) | next unclaimed task index.
    let next = Atomic<Int>(0)
    /// Tasks of the current job that have finished.
    let done = Atomic<Int>(0)
    /// Workers parked (or about to park) on `condition`.
    let sleepers = Atomic<Int>(0)
    let busy = Atomic<Bool>(false)
    let stopping = Atomic<Bool>(false)
    /// The job: the address of its `(Int) -> Void` closure and its task count. Written (relaxed) before the
    /// generation is published; workers read them speculatively and only act after a successful claim.
    let jobBody = Atomic<Int>(0)
    let jobTasks = Atomic<Int>(0)
    let mutex: UnsafeMutablePointer<pthread_mutex_t>
    let condition: UnsafeMutablePointer<pthread_cond_t>
    /// Generation of the last published job (dispatcher only).
    private var generation = 0
    /// How long an idle worker spins before parking.
    static let spinNanoseconds: UInt64 = 200_000

    init(workers: Int) {
        self.workers = workers
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
    }

    func tryAcquire() -> Bool {
        busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged
    }

    func release() { busy.store(false, ordering: .releasing) }

    /// Publishes a job, works on it from the calling thread and waits until every task has finished.
    func run(_ body: UnsafeRawPointer, tasks: Int) {
        next.store(((generation + 1) & 0x7FFF_FFFF) << 32 | 0xFFFF_FFFF, ordering: .sequentiallyConsistent)
        generation = (generation + 2) & 0x7FFF_FFFE
        jobBody.store(Int(bitPattern: body), ordering: .sequentiallyConsistent)
        jobTasks.store(tasks, ordering: .sequentiallyConsistent)
        done.store(0, ordering: .sequentiallyConsistent)
        next.store(generation << 32, ordering: .sequentiallyConsistent)
        wakeSleepers()
        work(generation)
        // Spin briefly, then yield: on an oversubscribed CPU a worker holding a task may need this core.
        var spins = 0
        while done.load(ordering: .acquiring) != tasks {
            spins += 1
            if spins > 4096 { sched_yield() }
        }
    }

    func shutdown() {
        stopping.store(true, ordering: .sequentiallyConsistent)
        next.store(((generation + 2) & 0x7FFF_FFFE) << 32, ordering: .sequentiallyConsistent)
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

    /// Claims and runs tasks of job `generation` until none are left (or a newer job replaced it).
    private func work(_ generation: Int) {
        var current = next.load(ordering: .sequentiallyConsistent)
        guard current >> 32 == generation, generation & 1 == 0 else { return }
        let tasks = jobTasks.load(ordering: .sequentiallyConsistent)
        let address = jobBody.load(ordering: .sequentiallyConsistent)
        while true {
            let index = current & 0xFFFF_FFFF
            if current >> 32 != generation || index >= tasks { return }
            let (exchanged, original) = next.compareExchange(
                expected: current, desired: current + 1, ordering: .acquiringAndReleasing)
            if exchanged {
                // The claim succeeded, so this job is still running and `address` is its closure.
                Self.invoke(address, index)
                done.add(1, ordering: .releasing)
                current += 1
            } else {
                current = original
            }
        }
    }

    /// Calls the job closure at `address`. Out of line so any copy of the closure is released before the
    /// task is counted as done (the dispatcher's `withoutActuallyEscaping` traps if a copy outlives it).
    @inline(never)
    private static func invoke(_ address: Int, _ index: Int) {
        UnsafeRawPointer(bitPattern: address)!.assumingMemoryBound(to: ((Int) -> Void).self).pointee(index)
    }

    func workerLoop() {
        var seen = 0
        while true {
            var current = openGeneration(seen)
            if current == seen {
                var start = timespec()
                clock_gettime(CLOCK_MONOTONIC, &start)
                var spins = 0
                while current == seen {
                    spins += 1
                    if spins & 1023 == 0 {
                        if elapsedNanoseconds(since: start) > Self.spinNanoseconds { break }
                        sched_yield()  // polite on a shared machine; ~0.3 µs when nothing else is runnable
                    }
                    current = openGeneration(seen)
                }
                if current == seen {
                    pthread_mutex_lock(mutex)
                    sleepers.add(1, ordering: .sequentiallyConsistent)
                    current = openGeneration(seen)
                    while current == seen {
                        pthread_cond_wait(condition, mutex)
                        current = openGeneration(seen)
                    }
                    sleepers.subtract(1, ordering: .sequentiallyConsistent)
                    pthread_mutex_unlock(mutex)
                }
            }
            seen = current
            if stopping.load(ordering: .acquiring) { return }
            work(current)
        }
    }

    /// The published generation, or `seen` while a job is being set up (odd, closed generations).
    private func openGeneration(_ seen: Int) -> Int {
        let g = next.load(ordering: .sequentiallyConsistent) >> 32
        return g & 1 == 0 ? g : seen
    }

    private func elapsedNanoseconds(since start: timespec) -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let seconds = Int64(now.tv_sec) - Int64(start.tv_sec)
        let nanos = Int64(now.tv_nsec) - Int64(start.tv_nsec)
        return UInt64(max(0, seconds * 1_000_000_000 + nanos))
    }
}
