// GGUFError: every way a GGUF file or a metadata lookup can be wrong. Each message says what is wrong,
// where (absolute byte offset in the file when there is one) and how to fix it.

/// An error reading, validating, querying or writing a GGUF file.
///
/// `description` is one line: what is wrong, where (byte offset), then `hint: …`. Keys, tensor names and
/// other file-derived text are quoted through ``SafeText/quote(_:limit:)`` (≤ 64 bytes, control bytes escaped).
public enum GGUFError: Error, CustomStringConvertible, Equatable, Sendable {
    // File access
    /// The file could not be opened, stat'ed or mapped (`reason` is the OS message).
    case cannotOpen(path: String, reason: String)
    /// The writer could not write the output.
    case cannotWrite(path: String, reason: String)

    // Header
    /// The first four bytes are not "GGUF".
    case badMagic(found: UInt32)
    /// Version other than 2 or 3 (v1 used 32-bit counts; a byte-swapped version means big-endian).
    case unsupportedVersion(UInt32)

    // Structure
    /// Fewer bytes remain than a field needs. `section` is "header", "metadata" or "tensor table".
    case truncated(section: String, offset: Int, needed: Int, available: Int)
    /// A string or array length claims more bytes than remain in the file.
    case lengthBeyondFile(what: String, offset: Int, length: UInt64, remaining: Int)
    /// A metadata key or tensor name longer than the format allows (checked before it is decoded).
    case stringTooLong(what: String, offset: Int, length: UInt64, limit: Int)
    /// A tensor or key/value count that cannot fit in the remaining bytes.
    case countTooLarge(what: String, offset: Int, count: UInt64, remaining: Int)
    /// A metadata value type id outside 0...12.
    case invalidValueType(raw: UInt32, key: String, offset: Int)
    /// Arrays nested deeper than the reader allows.
    case nestingTooDeep(key: String, offset: Int, limit: Int)
    /// A bool stored as something other than 0 or 1.
    case invalidBool(raw: UInt8, key: String, offset: Int)
    /// The same metadata key appears twice.
    case duplicateKey(key: String, offset: Int)
    /// `general.alignment` is zero, not a power of two or not an integer.
    case invalidAlignment(value: String, offset: Int)

    // Tensor table
    /// The same tensor name appears twice.
    case duplicateTensor(name: String, offset: Int)
    /// A tensor type id ggml never assigned.
    case unknownTensorType(raw: UInt32, tensor: String, offset: Int)
    /// More than 4 dimensions.
    case tooManyDimensions(count: UInt32, tensor: String, offset: Int)
    /// A dimension that is zero or negative.
    case invalidDimension(value: Int64, index: Int, tensor: String, offset: Int)
    /// The element count or byte size overflows `Int`.
    case shapeOverflow(tensor: String, shape: [Int64], offset: Int)
    /// ne0 is not a multiple of the type's block size.
    case shapeNotBlockAligned(tensor: String, type: String, ne0: Int, blockSize: Int, offset: Int)
    /// A tensor's data offset is not a multiple of the file's alignment.
    case misalignedTensor(tensor: String, dataOffset: UInt64, alignment: Int, offset: Int)
    /// A tensor's bytes extend past the end of the file.
    case tensorOutOfBounds(tensor: String, start: UInt64, byteCount: Int, fileSize: Int)
    /// Two tensors share bytes.
    case overlappingTensors(first: String, second: String, offset: Int)

    // Lookups
    /// A required metadata key is missing.
    case keyNotFound(String)
    /// A metadata key holds another value type than the accessor asked for.
    case typeMismatch(key: String, expected: String, found: String)
    /// An integer value does not fit the requested Swift type.
    case valueOutOfRange(key: String, value: String)
    /// A required tensor is missing.
    case tensorNotFound(String)
    /// A tensor of a type that has no usable layout (e.g. a type ggml removed).
    case unsupportedType(name: String, tensor: String)

    // Writer
    /// The writer was given inconsistent input (bad shape, byte count, duplicate name, …).
    case invalidWriterInput(String)

