// GGUFWriter: builds a little-endian GGUF v3 (or v2) file from metadata and raw tensor bytes.

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

/// `write(2)` under another name: inside `GGUFWriter`, `write` means ``GGUFWriter/write(to:)``.
private func writeFD(_ fd: Int32, _ buf: UnsafeRawPointer, _ count: Int) -> Int { write(fd, buf, count) }

/// Builds a GGUF file: metadata of any value type, then tensors given as type, shape and raw bytes.
///
/// Tensor data is placed in insertion order, each tensor at a multiple of the alignment, zero-padded.
/// When the alignment is not the default 32, `general.alignment` (u32) is written as the first key.
///
/// ```swift
/// var w = try GGUFWriter()
/// try w.add(GGUFKey.architecture, .string("llama"))
/// try w.addTensor(name: "output_norm.weight", type: .f32, shape: [576], bytes: Data(count: 576 * 4))
/// try w.write(to: "/tmp/tiny.gguf")
/// ```
public struct GGUFWriter {
    struct PendingTensor {
        var name: String
        var type: GGMLType
        var shape: [Int]
        var bytes: Data
    }

    /// Tensor data alignment in bytes (a power of two).
    public let alignment: Int
    /// GGUF version written (2 or 3; their little-endian layouts are identical).
    public let version: UInt32
    private var metadata: GGUFMetadata
    private var tensors: [PendingTensor] = []
    private var tensorNames: Set<String> = []

    /// - Parameters:
    ///   - alignment: tensor data alignment, a non-zero power of two (default 32, ggml's default).
    ///   - version: 3 (default) or 2.
    /// - Throws: ``GGUFError/invalidWriterInput(_:)`` for a bad alignment or version.
    public init(alignment: Int = 32, version: UInt32 = 3) throws {
        guard alignment > 0, alignment & (alignment - 1) == 0, alignment <= Int(UInt32.max) else {
            throw GGUFError.invalidWriterInput("alignment \(alignment) must be a non-zero power of two")
        }
        guard version == 2 || version == 3 else {
            throw GGUFError.invalidWriterInput("version \(version) (only 2 and 3 can be written)")
        }
        self.alignment = alignment
        self.version = version
        metadata = try GGUFMetadata()
        if alignment != GGUFParser.defaultAlignment {
            try metadata.append(GGUFKey.alignment, .uint32(UInt32(alignment)), offset: -1)
        }
    }

    /// Adds a metadata key/value (keys are written in insertion order).
    /// - Throws: ``GGUFError/invalidWriterInput(_:)`` for a duplicate key or a `general.alignment` that
    ///   disagrees with ``alignment``.
    public mutating func add(_ key: String, _ value: GGUFValue) throws {
        if key == GGUFKey.alignment {
            guard value.intValue == alignment, !metadata.contains(key) else {
                throw GGUFError.invalidWriterInput(
                    "general.alignment is set by GGUFWriter(alignment:) (\(alignment)); got \(value)")
            }
            return
        }
        guard !metadata.contains(key) else { throw GGUFError.invalidWriterInput("duplicate metadata key '\(key)'") }
        try metadata.append(key, value, offset: -1)
    }

    /// Adds every key/value of `metadata` (e.g. to copy a model's metadata when re-quantizing).
    public mutating func add(contentsOf metadata: GGUFMetadata) throws {
        for (k, v) in metadata.entries { try add(k, v) }
    }

    /// Adds a tensor.
    /// - Parameters:
    ///   - shape: ne0 first, 1 to 4 positive dimensions; ne0 must be a multiple of the type's block size.
    ///   - bytes: exactly `type.rowBytes(ne0) * rows` bytes.
    /// - Throws: ``GGUFError/invalidWriterInput(_:)`` on any inconsistency.
    public mutating func addTensor(name: String, type: GGMLType, shape: [Int], bytes: Data) throws {
        guard !tensorNames.contains(name) else { throw GGUFError.invalidWriterInput("duplicate tensor '\(name)'") }
        guard (1...GGUFParser.maxDimensions).contains(shape.count), shape.allSatisfy({ $0 > 0 }) else {
            throw GGUFError.invalidWriterInput("tensor '\(name)' shape \(shape) must have 1...4 positive dimensions")
        }
        guard type.hasLayout else {
            throw GGUFError.invalidWriterInput("tensor '\(name)' type \(type.name) has no layout")
        }
        var rows = 1
        for d in shape.dropFirst() {
            let (m, o) = rows.multipliedReportingOverflow(by: d)
            guard !o else { throw GGUFError.invalidWriterInput("tensor '\(name)' shape \(shape) overflows") }
            rows = m
        }
        guard let row = type.rowBytes(shape[0]) else {
            throw GGUFError.invalidWriterInput(
                "tensor '\(name)' ne0 \(shape[0]) is not a multiple of \(type.name)'s block size \(type.blockSize)")
        }
        let (expected, o) = row.multipliedReportingOverflow(by: rows)
        guard !o, expected == bytes.count else {
            throw GGUFError.invalidWriterInput(
                "tensor '\(name)' (\(type.name) \(shape)) needs \(o ? "too many" : String(expected)) bytes, got \(bytes.count)")
        }
        tensorNames.insert(name)
        tensors.append(PendingTensor(name: name, type: type, shape: shape, bytes: bytes))
    }

