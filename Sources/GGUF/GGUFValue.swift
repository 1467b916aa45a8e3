// GGUFValue: one metadata value. Arrays parsed from a file stay as byte ranges in the file's storage and
// are decoded on demand (the SmolLM2 vocabulary is 49152 strings + 48900 merges).

/// The metadata value type ids of the GGUF format (`gguf_type`).
public enum GGUFValueType: UInt32, Sendable, CaseIterable, CustomStringConvertible {
    case uint8 = 0, int8 = 1, uint16 = 2, int16 = 3, uint32 = 4, int32 = 5, float32 = 6, bool = 7
    case string = 8, array = 9, uint64 = 10, int64 = 11, float64 = 12

    /// Bytes of one value of this type, or nil for the variable-size string and array.
    public var fixedSize: Int? {
        switch self {
        case .uint8, .int8, .bool: 1
        case .uint16, .int16: 2
        case .uint32, .int32, .float32: 4
        case .uint64, .int64, .float64: 8
        case .string, .array: nil
        }
    }

    /// Smallest encoded size of one value (a string is at least its 8-byte length, an array 12 bytes).
    var minimumSize: Int { fixedSize ?? (self == .string ? 8 : 12) }

    public var description: String {
        switch self {
        case .uint8: "u8"
        case .int8: "i8"
        case .uint16: "u16"
        case .int16: "i16"
        case .uint32: "u32"
        case .int32: "i32"
        case .float32: "f32"
        case .bool: "bool"
        case .string: "string"
        case .array: "array"
        case .uint64: "u64"
        case .int64: "i64"
        case .float64: "f64"
        }
    }
}

/// A GGUF metadata value.
public enum GGUFValue: Sendable, Equatable, CustomStringConvertible {
    case uint8(UInt8), int8(Int8), uint16(UInt16), int16(Int16), uint32(UInt32), int32(Int32)
    case float32(Float), bool(Bool), string(String), array(GGUFArray)
    case uint64(UInt64), int64(Int64), float64(Double)

    /// The GGUF type id of this value.
    public var type: GGUFValueType {
        switch self {
        case .uint8: .uint8
        case .int8: .int8
        case .uint16: .uint16
        case .int16: .int16
        case .uint32: .uint32
        case .int32: .int32
        case .float32: .float32
        case .bool: .bool
        case .string: .string
        case .array: .array
        case .uint64: .uint64
        case .int64: .int64
        case .float64: .float64
        }
    }

    /// The value as an Int when it is an integer that fits.
    public var intValue: Int? {
        switch self {
        case let .uint8(v): Int(v)
        case let .int8(v): Int(v)
        case let .uint16(v): Int(v)
        case let .int16(v): Int(v)
        case let .uint32(v): Int(v)
        case let .int32(v): Int(v)
        case let .uint64(v): Int(exactly: v)
        case let .int64(v): Int(v)
        default: nil
        }
    }

    /// The value as a Double when it is a number (integers included).
    public var doubleValue: Double? {
        switch self {
        case let .float32(v): Double(v)
        case let .float64(v): v
        case let .uint64(v): Double(v)
        case let .int64(v): Double(v)
        default: intValue.map(Double.init)
        }
    }

    /// A short human-readable rendering (arrays show their type, count and first elements).
    public var description: String {
        switch self {
        case let .string(s): return s.debugDescription
        case let .bool(b): return String(b)
        case let .float32(f): return String(f)
        case let .float64(d): return String(d)
        case let .array(a): return a.description
        default: return intValue.map(String.init) ?? (self.doubleValue.map { String($0) } ?? "?")
        }
    }
}

/// A typed GGUF array (all elements share `elementType`; nested arrays may differ in their own types).
///
/// Arrays read from a file are views into the file's bytes, decoded when asked for: holding one keeps the
/// file's storage alive.
public struct GGUFArray: Sendable, Equatable, CustomStringConvertible {
    /// The type of every element.
    public let elementType: GGUFValueType
    /// Number of elements.
    public let count: Int

    enum Backing: @unchecked Sendable {
        /// Encoded elements at `range` of `storage` (validated at parse time).
        case stored(GGUFStorage, Range<Int>)
        case values([GGUFValue])
    }
    let backing: Backing

    init(elementType: GGUFValueType, count: Int, storage: GGUFStorage, range: Range<Int>) {
        self.elementType = elementType
        self.count = count
        self.backing = .stored(storage, range)
    }

    /// An array of `values`, which must all be of `elementType`.
    /// - Throws: ``GGUFError/invalidWriterInput(_:)`` when an element has another type.
    public init(elementType: GGUFValueType, values: [GGUFValue]) throws {
        if let bad = values.first(where: { $0.type != elementType }) {
            throw GGUFError.invalidWriterInput("array of \(elementType) holds a \(bad.type) element")
        }
        self.elementType = elementType
        self.count = values.count
        self.backing = .values(values)
    }

    /// An array of strings.
    public init(strings: [String]) {
        self.elementType = .string
        self.count = strings.count
        self.backing = .values(strings.map(GGUFValue.string))
    }

    /// An array of i32 (e.g. `tokenizer.ggml.token_type`).
    public init(int32s: [Int32]) {
        self.elementType = .int32
        self.count = int32s.count
        self.backing = .values(int32s.map(GGUFValue.int32))
    }

