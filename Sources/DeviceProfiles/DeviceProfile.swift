// DeviceProfile: the device classes EdgeLM is sized for (memory cap, threads, context, output budget, KV type,
// weight residency), the built-in table and user profiles from JSON. The one source of truth for device
// memory caps: Inference's MemoryBudget and ModelLifecycle's DeviceMemoryProfile both read this table.

import Foundation

/// Where the weights live while a session runs.
public enum WeightResidency: String, Codable, Sendable, CaseIterable {
    /// The file mapping keeps every page it has touched (fastest; RSS grows to the whole file).
    case resident
    /// Pages of each layer (and of the output head, in row chunks) are released with `madvise(MADV_DONTNEED)`
    /// right after use, so at most one layer's window is resident; every token re-faults the weights from
    /// the page cache (slower, see docs/memory.md).
    case streamed
}

/// Element type of the KV cache. Only f16 is implemented (bit-identical with llama.cpp's default).
public enum KVCacheType: String, Codable, Sendable, CaseIterable {
    case f16
}

/// A class of devices: everything a session on it is sized by.
public struct DeviceProfile: Sendable, Hashable, Codable {
    /// Stable name (command line, manifests).
    public var name: String
    /// Bytes the whole engine may keep resident (weights, KV cache, scratch, tokenizer, threads, runtime).
    public var memoryCap: Int
    /// Compute threads including the caller's.
    public var threads: Int
    /// Context length the KV cache is sized for (capped by the model's own trained context).
    public var contextLength: Int
    /// Most tokens one request may generate.
    public var maxOutputTokens: Int
    /// KV cache element type.
    public var kvType: KVCacheType
    /// Weight residency.
    public var residency: WeightResidency
    /// Prefill batch the scratch buffers are sized for (scratch grows linearly with it).
    public var batch: Int

    public init(name: String, memoryCap: Int, threads: Int, contextLength: Int, maxOutputTokens: Int,
                kvType: KVCacheType = .f16, residency: WeightResidency = .resident, batch: Int = 64) {
        self.name = name
        self.memoryCap = memoryCap
        self.threads = threads
        self.contextLength = contextLength
        self.maxOutputTokens = maxOutputTokens
        self.kvType = kvType
        self.residency = residency
        self.batch = batch
    }

    enum CodingKeys: String, CodingKey {
        case name, memoryCap = "memory_cap", threads, contextLength = "context_length"
        case maxOutputTokens = "max_output_tokens", kvType = "kv_type", residency = "weight_residency", batch
    }

    public static let mib = 1 << 20
    public static let gib = 1 << 30

    public static let wearable = DeviceProfile(name: "wearable", memoryCap: 64 * mib, threads: 1, contextLength: 512,
                                               maxOutputTokens: 128, residency: .streamed, batch: 8)
    public static let phoneLow = DeviceProfile(name: "phone-low", memoryCap: 256 * mib, threads: 2, contextLength: 1024,
                                               maxOutputTokens: 256, batch: 32)
    public static let phone = DeviceProfile(name: "phone", memoryCap: 1 * gib, threads: 4, contextLength: 4096,
                                            maxOutputTokens: 512, batch: 64)
    public static let laptop = DeviceProfile(name: "laptop", memoryCap: 4 * gib, threads: 8, contextLength: 8192,
                                             maxOutputTokens: 1024, batch: 64)
    public static let edgeServer = DeviceProfile(name: "edge-server", memoryCap: 16 * gib, threads: 16, contextLength: 8192,
                                                 maxOutputTokens: 2048, batch: 64)

    /// Every built-in profile, smallest first.
    public static let builtIns: [DeviceProfile] = [wearable, phoneLow, phone, laptop, edgeServer]

    /// The built-in profile called `name`, or nil.
    public static func builtIn(named name: String) -> DeviceProfile? { builtIns.first { $0.name == name } }

    /// A built-in name, or else the path of a JSON profile file.
    /// - Throws: ``DeviceProfileError``.
    public static func resolve(_ nameOrPath: String) throws -> DeviceProfile {
        if let p = builtIn(named: nameOrPath) { return p }
        guard nameOrPath.contains("/") || nameOrPath.hasSuffix(".json") || FileManager.default.fileExists(atPath: nameOrPath) else {
            throw DeviceProfileError.unknownProfile(nameOrPath, available: builtIns.map(\.name))
        }
        return try load(path: nameOrPath)
    }