    /// Convenience: adds an F32 tensor from floats.
    public mutating func addTensor(name: String, shape: [Int], floats: [Float]) throws {
        let bytes = floats.withUnsafeBufferPointer { buf in
            Data(buffer: UnsafeBufferPointer(start: UnsafeRawPointer(buf.baseAddress!)
                .assumingMemoryBound(to: UInt8.self), count: buf.count * 4))
        }
        try addTensor(name: name, type: .f32, shape: shape, bytes: bytes)
    }

    private func padding(_ n: Int) -> Int { (alignment - n % alignment) % alignment }

    /// Header, metadata, tensor table and padding up to the data section.
    private func headerBytes() -> Data {
        var out = Data()
        out.appendLE(GGUFParser.magic)
        out.appendLE(version)
        out.appendLE(UInt64(tensors.count))
        out.appendLE(UInt64(metadata.count))
        for (key, value) in metadata.entries {
            out.appendString(key)
            out.appendLE(value.type.rawValue)
            out.appendValue(value)
        }
        var offset = 0
        for t in tensors {
            out.appendString(t.name)
            out.appendLE(UInt32(t.shape.count))
            for d in t.shape { out.appendLE(Int64(d)) }
            out.appendLE(t.type.rawValue)
            out.appendLE(UInt64(offset))
            offset += t.bytes.count + padding(t.bytes.count)
        }
        out.append(Data(count: padding(out.count)))
        return out
    }

    /// The complete file image. - Complexity: O(file size) memory.
    public func data() -> Data {
        var out = headerBytes()
        for t in tensors {
            out.append(t.bytes)
            out.append(Data(count: padding(t.bytes.count)))
        }
        return out
    }

    /// Writes the file to `path` (replacing it), streaming tensor data without building the whole image.
    /// - Throws: ``GGUFError/cannotWrite(path:reason:)``.
    public func write(to path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw GGUFError.cannotWrite(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        func put(_ bytes: UnsafeRawBufferPointer) throws {
            var done = 0
            while done < bytes.count {
                let n = writeFD(fd, bytes.baseAddress! + done, bytes.count - done)
                if n < 0, errno == EINTR { continue }
                guard n > 0 else { throw GGUFError.cannotWrite(path: path, reason: String(cString: strerror(errno))) }
                done += n
            }
        }
        try headerBytes().withUnsafeBytes(put)
        for t in tensors {
            try t.bytes.withUnsafeBytes(put)
            let pad = padding(t.bytes.count)
            if pad > 0 { try [UInt8](repeating: 0, count: pad).withUnsafeBytes(put) }
        }
    }
}

extension Data {
    mutating func appendLE<T: FixedWidthInteger>(_ v: T) {
        Swift.withUnsafeBytes(of: v.littleEndian) { append(contentsOf: $0) }
    }

    mutating func appendString(_ s: String) {
        var s = s
        s.withUTF8 { utf8 in
            appendLE(UInt64(utf8.count))
            append(utf8.baseAddress ?? UnsafePointer(bitPattern: 1)!, count: utf8.count)
        }
    }

    /// Appends a value's encoding (without its type id).
    mutating func appendValue(_ value: GGUFValue) {
        switch value {
        case let .uint8(v): appendLE(v)
        case let .int8(v): appendLE(v)
        case let .uint16(v): appendLE(v)
        case let .int16(v): appendLE(v)
        case let .uint32(v): appendLE(v)
        case let .int32(v): appendLE(v)
        case let .uint64(v): appendLE(v)
        case let .int64(v): appendLE(v)
        case let .float32(v): appendLE(v.bitPattern)
        case let .float64(v): appendLE(v.bitPattern)
        case let .bool(v): appendLE(UInt8(v ? 1 : 0))
        case let .string(s): appendString(s)
        case let .array(a):
            appendLE(a.elementType.rawValue)
            appendLE(UInt64(a.count))
            switch a.backing {
            case let .stored(storage, range):  // already encoded: copy the bytes
                append(contentsOf: UnsafeRawBufferPointer(start: storage.base + range.lowerBound, count: range.count))
            case let .values(values):
                for v in values { appendValue(v) }  // a nested array element is (elem_type, count, values)
            }
        }
    }
}
