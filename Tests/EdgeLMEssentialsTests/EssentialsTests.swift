// The small replacements for what the modules used from Foundation: trimming, fixed-point and printf text,
// file reads, child processes, threads and the lock.

@testable import EdgeLMEssentials
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@Suite("EdgeLMEssentials")
struct EssentialsTests {
    @Test func trimming() {
        #expect("  a b \n\t".trimmingWhitespace() == "a b")
        #expect("\u{00A0}x\u{2003}".trimmingWhitespace() == "x")  // no-break and em spaces are whitespace
        #expect(" \n ".trimmingWhitespace() == "")
        #expect("x".trimmingWhitespace() == "x")
        #expect("  set_alarm "[...].trimmingWhitespace() == "set_alarm")
    }

    @Test func fixed() {
        #expect((2.0 / 3).fixed(2) == "0.67")
        #expect((-0.001).fixed(2) == "-0.00")
        #expect(Double(1 << 30).fixed(0) == "1073741824")
        #expect(Float(64).fixed(1) == "64.0")
        #expect((0.125).fixed(2) == "0.12")  // an exact tie rounds to even, as printf does
    }

    @Test func printf() {
        #expect(String(printf: "%d tokens, %.1f tok/s, %@", 12, 3.14159, "done") == "12 tokens, 3.1 tok/s, done")
        #expect(String(printf: "%5.1f %%|%3d|%-4s|%4s", 2.25, 7, "ab", "cd") == "  2.2 %|  7|ab  |  cd")
        #expect(String(printf: "%.4g", 0.000123456) == "0.0001235")
        #expect(String(printf: "%ld and %x", Int64(1) << 40, 255) == "1099511627776 and ff")
        #expect(String(printf: "missing %d") == "missing 0")
    }

    @Test func readsFilesAndDevices() throws {
        let path = "/tmp/edgelm-essentials-\(getpid()).txt"
        let bytes = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }  // more than one read chunk
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
        defer { unlink(path) }
        #expect(try readFileBytes(path) == bytes)
        #expect(try readFileBytes("/dev/null").isEmpty)
        #expect(throws: FileIOError.self) { try readFileBytes("/nonexistent/edgelm") }
        do { _ = try readFileBytes("/nonexistent/edgelm") } catch { #expect(error.reason == "No such file or directory") }
    }

    @Test func subprocessFeedsAndCollects() throws {
        let input = Array(String(repeating: "line of input\n", count: 20_000).utf8)  // larger than a pipe buffer
        let cat = try runSubprocess("/bin/cat", [], input: input)
        #expect(cat.status == 0 && cat.standardOutput == input)
        let failing = try runSubprocess("/bin/sh", ["-c", "echo out; exit 3"])
        #expect(failing.status == 3 && failing.standardOutput == Array("out\n".utf8))
        #expect(throws: SubprocessError.self) { try runSubprocess("/nonexistent/edgelm-http", []) }
    }

    /// Stopping a child from the output callback ends it; the call returns without reading forever.
    @Test func subprocessStops() throws {
        var seen = 0
        let r = try runSubprocess("/bin/sh", ["-c", "while true; do echo y; done"], collect: false) { chunk in
            seen += chunk.count
            return seen < 10_000
        }
        #expect(seen >= 10_000)
        #expect(r.status == 128 + SIGKILL)
    }

    @Test func threadsJoinAndLockGuards() {
        final class Counter: @unchecked Sendable { let lock = Lock(); var n = 0 }
        let c = Counter()
        let threads = (0..<4).map { _ in
            JoinableThread(stackSize: 256 << 10) { for _ in 0..<10_000 { c.lock.withLock { c.n += 1 } } }
        }
        for t in threads { t.join() }
        threads[0].join()  // a second join returns at once
        #expect(c.n == 40_000)
    }
}
