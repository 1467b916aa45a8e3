import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Testing

@testable import Kernels

@Suite("Thread pool")
struct ThreadPoolTests {
    @Test("Every index runs exactly once, over many rounds", arguments: [1, 2, 3, 4])
    func everyIndexOnce(threads: Int) {
        let pool = ThreadPool(threads: threads)
        #expect(pool.threadCount == threads)
        let counts = UnsafeMutablePointer<Int>.allocate(capacity: 257)
        defer { counts.deallocate() }
        for round in 0..<3000 {  // growing task counts between rounds once let a late worker claim a task of an unpublished job
            let tasks = [0, 1, 2, 3, 5, 64, 257][round % 7]
            counts.initialize(repeating: 0, count: 257)
            pool.parallelFor(tasks) { i in counts[i] += 1 }  // each index is touched by one task only
            for i in 0..<257 { if counts[i] != (i < tasks ? 1 : 0) { Issue.record("round \(round) index \(i): \(counts[i])") } }
        }
    }

    @Test("Work is spread over more than one thread")
    func usesWorkers() {
        let pool = ThreadPool(threads: 2)
        let seen = Atomic<Int>(0)
        let caller = pthread_self()
        // Keep tasks busy long enough that the worker is certain to take some.
        for _ in 0..<20 where seen.load(ordering: .relaxed) == 0 {
            pool.parallelFor(8) { _ in
                var x = 0.0
                for k in 0..<200_000 { x += Double(k) }
                if pthread_equal(pthread_self(), caller) == 0 && x > 0 { seen.add(1, ordering: .relaxed) }
            }
        }
        #expect(seen.load(ordering: .relaxed) > 0)
    }

    @Test("Nested parallelFor runs serially and completes")
    func nested() {
        let pool = ThreadPool(threads: 2)
        let total = Atomic<Int>(0)
        pool.parallelFor(4) { _ in
            pool.parallelFor(8) { _ in total.add(1, ordering: .relaxed) }
        }
        #expect(total.load(ordering: .relaxed) == 32)
    }

    @Test("Workers park after idling and wake for the next job")
    func parksAndWakes() {
        let pool = ThreadPool(threads: 2)
        let total = Atomic<Int>(0)
        pool.parallelFor(16) { _ in total.add(1, ordering: .relaxed) }
        usleep(5_000)  // well past the spin budget: the worker is parked
        pool.parallelFor(16) { _ in total.add(1, ordering: .relaxed) }
        #expect(total.load(ordering: .relaxed) == 32)
    }

    @Test("Pools are created and destroyed cleanly")
    func lifecycle() {
        for threads in 1...4 {
            let pool = ThreadPool(threads: threads)
            let total = Atomic<Int>(0)
            pool.parallelFor(10) { i in total.add(i, ordering: .relaxed) }
            #expect(total.load(ordering: .relaxed) == 45)
        }
        #expect(ThreadPool(threads: 0).threadCount == 1)
    }
}
