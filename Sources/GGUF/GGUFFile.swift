// GGUFFile: a validated, memory-mapped GGUF file (metadata + tensor views). Parsing is in GGUFParser.swift.

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A GGUF v2/v3 file, mapped read-only and validated.
///
/// Opening maps the file (no read of tensor pages) and parses the header, metadata and tensor table:
/// O(metadata + tensor table) time, memory proportional to the tensor count (metadata arrays stay in the
/// mapping and are decoded on demand). Tensor ``GGUFTensor/data`` pointers are zero-copy views valid while
/// this object lives.
///
/// ```swift
/// let file = try GGUFFile(path: "weights/smollm2-135m-instruct-q4_1.gguf")
/// let arch = try file.metadata.string(GGUFKey.architecture)          // "llama"
/// let layers = try file.metadata.int(GGUFKey.blockCount(arch))      // 30
/// let embd = try file.requireTensor("token_embd.weight")           // Q8_0, shape [576, 49152]
/// ```
public final class GGUFFile: @unchecked Sendable {
    /// The path the file was opened from ("<memory>" for ``init(data:)``).
    public let path: String
    /// Format version (2 or 3).
    public let version: UInt32
    /// Size of the file in bytes.
    public let fileSize: Int
    /// `general.alignment`, or 32 when absent.
    public let alignment: Int
    /// Absolute byte offset of the tensor data section.
    public let dataOffset: Int
    public let metadata: GGUFMetadata
    /// Tensors in file order.
    public let tensors: [GGUFTensor]

    private let storage: GGUFStorage
    private let byName: [String: Int]

    /// Maps and validates the file at `path`.
    /// - Throws: ``GGUFError`` describing the first problem found (never traps on bad input).
    /// - Complexity: O(metadata bytes + tensor count); about 2 ms for a 98 MB model. No tensor page is touched.
    public convenience init(path: String) throws {
        try self.init(storage: GGUFStorage(mapping: path), path: path)
    }

    /// Parses a GGUF image held in memory (copied once into an aligned buffer). Used by tests and tools.
    public convenience init(data: Data) throws {
        let storage = data.withUnsafeBytes { GGUFStorage(copying: $0) }
        try self.init(storage: storage, path: "<memory>")
    }

    /// Drops the resident pages of the header and metadata (`[0, dataOffset)`, whole pages only) from this
    /// process: call it once the metadata was read into other structures (the tokenizer tables). Values read
    /// later re-fault their pages from the file, so nothing is lost; no-op for an in-memory image.
    /// Cost: one `madvise`; saves up to the metadata size (1.7 MiB for SmolLM2's 49k-token vocabulary) of RSS.
    public func releaseMetadataPages() { storage.release(0..<dataOffset) }

    init(storage: GGUFStorage, path: String) throws {
        let result = try GGUFParser.parse(storage)
        self.storage = storage
        self.path = path
        self.fileSize = storage.count
        self.version = result.version
        self.alignment = result.alignment
        self.dataOffset = result.dataOffset
        self.metadata = result.metadata
        self.tensors = result.tensors
        var byName: [String: Int] = [:]
        byName.reserveCapacity(result.tensors.count)
        for (i, t) in result.tensors.enumerated() { byName[t.name] = i }
        self.byName = byName
    }

    /// The tensor called `name`, or nil. - Complexity: O(1) average.
    public func tensor(named name: String) -> GGUFTensor? {
        byName[name].map { tensors[$0] }
    }

    /// The tensor called `name`, checked to have a usable block layout.
    /// - Throws: ``GGUFError/tensorNotFound(_:)`` or ``GGUFError/unsupportedType(name:tensor:)``.
    public func requireTensor(_ name: String) throws -> GGUFTensor {
        guard let t = tensor(named: name) else { throw GGUFError.tensorNotFound(name) }
        guard t.type.hasLayout else { throw GGUFError.unsupportedType(name: t.type.name, tensor: name) }
        return t
    }

    /// The architecture name (`general.architecture`).
    public var architecture: String { get throws { try metadata.string(GGUFKey.architecture) } }

    /// Sum of all tensors' element counts (the model's parameter count).
    public var parameterCount: Int { tensors.reduce(0) { $0 &+ $1.elementCount } }

    /// Sum of all tensors' byte counts (the bytes of weights a runtime maps).
    public var tensorBytes: Int { tensors.reduce(0) { $0 &+ $1.byteCount } }
}