    /// Reads a profile from a JSON file (see ``decode(_:source:)`` for the format).
    /// - Throws: ``DeviceProfileError/cannotRead(path:reason:)`` and the decoding errors.
    public static func load(path: String) throws -> DeviceProfile {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw DeviceProfileError.cannotRead(path: path, reason: (error as NSError).localizedDescription)
        }
        return try decode(data, source: path)
    }

    /// Decodes and validates a profile:
    ///
    ///     {"name": "kiosk", "memory_cap": "96MiB", "threads": 2, "context_length": 1024,
    ///      "max_output_tokens": 256, "kv_type": "f16", "weight_residency": "streamed", "batch": 16}
    ///
    /// `memory_cap` is a byte count or a string with a unit (B, KiB, MiB, GiB); `kv_type` (default f16),
    /// `weight_residency` (default resident) and `batch` (default 64) are optional.
    /// - Throws: ``DeviceProfileError`` naming the field and a fix.
    public static func decode(_ data: Data, source: String = "<json>") throws -> DeviceProfile {
        let raw: RawProfile
        do { raw = try JSONDecoder().decode(RawProfile.self, from: data) } catch let e as DecodingError {
            switch e {
            case .keyNotFound(let key, _):
                throw DeviceProfileError.missingField(key.stringValue, source: source)
            case .typeMismatch(_, let ctx), .valueNotFound(_, let ctx):
                throw DeviceProfileError.invalidField(ctx.codingPath.map(\.stringValue).joined(separator: "."),
                                                      reason: ctx.debugDescription, source: source)
            case .dataCorrupted(let ctx):
                if let key = ctx.codingPath.last {
                    throw DeviceProfileError.invalidField(key.stringValue, reason: ctx.debugDescription, source: source)
                }
                throw DeviceProfileError.invalidJSON(source: source, reason: ctx.debugDescription)
            @unknown default:
                throw DeviceProfileError.invalidJSON(source: source, reason: "\(e)")
            }
        } catch {
            throw DeviceProfileError.invalidJSON(source: source, reason: "\(error)")
        }
        let cap: Int
        switch raw.memoryCap {
        case .bytes(let b): cap = b
        case .text(let s):
            do { cap = try ByteCount.parse(s) } catch {
                throw DeviceProfileError.invalidField("memory_cap", reason: "\(error)", source: source)
            }
        }
        let p = DeviceProfile(name: raw.name, memoryCap: cap, threads: raw.threads, contextLength: raw.contextLength,
                              maxOutputTokens: raw.maxOutputTokens, kvType: raw.kvType ?? .f16,
                              residency: raw.residency ?? .resident, batch: raw.batch ?? 64)
        try p.validate(source: source)
        return p
    }

    /// Checks every field is in range.
    /// - Throws: ``DeviceProfileError/invalidField(_:reason:source:)``.
    public func validate(source: String = "<profile>") throws {
        func bad(_ f: String, _ r: String) -> DeviceProfileError { .invalidField(f, reason: r, source: source) }
        guard !name.isEmpty else { throw bad("name", "must not be empty") }
        guard memoryCap > 0 else { throw bad("memory_cap", "must be positive, got \(memoryCap)") }
        guard (1...256).contains(threads) else { throw bad("threads", "must be in 1…256, got \(threads)") }
        guard contextLength > 0 else { throw bad("context_length", "must be positive, got \(contextLength)") }
        guard maxOutputTokens > 0 else { throw bad("max_output_tokens", "must be positive, got \(maxOutputTokens)") }
        guard batch > 0 else { throw bad("batch", "must be positive, got \(batch)") }
    }

    /// The JSON form of this profile (the format ``decode(_:source:)`` reads).
    public func jsonData() throws -> Data {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .prettyPrinted]
        return try e.encode(self)
    }
}

