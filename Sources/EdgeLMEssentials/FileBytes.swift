// Whole-file reads and stream writes through the C library (what FileHandle gave through Foundation).

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A read or write the C library refused, with its `strerror` text (`"No such file or directory"`).
package struct FileIOError: Error, CustomStringConvertible {
    package var path: String
    package var reason: String
    package var description: String { "\(path): \(reason)" }
}

/// The bytes of the file at `path`; character devices and pipes too (`/dev/null` is empty, not an error).
/// Cost: one read pass, the file's size in memory.
package func readFileBytes(_ path: String) throws(FileIOError) -> [UInt8] {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw FileIOError(path: path, reason: String(cString: strerror(errno))) }
    defer { close(fd) }
    var out: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0, errno == EINTR { continue }
        guard n >= 0 else { throw FileIOError(path: path, reason: String(cString: strerror(errno))) }
        if n == 0 { return out }
        out.append(contentsOf: chunk[..<n])
    }
}

/// The standard streams, written with `write(2)` (no buffering: a line shows at once).
package enum StandardStream {
    case output, error

    /// Writes all of `bytes`; a closed stream (EPIPE) or other failure drops the rest silently, as
    /// `FileHandle.write` did for stderr diagnostics.
    package func write<Bytes: Sequence>(bytes: Bytes) where Bytes.Element == UInt8 {
        let fd: Int32 = self == .output ? 1 : 2
        let buffer = Array(bytes)
        buffer.withUnsafeBytes { raw in
            var done = 0
            while done < raw.count {
                let n = systemWrite(fd, raw.baseAddress! + done, raw.count - done)
                if n < 0, errno == EINTR { continue }
                if n <= 0 { return }
                done += n
            }
        }
    }

    /// Writes the UTF-8 of `text`.
    package func write(_ text: String) { write(bytes: text.utf8) }
}

private func systemWrite(_ fd: Int32, _ buf: UnsafeRawPointer, _ count: Int) -> Int { write(fd, buf, count) }
