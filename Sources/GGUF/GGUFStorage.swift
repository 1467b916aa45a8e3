// GGUFStorage: owns the bytes a GGUFFile was parsed from (a read-only mmap, or a heap copy for in-memory
// parsing) and keeps them alive for every tensor view and lazily decoded metadata array.
// ByteReader: bounds-checked little-endian cursor over those bytes; every read throws GGUFError.truncated.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The bytes behind a parsed GGUF file. Immutable after creation.
final class GGUFStorage: @unchecked Sendable {
    let base: UnsafeRawPointer
    let count: Int
    private let mapped: Bool

    /// Maps `path` read-only (MAP_PRIVATE, PROT_READ). No page is touched here.
    init(mapping path: String) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw GGUFError.cannotOpen(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            throw GGUFError.cannotOpen(path: path, reason: String(cString: strerror(errno)))
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            throw GGUFError.cannotOpen(path: path, reason: "not a regular file")
        }
        let size = Int(st.st_size)
        if size == 0 {
            // mmap of length 0 fails; an empty file is reported as a truncated header by the parser.
            let empty = UnsafeMutableRawPointer.allocate(byteCount: 1, alignment: 64)
            base = UnsafeRawPointer(empty)
            count = 0
            mapped = false
            return
        }
        guard let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
            throw GGUFError.cannotOpen(path: path, reason: "mmap failed: " + String(cString: strerror(errno)))
        }
        base = UnsafeRawPointer(p)
        count = size
        mapped = true
    }

    /// `madvise(MADV_DONTNEED)` on the whole pages inside `range` of a mapping (the pages are re-read from
    /// the file if touched again); nothing for a heap copy.
    func release(_ range: Range<Int>) {
        guard mapped else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let lo = (range.lowerBound + page - 1) / page * page, hi = min(count, range.upperBound) / page * page
        guard hi > lo else { return }
        _ = madvise(UnsafeMutableRawPointer(mutating: base + lo), hi - lo, Int32(MADV_DONTNEED))
    }

    /// Copies `bytes` into a 64-byte aligned heap buffer.
    init(copying bytes: UnsafeRawBufferPointer) {
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: max(bytes.count, 1), alignment: 64)
        if let src = bytes.baseAddress, bytes.count > 0 { buffer.copyMemory(from: src, byteCount: bytes.count) }
        base = UnsafeRawPointer(buffer)
        count = bytes.count
        mapped = false
    }

    deinit {
        if mapped {
            munmap(UnsafeMutableRawPointer(mutating: base), count)
        } else {
            UnsafeMutableRawPointer(mutating: base).deallocate()
        }
    }
}

/// A bounds-checked little-endian cursor. Reads never go past `end`; a short read throws
/// ``GGUFError/truncated(section:offset:needed:available:)`` naming `section`.
struct ByteReader {
    let base: UnsafeRawPointer
    let end: Int
    var position: Int
    var section: String

    init(_ storage: GGUFStorage, at position: Int = 0, end: Int? = nil, section: String) {
        base = storage.base
        self.end = end ?? storage.count
        self.position = position
        self.section = section
    }

    var remaining: Int { end - position }

    @inline(__always)
    mutating func need(_ n: Int) throws {
        guard n >= 0, n <= end - position else {
            throw GGUFError.truncated(section: section, offset: position, needed: n, available: max(end - position, 0))
        }
    }

    @inline(__always)
    mutating func read<T: FixedWidthInteger>(_: T.Type) throws -> T {
        try need(MemoryLayout<T>.size)
        let v = base.loadUnaligned(fromByteOffset: position, as: T.self)
        position += MemoryLayout<T>.size
        return T(littleEndian: v)
    }

    mutating func readFloat() throws -> Float { Float(bitPattern: try read(UInt32.self)) }
    mutating func readDouble() throws -> Double { Double(bitPattern: try read(UInt64.self)) }

    /// Reads a u64 length and checks `length * stride` fits in the remaining bytes (never allocates first).
    mutating func readLength(_ what: @autoclosure () -> String, stride: Int = 1) throws -> Int {
        let at = position
        let raw = try read(UInt64.self)
        let (bytes, overflow) = raw.multipliedReportingOverflow(by: UInt64(stride))
        guard !overflow, bytes <= UInt64(remaining) else {
            throw stride == 1
                ? GGUFError.lengthBeyondFile(what: what(), offset: at, length: raw, remaining: remaining)
                : GGUFError.countTooLarge(what: what(), offset: at, count: raw, remaining: remaining)
        }
        return Int(raw)
    }

    /// Reads a GGUF string (u64 length + UTF-8 bytes); invalid UTF-8 is repaired with U+FFFD.
    /// - Parameter maxLength: longest length accepted (keys and tensor names have spec limits); a longer one
    ///   throws ``GGUFError/stringTooLong(what:offset:length:limit:)`` before any byte is decoded.
    mutating func readString(_ what: @autoclosure () -> String, maxLength: Int = .max) throws -> String {
        let at = position
        let n = try readLength(what())
        guard n <= maxLength else {
            throw GGUFError.stringTooLong(what: what(), offset: at, length: UInt64(n), limit: maxLength)
        }
        let s = String(decoding: UnsafeRawBufferPointer(start: base + position, count: n), as: UTF8.self)
        position += n
        return s
    }

    /// Skips a GGUF string, returning the byte range of its contents.
    @inline(__always)
    mutating func skipString(_ what: @autoclosure () -> String) throws -> Range<Int> {
        let n = try readLength(what())
        let start = position
        position += n
        return start..<position
    }
}
