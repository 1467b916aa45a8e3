// GGUFMetadata: the key/value section of a GGUF file, with typed accessors.

/// The metadata of a GGUF file: ordered keys and their values, with typed accessors.
///
/// Accessors throw ``GGUFError/keyNotFound(_:)`` for a missing key and ``GGUFError/typeMismatch(key:expected:found:)``
/// for a wrong type; the `optional…` variants return nil for a missing key but still throw on a wrong type.
/// Array values read from a file keep the file's bytes alive (they are decoded on demand).
public struct GGUFMetadata: Sendable {
    /// Keys in file order.
    public var keys: [String]
    private var values: [GGUFValue]
    private var index: [String: Int]

    /// Builds metadata from ordered key/value pairs (used by tests and tools; files are parsed by ``GGUFFile``).
    /// - Throws: ``GGUFError/duplicateKey(key:offset:)`` (offset -1) when a key repeats.
    public init(_ entries: [(key: String, value: GGUFValue)] = []) throws {
        keys = []
        values = []
        index = [:]
        for (k, v) in entries { try append(k, v, offset: -1) }
    }

    mutating func append(_ key: String, _ value: GGUFValue, offset: Int) throws {
        guard index[key] == nil else { throw GGUFError.duplicateKey(key: key, offset: offset) }
        index[key] = values.count
        keys.append(key)
        values.append(value)
    }

    /// Number of key/value pairs.
    public var count: Int { keys.count }

    /// The ordered key/value pairs.
    public var entries: [(key: String, value: GGUFValue)] { Array(zip(keys, values)) }

    /// The value for `key`, or nil. - Complexity: O(1) average.
    public subscript(key: String) -> GGUFValue? {
        index[key].map { values[$0] }
    }

    /// True when `key` is present.
    public func contains(_ key: String) -> Bool { index[key] != nil }

    private func require(_ key: String) throws -> GGUFValue {
        guard let v = self[key] else { throw GGUFError.keyNotFound(key) }
        return v
    }

    private func requireArray(_ key: String) throws -> GGUFArray {
        let v = try require(key)
        guard case let .array(a) = v else { throw GGUFError.typeMismatch(key: key, expected: "array", found: "\(v.type)") }
        return a
    }

    // MARK: Scalars

    /// A string value.
    public func string(_ key: String) throws -> String {
        let v = try require(key)
        guard case let .string(s) = v else { throw GGUFError.typeMismatch(key: key, expected: "string", found: "\(v.type)") }
        return s
    }

    /// Any integer value (u8…i64) as Int.
    /// - Throws: ``GGUFError/valueOutOfRange(key:value:)`` for a u64 above Int.max.
    public func int(_ key: String) throws -> Int {
        let v = try require(key)
        if case let .uint64(u) = v, Int(exactly: u) == nil {
            throw GGUFError.valueOutOfRange(key: key, value: String(u))
        }
        guard let i = v.intValue else { throw GGUFError.typeMismatch(key: key, expected: "integer", found: "\(v.type)") }
        return i
    }

    /// An f32 or f64 value (integers are converted too).
    public func float(_ key: String) throws -> Float {
        let v = try require(key)
        guard let d = v.doubleValue else { throw GGUFError.typeMismatch(key: key, expected: "number", found: "\(v.type)") }
        return Float(d)
    }

    /// A bool value.
    public func bool(_ key: String) throws -> Bool {
        let v = try require(key)
        guard case let .bool(b) = v else { throw GGUFError.typeMismatch(key: key, expected: "bool", found: "\(v.type)") }
        return b
    }

    /// A string value, or nil when `key` is absent.
    public func optionalString(_ key: String) throws -> String? { contains(key) ? try string(key) : nil }
    /// An integer value, or nil when `key` is absent.
    public func optionalInt(_ key: String) throws -> Int? { contains(key) ? try int(key) : nil }
    /// A number, or nil when `key` is absent.
    public func optionalFloat(_ key: String) throws -> Float? { contains(key) ? try float(key) : nil }
    /// A bool, or nil when `key` is absent.
    public func optionalBool(_ key: String) throws -> Bool? { contains(key) ? try bool(key) : nil }

    // MARK: Arrays

    /// An array of strings (e.g. `tokenizer.ggml.tokens`).
    /// - Complexity: O(total bytes); about 3 ms for 49152 tokens. Allocates the result array only.
    public func stringArray(_ key: String) throws -> [String] {
        let a = try requireArray(key)
        guard let s = a.strings else {
            throw GGUFError.typeMismatch(key: key, expected: "array of string", found: "array of \(a.elementType)")
        }
        return s
    }

    /// An array of integers (any integer element type) as Ints.
    public func intArray(_ key: String) throws -> [Int] {
        let a = try requireArray(key)
        guard let i = a.ints else {
            throw GGUFError.typeMismatch(key: key, expected: "array of integers", found: "array of \(a.elementType)")
        }
        return i
    }

    /// An array of numbers (f32, f64 or integers) as Floats.
    public func floatArray(_ key: String) throws -> [Float] {
        let a = try requireArray(key)
        guard let f = a.floats else {
            throw GGUFError.typeMismatch(key: key, expected: "array of numbers", found: "array of \(a.elementType)")
        }
        return f
    }

    /// The raw array value for `key` (any element type).
    public func array(_ key: String) throws -> GGUFArray { try requireArray(key) }

    /// A string array, or nil when `key` is absent.
    public func optionalStringArray(_ key: String) throws -> [String]? { contains(key) ? try stringArray(key) : nil }
    /// An integer array, or nil when `key` is absent.
    public func optionalIntArray(_ key: String) throws -> [Int]? { contains(key) ? try intArray(key) : nil }
    /// A number array, or nil when `key` is absent.
    public func optionalFloatArray(_ key: String) throws -> [Float]? { contains(key) ? try floatArray(key) : nil }

    /// Number of elements of the array at `key` without decoding it (e.g. the vocabulary size).
    public func arrayCount(_ key: String) throws -> Int { try requireArray(key).count }
}