    /// An array of f32 (e.g. `tokenizer.ggml.scores`).
    public init(float32s: [Float]) {
        self.elementType = .float32
        self.count = float32s.count
        self.backing = .values(float32s.map(GGUFValue.float32))
    }

    /// All elements, decoded. - Complexity: O(count) and allocates; prefer the typed metadata accessors.
    public var values: [GGUFValue] { decode(limit: count) }

    func decode(limit: Int) -> [GGUFValue] {
        switch backing {
        case let .values(v):
            return Array(v.prefix(limit))
        case let .stored(storage, range):
            var reader = ByteReader(storage, at: range.lowerBound, end: range.upperBound, section: "metadata")
            var out: [GGUFValue] = []
            let n = min(limit, count)
            out.reserveCapacity(n)  // count was checked against the byte range at parse time
            for _ in 0..<n {
                // The range was validated at parse time; a failure here would mean the file changed on disk.
                guard let v = try? GGUFParser.readValue(elementType, &reader, storage: storage, key: "", depth: 1)
                else { break }
                out.append(v)
            }
            return out
        }
    }

    /// Calls `body` with the raw UTF-8 bytes of each string, without creating Strings.
    /// Does nothing when the array is not an array of strings.
    /// - Complexity: O(count), no allocation for stored arrays.
    public func forEachStringBytes(_ body: (Int, UnsafeRawBufferPointer) throws -> Void) rethrows {
        guard elementType == .string else { return }
        switch backing {
        case let .values(v):
            for (i, value) in v.enumerated() {
                guard case var .string(s) = value else { continue }
                try s.withUTF8 { try body(i, UnsafeRawBufferPointer($0)) }
            }
        case let .stored(storage, range):
            let base = storage.base
            var p = range.lowerBound
            for i in 0..<count {
                guard p + 8 <= range.upperBound else { return }
                let n = Int(truncatingIfNeeded: UInt64(littleEndian: base.loadUnaligned(fromByteOffset: p, as: UInt64.self)))
                p += 8
                guard n >= 0, n <= range.upperBound - p else { return }
                try body(i, UnsafeRawBufferPointer(start: base + p, count: n))
                p += n
            }
        }
    }

    /// The elements as Strings, or nil when this is not an array of strings.
    /// - Complexity: O(total bytes); one String per element (short ones are stored inline, no heap).
    public var strings: [String]? {
        guard elementType == .string else { return nil }
        if case let .values(v) = backing {
            return v.map { if case let .string(s) = $0 { s } else { "" } }
        }
        var out: [String] = []
        out.reserveCapacity(count)
        forEachStringBytes { _, bytes in out.append(String(decoding: bytes, as: UTF8.self)) }
        return out
    }

    /// The elements as Ints, or nil when the elements are not integers (or a u64 exceeds Int.max).
    public var ints: [Int]? {
        if case let .stored(storage, range) = backing, let size = elementType.fixedSize, elementType != .float32,
            elementType != .float64, elementType != .bool
        {
            var out = [Int](repeating: 0, count: count)
            let base = storage.base + range.lowerBound
            for i in 0..<count {
                let p = i * size
                switch elementType {
                case .uint8: out[i] = Int(base.load(fromByteOffset: p, as: UInt8.self))
                case .int8: out[i] = Int(base.load(fromByteOffset: p, as: Int8.self))
                case .uint16: out[i] = Int(UInt16(littleEndian: base.loadUnaligned(fromByteOffset: p, as: UInt16.self)))
                case .int16: out[i] = Int(Int16(littleEndian: base.loadUnaligned(fromByteOffset: p, as: Int16.self)))
                case .uint32: out[i] = Int(UInt32(littleEndian: base.loadUnaligned(fromByteOffset: p, as: UInt32.self)))
                case .int32: out[i] = Int(Int32(littleEndian: base.loadUnaligned(fromByteOffset: p, as: Int32.self)))
                case .int64: out[i] = Int(Int64(littleEndian: base.loadUnaligned(fromByteOffset: p, as: Int64.self)))
                case .uint64:
                    let v = UInt64(littleEndian: base.loadUnaligned(fromByteOffset: p, as: UInt64.self))
                    guard let iv = Int(exactly: v) else { return nil }
                    out[i] = iv
                default: return nil
                }
            }
            return out
        }
        var out: [Int] = []
        out.reserveCapacity(count)
        for v in values {
            guard let i = v.intValue else { return nil }
            out.append(i)
        }
        return out
    }

    /// The elements as Floats when they are f32, f64 or integers; nil otherwise.
    public var floats: [Float]? {
        if case let .stored(storage, range) = backing, elementType == .float32 {
            var out = [Float](repeating: 0, count: count)
            let base = storage.base + range.lowerBound
            for i in 0..<count {
                out[i] = Float(bitPattern: UInt32(littleEndian: base.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self)))
            }
            return out
        }
        var out: [Float] = []
        out.reserveCapacity(count)
        for v in values {
            guard let d = v.doubleValue else { return nil }
            out.append(Float(d))
        }
        return out
    }

    public static func == (a: GGUFArray, b: GGUFArray) -> Bool {
        a.elementType == b.elementType && a.count == b.count && a.values == b.values
    }

    public var description: String {
        let head = decode(limit: 3).map(\.description).joined(separator: ", ")
        return "[\(elementType) × \(count)]" + (count > 0 ? " [\(head)\(count > 3 ? ", …" : "")]" : "")
    }
}
