// DeviceProfile: the device classes EdgeLM is sized for (memory cap, threads, context, output budget, KV type,
// weight residency), the built-in table and user profiles from JSON. The one source of truth for device
// memory caps: Inference's MemoryBudget and ModelLifecycle's DeviceMemoryProfile both read this table.

import EdgeLMEssentials

/// Where the weights live while a session runs.
public enum WeightResidency: String, Codable, Sendable, CaseIterable {
    /// The file mapping keeps every page it has touched (fastest; RSS grows to the whole file).
    case resident
    /// Pages of each layer (and of the output head, in row chunks) are released with `madvise(MADV_DONTNEED)`
    /// right after use, so at most one layer's window is resident; every token re-faults the weights from
    /// the page cache (slower, see docs/memory.md).
    case streamed
}

/// Element type of the KV cache.
public enum KVCacheType: String, Codable, Sendable, CaseIterable {
    /// 2 bytes per element; attention bit-identical with llama.cpp's default (f16 cache, no flash attention).
    case f16
    /// ggml Q8_0 blocks (32 elements in 34 bytes, 1.0625 B/element: 47 % less than f16); a separate attention
    /// path (dequantized K·q, f32 softmax, P·V accumulated per row). Needs a head size that is a multiple of 32.
    case q8_0
    /// ggml Q4_0 blocks (32 elements in 18 bytes, 0.5625 B/element). Measured fidelity in docs/memory.md.
    case q4_0

    /// Bytes one row of `count` elements takes (`count` a multiple of 32 for the block types).
    public func rowBytes(_ count: Int) -> Int {
        switch self {
        case .f16: return count * 2
        case .q8_0: return count / 32 * 34
        case .q4_0: return count / 32 * 18
        }
    }
}

/// What a session does when the next token would not fit its context.
///
/// Written in profiles and on the command line as `refuse`, `sliding-window[:SINKS]` (default 4 sinks) or
/// `context-shift[:KEEP]` (default keep 4).
public enum KVCachePolicy: Sendable, Hashable, Codable, CustomStringConvertible {
    /// Throw `InferenceError.contextOverflow` (nothing is evaluated).
    case refuse
    /// Keep the first `sinks` tokens ("attention sinks") and the most recent ones: drop exactly as many of the
    /// oldest tokens after the sinks as the new input needs, re-rotating the kept keys (one shift per step
    /// once the context is full).
    case slidingWindow(sinks: Int)
    /// llama.cpp's context shift: keep the first `keep` tokens, drop half of the rest (`n_discard =
    /// (n_past − n_keep) / 2`, at least what the new input needs) and re-rotate the later keys by the shift.
    case contextShift(keep: Int)

    public static let defaultSinks = 4

    /// Parses `refuse`, `sliding-window[:N]`, `context-shift[:N]` (also `_` for `-`).
    /// - Throws: ``DeviceProfileError/invalidField(_:reason:source:)`` for field `kv_policy`.
    public init(parsing text: String) throws {
        let t = text.trimmingWhitespace().lowercased().replacing("_", with: "-")
        let parts = t.split(separator: ":", maxSplits: 1).map(String.init)
        let n: Int?
        if parts.count == 2 {
            guard let v = Int(parts[1]), v >= 0 else {
                throw DeviceProfileError.invalidField("kv_policy", reason: "'\(text)': the count after ':' must be a non-negative integer", source: "<policy>")
            }
            n = v
        } else { n = nil }
        switch parts.first ?? "" {
        case "refuse" where n == nil: self = .refuse
        case "sliding-window": self = .slidingWindow(sinks: n ?? Self.defaultSinks)
        case "context-shift": self = .contextShift(keep: n ?? Self.defaultSinks)
        default:
            throw DeviceProfileError.invalidField("kv_policy", reason: "'\(text)' is not a KV policy (use refuse, sliding-window[:SINKS] or context-shift[:KEEP])", source: "<policy>")
        }
    }

    /// The tokens kept at the start of the context (sinks / keep), 0 for ``refuse``.
    public var keptPrefix: Int {
        switch self {
        case .refuse: return 0
        case .slidingWindow(let s): return s
        case .contextShift(let k): return k
        }
    }

    public var description: String {
        switch self {
        case .refuse: return "refuse"
        case .slidingWindow(let s): return "sliding-window:\(s)"
        case .contextShift(let k): return "context-shift:\(k)"
        }
    }