/// The lenient wire form: `memory_cap` as a number or a string with a unit.
private struct RawProfile: Decodable {
    enum Cap: Decodable {
        case bytes(Int), text(String)
        init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let i = try? c.decode(Int.self) { self = .bytes(i); return }
            if let s = try? c.decode(String.self) { self = .text(s); return }
            throw DecodingError.typeMismatch(Int.self, .init(codingPath: decoder.codingPath,
                debugDescription: "expected a byte count or a string such as \"64MiB\""))
        }
    }
    var name: String
    var memoryCap: Cap
    var threads: Int
    var contextLength: Int
    var maxOutputTokens: Int
    var kvType: KVCacheType?
    var residency: WeightResidency?
    var batch: Int?
    typealias CodingKeys = DeviceProfile.CodingKeys
}

/// Errors reading or validating a device profile.
public enum DeviceProfileError: Error, Equatable, CustomStringConvertible {
    case unknownProfile(String, available: [String])
    case cannotRead(path: String, reason: String)
    case invalidJSON(source: String, reason: String)
    case missingField(String, source: String)
    case invalidField(String, reason: String, source: String)

    public var description: String {
        switch self {
        case .unknownProfile(let n, let a):
            return "unknown device profile '\(n)' (hint: use one of \(a.joined(separator: ", ")) or the path of a JSON profile file)"
        case .cannotRead(let p, let r):
            return "cannot read profile file \(p): \(r) (hint: check the path)"
        case .invalidJSON(let s, let r):
            return "profile \(s) is not valid JSON: \(r) (hint: a profile is one JSON object, see docs/memory.md)"
        case .missingField(let f, let s):
            return "profile \(s) lacks the required field '\(f)' (hint: required: name, memory_cap, threads, context_length, max_output_tokens)"
        case .invalidField(let f, let r, let s):
            return "profile \(s): field '\(f)' is invalid: \(r) (hint: see docs/memory.md for the profile format)"
        }
    }
}

/// Byte counts written by people: `123`, `64MiB`, `1.5 GiB`, `512KiB`, `100B`.
public enum ByteCount {
    /// Parses a byte count with an optional binary unit (B, KiB, MiB, GiB, TiB; also K/M/G/T, case-insensitive).
    /// - Throws: ``ByteCountError`` for an empty, malformed, non-positive or overflowing value.
    public static func parse(_ text: String) throws -> Int {
        let s = text.trimmingCharacters(in: .whitespaces)
        let numberPart = s.prefix { $0.isNumber || $0 == "." }
        let unit = s.dropFirst(numberPart.count).trimmingCharacters(in: .whitespaces).lowercased()
        guard !numberPart.isEmpty, let value = Double(numberPart) else { throw ByteCountError.malformed(text) }
        let multiplier: Double
        switch unit {
        case "", "b": multiplier = 1
        case "k", "kib", "kb": multiplier = 1024
        case "m", "mib", "mb": multiplier = 1024 * 1024
        case "g", "gib", "gb": multiplier = 1024 * 1024 * 1024
        case "t", "tib", "tb": multiplier = 1024 * 1024 * 1024 * 1024
        default: throw ByteCountError.unknownUnit(text, unit: unit)
        }
        let bytes = (value * multiplier).rounded()
        guard bytes >= 1 else { throw ByteCountError.notPositive(text) }
        guard bytes < 9.0e18 else { throw ByteCountError.tooLarge(text) }
        return Int(bytes)
    }

    /// `67108864` → `"64.0 MiB"`.
    public static func format(_ bytes: Int) -> String {
        let b = Double(bytes)
        if bytes >= 1 << 30 { return String(format: "%.2f GiB", b / Double(1 << 30)) }
        if bytes >= 1 << 20 { return String(format: "%.1f MiB", b / Double(1 << 20)) }
        if bytes >= 1 << 10 { return String(format: "%.1f KiB", b / Double(1 << 10)) }
        return "\(bytes) B"
    }
}

/// A byte count that could not be parsed.
public enum ByteCountError: Error, Equatable, CustomStringConvertible {
    case malformed(String), unknownUnit(String, unit: String), notPositive(String), tooLarge(String)
    public var description: String {
        switch self {
        case .malformed(let t): return "'\(t)' is not a byte count (hint: e.g. 67108864, 64MiB, 1.5GiB)"
        case .unknownUnit(let t, let u): return "'\(t)' has an unknown unit '\(u)' (hint: use B, KiB, MiB or GiB)"
        case .notPositive(let t): return "'\(t)' must be at least 1 byte"
        case .tooLarge(let t): return "'\(t)' is too large"
        }
    }
}
