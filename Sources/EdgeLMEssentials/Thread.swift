// Threads with a chosen stack size, joined by their creator (Foundation's Thread without Foundation).

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A POSIX thread running one closure; ``join()`` waits for it. The CLI's batch and bench workers use it
/// (each drives its own sequence synchronously, so they are threads, not tasks). Cost: one
/// `pthread_create`; the stack is reserved, not committed.
package final class JoinableThread: @unchecked Sendable {
    #if canImport(Darwin)
    private var thread: pthread_t?
    #else
    private var thread = pthread_t()
    #endif
    private var joined = false

    /// Starts `body` on a new thread with a `stackSize`-byte stack.
    package init(stackSize: Int = 4 << 20, _ body: @escaping () -> Void) {
        let box = Unmanaged.passRetained(Box(body)).toOpaque()
        var attr = pthread_attr_t()
        pthread_attr_init(&attr)
        pthread_attr_setstacksize(&attr, max(stackSize, 256 << 10))
        let rc = pthread_create(&thread, &attr, { raw in
            #if canImport(Darwin)
            let box = Unmanaged<Box>.fromOpaque(raw).takeRetainedValue()
            #else
            let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
            #endif
            box.body()
            return nil
        }, box)
        pthread_attr_destroy(&attr)
        precondition(rc == 0, "pthread_create failed: \(String(cString: strerror(rc)))")
    }

    /// Waits until the thread's closure has returned (once; later calls return at once).
    package func join() {
        guard !joined else { return }
        joined = true
        #if canImport(Darwin)
        if let thread { pthread_join(thread, nil) }
        #else
        pthread_join(thread, nil)
        #endif
    }

    private final class Box {
        let body: () -> Void
        init(_ body: @escaping () -> Void) { self.body = body }
    }
}