    public init(from decoder: Decoder) throws {
        let s = try decoder.singleValueContainer().decode(String.self)
        do { self = try KVCachePolicy(parsing: s) } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "\(error)"))
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
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
    /// What a session does when its context is full.
    public var kvPolicy: KVCachePolicy
    /// Sessions expected to run at once in one process (they share the weights; each has its own KV cache,
    /// scratch and threads). The memory cap covers all of them.
    public var concurrentSessions: Int

    public init(name: String, memoryCap: Int, threads: Int, contextLength: Int, maxOutputTokens: Int,
                kvType: KVCacheType = .f16, residency: WeightResidency = .resident, batch: Int = 64,
                kvPolicy: KVCachePolicy = .refuse, concurrentSessions: Int = 1) {
        self.name = name
        self.memoryCap = memoryCap
        self.threads = threads
        self.contextLength = contextLength
        self.maxOutputTokens = maxOutputTokens
        self.kvType = kvType
        self.residency = residency
        self.batch = batch
        self.kvPolicy = kvPolicy
        self.concurrentSessions = concurrentSessions
    }

    enum CodingKeys: String, CodingKey {
        case name, memoryCap = "memory_cap", threads, contextLength = "context_length"
        case maxOutputTokens = "max_output_tokens", kvType = "kv_type", residency = "weight_residency", batch
        case kvPolicy = "kv_policy", concurrentSessions = "concurrent_sessions"
    }

    public static let mib = 1 << 20
    public static let gib = 1 << 30

    public static let wearable = DeviceProfile(name: "wearable", memoryCap: 64 * mib, threads: 1, contextLength: 512,
                                               maxOutputTokens: 128, residency: .streamed, batch: 8,
                                               kvPolicy: .slidingWindow(sinks: 4))
    public static let phoneLow = DeviceProfile(name: "phone-low", memoryCap: 256 * mib, threads: 2, contextLength: 1024,
                                               maxOutputTokens: 256, batch: 32, kvPolicy: .contextShift(keep: 4))
    public static let phone = DeviceProfile(name: "phone", memoryCap: 1 * gib, threads: 4, contextLength: 4096,
                                            maxOutputTokens: 512, batch: 64, kvPolicy: .contextShift(keep: 4))
    public static let laptop = DeviceProfile(name: "laptop", memoryCap: 4 * gib, threads: 8, contextLength: 8192,
                                             maxOutputTokens: 1024, batch: 64, kvPolicy: .contextShift(keep: 4))
    public static let edgeServer = DeviceProfile(name: "edge-server", memoryCap: 16 * gib, threads: 16, contextLength: 8192,
                                                 maxOutputTokens: 2048, batch: 64, kvPolicy: .contextShift(keep: 4),
                                                 concurrentSessions: 4)

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
        do { data = Data(try readFileBytes(path)) } catch {
            throw DeviceProfileError.cannotRead(path: path, reason: error.reason)
        }
        return try decode(data, source: path)
    }

    /// Decodes and validates a profile:
    ///
    ///     {"name": "kiosk", "memory_cap": "96MiB", "threads": 2, "context_length": 1024,
    ///      "max_output_tokens": 256, "kv_type": "q8_0", "weight_residency": "streamed", "batch": 16,
    ///      "kv_policy": "sliding-window:4", "concurrent_sessions": 1}
    ///
    /// `memory_cap` is a byte count or a string with a unit (B, KiB, MiB, GiB); `kv_type` (f16, q8_0, q4_0;
    /// default f16), `weight_residency` (default resident), `batch` (default 64), `kv_policy` (refuse,
    /// sliding-window[:SINKS], context-shift[:KEEP]; default refuse) and `concurrent_sessions` (default 1)
    /// are optional.
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
                              residency: raw.residency ?? .resident, batch: raw.batch ?? 64,
                              kvPolicy: raw.kvPolicy ?? .refuse, concurrentSessions: raw.concurrentSessions ?? 1)
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
        guard (1...1024).contains(concurrentSessions) else { throw bad("concurrent_sessions", "must be in 1…1024, got \(concurrentSessions)") }
        guard kvPolicy.keptPrefix < contextLength else {
            throw bad("kv_policy", "keeps \(kvPolicy.keptPrefix) tokens, which must be fewer than context_length \(contextLength)")
        }
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
    var kvPolicy: KVCachePolicy?
    var concurrentSessions: Int?
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
        let s = text.trimmingWhitespace()
        let numberPart = s.prefix { $0.isNumber || $0 == "." }
        let unit = s.dropFirst(numberPart.count).trimmingWhitespace().lowercased()
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
        if bytes >= 1 << 30 { return (b / Double(1 << 30)).fixed(2) + " GiB" }
        if bytes >= 1 << 20 { return (b / Double(1 << 20)).fixed(1) + " MiB" }
        if bytes >= 1 << 10 { return (b / Double(1 << 10)).fixed(1) + " KiB" }
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
