// GGUFTensor: one tensor's info plus a zero-copy view of its bytes in the file mapping.

/// A tensor of a ``GGUFFile``: name, type, shape and a pointer to its bytes in the read-only mapping.
///
/// Shapes follow ggml: `shape[0]` (ne0) is the innermost, contiguous dimension. A 2-D weight with
/// shape `[ne0, ne1]` has ``rows`` = ne1 rows of ``cols`` = ne0 elements, quantized in blocks along a row.
/// `data` is valid only while the owning ``GGUFFile`` is alive; reading it faults in the file pages.
public struct GGUFTensor: @unchecked Sendable {
    public let name: String
    public let type: GGMLType
    /// Dimensions, ne0 first (innermost). Empty for a 0-dimensional (scalar) tensor.
    public let shape: [Int]
    /// Product of the dimensions.
    public let elementCount: Int
    /// Bytes of data. For a type without a layout (``GGMLType/hasLayout`` false) this is the distance to
    /// the next tensor's data (or the end of the file).
    public let byteCount: Int
    /// Absolute byte offset of the data in the file (a multiple of the file's alignment from the data section).
    public let fileOffset: Int
    /// Zero-copy view into the read-only mapping (valid while the GGUFFile lives).
    public let data: UnsafeRawPointer

    /// ne0: elements per row (1 for a scalar).
    public var cols: Int { shape.first ?? 1 }
    /// Number of rows: the product of every dimension after ne0.
    public var rows: Int { elementCount / max(cols, 1) }
    /// The tensor's bytes as a buffer (zero-copy).
    public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: data, count: byteCount) }
}