    public var description: String {
        switch self {
        case let .cannotOpen(path, reason):
            return "cannot open GGUF file '\(q(path, 256))': \(q(reason, 256)); hint: check the path exists and is a readable"
                + " regular file (weights/fetch.sh downloads the default models)"
        case let .cannotWrite(path, reason):
            return "cannot write '\(q(path, 256))': \(q(reason, 256)); hint: check the directory exists and is writable"
        case let .badMagic(found):
            let bytes = withUnsafeBytes(of: found.littleEndian) { Array($0) }
            let shown = bytes.map { (0x20..<0x7f).contains($0) ? String(UnicodeScalar($0)) : "." }.joined()
            return "not a GGUF file: bad magic '\(shown)' (0x\(String(found, radix: 16))) at byte offset 0;"
                + " hint: GGUF files start with 'GGUF' — is this a safetensors/bin/legacy GGML file?"
        case let .unsupportedVersion(v):
            let swapped = v.byteSwapped
            let hint = (swapped == 2 || swapped == 3)
                ? "this looks like a big-endian GGUF file; convert it to little-endian"
                : "only GGUF v2 and v3 are supported; re-convert the model with a current llama.cpp"
            return "unsupported GGUF version \(v) at byte offset 4; hint: \(hint)"
        case let .truncated(section, offset, needed, available):
            return "truncated \(section): need \(needed) bytes at byte offset \(offset) but only \(available) remain;"
                + " hint: the file is incomplete (interrupted download?) — fetch it again"
        case let .lengthBeyondFile(what, offset, length, remaining):
            return "\(q(what, 160)) length \(length) at byte offset \(offset) exceeds the \(remaining) bytes left in the file;"
                + " hint: the file is corrupted or truncated"
        case let .stringTooLong(what, offset, length, limit):
            return "\(q(what, 160)) length \(length) at byte offset \(offset) exceeds the limit of \(limit) bytes;"
                + " hint: the file is corrupted"
        case let .countTooLarge(what, offset, count, remaining):
            return "\(q(what, 160)) count \(count) at byte offset \(offset) cannot fit in the \(remaining) bytes left;"
                + " hint: the file is corrupted or truncated"
        case let .invalidValueType(raw, key, offset):
            return "invalid metadata value type \(raw) for key '\(q(key))' at byte offset \(offset) (valid: 0...12);"
                + " hint: the file is corrupted or uses a newer GGUF revision"
        case let .nestingTooDeep(key, offset, limit):
            return "arrays nested deeper than \(limit) levels in key '\(q(key))' at byte offset \(offset);"
                + " hint: the file is corrupted"
        case let .invalidBool(raw, key, offset):
            return "bool value \(raw) (must be 0 or 1) for key '\(q(key))' at byte offset \(offset);"
                + " hint: the file is corrupted"
        case let .duplicateKey(key, offset):
            return "duplicate metadata key '\(q(key))' at byte offset \(offset); hint: the file was written incorrectly"
        case let .invalidAlignment(value, offset):
            return "general.alignment \(q(value)) at byte offset \(offset) must be a non-zero power-of-two integer;"
                + " hint: the file is corrupted or was written incorrectly"
        case let .duplicateTensor(name, offset):
            return "duplicate tensor name '\(q(name))' at byte offset \(offset); hint: the file was written incorrectly"
        case let .unknownTensorType(raw, tensor, offset):
            return "unknown ggml type id \(raw) for tensor '\(q(tensor))' at byte offset \(offset);"
                + " hint: the file is corrupted or uses a quantization newer than this reader"
        case let .tooManyDimensions(count, tensor, offset):
            return "tensor '\(q(tensor))' has \(count) dimensions at byte offset \(offset) (at most 4);"
                + " hint: the file is corrupted"
        case let .invalidDimension(value, index, tensor, offset):
            return "tensor '\(q(tensor))' dimension \(index) is \(value) at byte offset \(offset) (must be > 0);"
                + " hint: the file is corrupted"
        case let .shapeOverflow(tensor, shape, offset):
            return "tensor '\(q(tensor))' shape \(shape) at byte offset \(offset) overflows the element or byte count;"
                + " hint: the file is corrupted"
        case let .shapeNotBlockAligned(tensor, type, ne0, blockSize, offset):
            return "tensor '\(q(tensor))' of type \(type) has ne0 = \(ne0), not a multiple of the block size"
                + " \(blockSize), at byte offset \(offset); hint: the file is corrupted or was quantized incorrectly"
        case let .misalignedTensor(tensor, dataOffset, alignment, offset):
            return "tensor '\(q(tensor))' data offset \(dataOffset) (tensor info at byte offset \(offset)) is not a"
                + " multiple of the alignment \(alignment); hint: the file was written incorrectly"
        case let .tensorOutOfBounds(tensor, start, byteCount, fileSize):
            return "tensor '\(q(tensor))' data at byte offset \(start) (+\(byteCount) bytes) extends past the end of the"
                + " \(fileSize)-byte file; hint: the file is truncated — fetch it again"
        case let .overlappingTensors(first, second, offset):
            return "tensor '\(q(second))' at byte offset \(offset) overlaps the data of tensor '\(q(first))';"
                + " hint: the file was written incorrectly"
        case let .keyNotFound(key):
            return "metadata key '\(q(key))' not found; hint: the model file lacks it — is it the right architecture?"
                + " (`edgelm inspect` lists the keys)"
        case let .typeMismatch(key, expected, found):
            return "metadata key '\(q(key))' holds \(found), expected \(expected); hint: the file was written with an"
                + " unexpected value type"
        case let .valueOutOfRange(key, value):
            return "metadata key '\(q(key))' value \(q(value)) does not fit the requested type; hint: the value is corrupted"
        case let .tensorNotFound(name):
            return "tensor '\(q(name))' not found; hint: the file is for another architecture or is incomplete"
        case let .unsupportedType(name, tensor):
            return "tensor '\(q(tensor))' has type \(name), which this engine cannot use; hint: re-quantize the model"
                + " to a supported type (e.g. Q4_0, Q4_1, Q8_0, Q4_K, F16)"
        case let .invalidWriterInput(reason):
            return "invalid GGUF writer input: \(q(reason, 256)); hint: fix the caller"
        }
    }

    /// File-derived text quoted for a message: control bytes escaped, at most `limit` bytes (see ``SafeText``).
    private func q(_ s: String, _ limit: Int = SafeText.defaultLimit) -> String { SafeText.quote(s, limit: limit) }
}
