// Child processes with their standard output captured (Foundation's Process and Pipe without Foundation).

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// What a finished child printed and how it ended.
package struct SubprocessResult {
    /// The exit status (0 = success); 128 + signal number when a signal ended it.
    package var status: Int32
    package var standardOutput: [UInt8]
}

/// Spawning a program was refused (not found, not executable, out of processes).
package struct SubprocessError: Error, CustomStringConvertible {
    package var executable: String
    package var reason: String
    package var description: String { "cannot run \(executable): \(reason)" }
}

/// Runs `executable` with `arguments` (not through a shell), feeding it `input` on stdin, and waits for it;
/// its stderr is the caller's. `onOutput` sees each chunk of its stdout as it arrives and returns false to
/// stop the child (SIGKILL; the rest of its output is discarded); the result carries all of it when `collect`
/// is true. Cost: one `posix_spawn`, a pipe per stream.
package func runSubprocess(_ executable: String, _ arguments: [String], input: [UInt8] = [],
                           collect: Bool = true,
                           onOutput: ((UnsafeRawBufferPointer) -> Bool)? = nil) throws(SubprocessError) -> SubprocessResult {
    // A child that exits without reading all its input must not kill us with SIGPIPE (the write fails instead).
    signal(SIGPIPE, SIG_IGN)
    var outPipe: [Int32] = [0, 0], inPipe: [Int32] = [0, 0]
    guard pipe(&outPipe) == 0 else { throw SubprocessError(executable: executable, reason: String(cString: strerror(errno))) }
    guard pipe(&inPipe) == 0 else {
        close(outPipe[0]); close(outPipe[1])
        throw SubprocessError(executable: executable, reason: String(cString: strerror(errno)))
    }
    #if canImport(Darwin)
    var actions: posix_spawn_file_actions_t?
    #else
    var actions = posix_spawn_file_actions_t()
    #endif
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_adddup2(&actions, inPipe[0], 0)
    posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
    for fd in inPipe + outPipe { posix_spawn_file_actions_addclose(&actions, fd) }

    // The child starts with default signal handling (we ignore SIGPIPE; it must not inherit that).
    #if canImport(Darwin)
    var attributes: posix_spawnattr_t?
    #else
    var attributes = posix_spawnattr_t()
    #endif
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var defaults = sigset_t()
    sigemptyset(&defaults)
    sigaddset(&defaults, SIGPIPE)
    var noMask = sigset_t()
    sigemptyset(&noMask)
    posix_spawnattr_setsigdefault(&attributes, &defaults)
    posix_spawnattr_setsigmask(&attributes, &noMask)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

    let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
    defer { for p in argv { free(p) } }
    var pid = pid_t()
    let rc = posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
    close(inPipe[0]); close(outPipe[1])
    guard rc == 0 else {
        close(inPipe[1]); close(outPipe[0])
        throw SubprocessError(executable: executable, reason: String(cString: strerror(rc)))
    }
    // The input is written from a thread so that a child that prints before reading cannot deadlock us.
    let writeEnd = inPipe[1]
    let feeder = JoinableThread(stackSize: 512 << 10) {
        input.withUnsafeBytes { raw in
            var done = 0
            while done < raw.count {
                let n = write(writeEnd, raw.baseAddress! + done, raw.count - done)
                if n < 0, errno == EINTR { continue }
                if n <= 0 { break }  // the child closed its stdin
                done += n
            }
        }
        close(writeEnd)
    }
    var output: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    var wanted = true
    while true {
        let n = chunk.withUnsafeMutableBytes { read(outPipe[0], $0.baseAddress, $0.count) }
        if n < 0, errno == EINTR { continue }
        if n <= 0 { break }
        guard wanted else { continue }  // draining a child we stopped
        if let onOutput, !chunk.withUnsafeBytes({ onOutput(UnsafeRawBufferPointer(rebasing: $0[..<n])) }) {
            wanted = false
            kill(pid, SIGKILL)
            continue
        }
        if collect { output.append(contentsOf: chunk[..<n]) }
    }
    close(outPipe[0])
    feeder.join()
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0, errno == EINTR {}
    let exited = status & 0x7f == 0
    return SubprocessResult(status: exited ? (status >> 8) & 0xff : 128 + (status & 0x7f), standardOutput: output)
}
