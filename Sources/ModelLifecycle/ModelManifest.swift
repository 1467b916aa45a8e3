// The signed description of one model release.

import Crypto
import EdgeLMEssentials
import GGUF

/// What a model version may be used for (checked by the task layer before running a task).
public enum TaskCapability: String, Codable, CaseIterable, Sendable {
    case suggest, draft, classify, prefill, decide
}

/// The signed description of one model release (JSON, see docs/lifecycle.md).
///
/// The signature is Ed25519 over ``canonicalBytes()``: the manifest encoded with sorted keys, no whitespace
/// and without the `signature` field. Every other field (including `url`) is covered.
public struct ModelManifest: Codable, Equatable, Sendable {
    /// Format version of the manifest itself.
    public var schemaVersion: Int = 1
    /// Model id: 1...128 characters of `[A-Za-z0-9._-]`, not starting with a dot.
    public var id: String
    public var version: SemVer
    /// Name of the GGUF file (informational; the store always saves it as `model.gguf`).
    public var fileName: String
    public var byteSize: Int
    /// Lowercase hex SHA-256 of the file.
    public var sha256: String
    /// `general.architecture`.
    public var architecture: String
    /// ggml names of the tensor types in the file, sorted (`["F32", "Q4_1"]`).
    public var ggmlTypes: [String]
    /// ``FileDigest/tokenizerFingerprint(of:)`` of the file's tokenizer metadata.
    public var tokenizerFingerprint: String
    /// The model's trained context length.
    public var contextLength: Int
    public var minEngineVersion: SemVer
    public var maxEngineVersion: SemVer
    /// Minimum bytes per built-in device profile name (``ModelShape/minimumMemory(on:)``).
    public var minimumMemory: [String: Int]
    public var capabilities: [TaskCapability]
    /// Optional HTTP(S) download URL of the file.
    public var url: String?
    /// Base64 Ed25519 signature over ``canonicalBytes()``; nil until signed.
    public var signature: String?

    /// The `id@version` key used in the store.
    public var key: String { "\(id)@\(version)" }

    public init(id: String, version: SemVer, fileName: String, byteSize: Int, sha256: String, architecture: String,
                ggmlTypes: [String], tokenizerFingerprint: String, contextLength: Int, minEngineVersion: SemVer,
                maxEngineVersion: SemVer, minimumMemory: [String: Int], capabilities: [TaskCapability],
                url: String? = nil, signature: String? = nil) {
        self.id = id; self.version = version; self.fileName = fileName; self.byteSize = byteSize
        self.sha256 = sha256; self.architecture = architecture; self.ggmlTypes = ggmlTypes
        self.tokenizerFingerprint = tokenizerFingerprint; self.contextLength = contextLength
        self.minEngineVersion = minEngineVersion; self.maxEngineVersion = maxEngineVersion
        self.minimumMemory = minimumMemory; self.capabilities = capabilities; self.url = url
        self.signature = signature
    }

    // MARK: Creation from a file

    /// Describes the GGUF file at `path`: streams its SHA-256 (1 MiB chunks), reads architecture, tensor
    /// types, context length and tokenizer fingerprint, and computes the minimum memory per built-in profile.
    /// The result is unsigned; call ``signed(with:)``.
    ///
    /// - Parameters:
    ///   - minEngineVersion: default ``EngineVersion/current``.
    ///   - maxEngineVersion: default `(current.major + 1).0.0` (the range is inclusive; pass a tighter bound
    ///     when a release is known to need a narrower range).
    ///   - measuredMemory: exact requirements per profile name from the engine (`edgelm manifest create`
    ///     passes Inference's `Session.memoryRequirement` totals); each entry is raised to at least
    ///     ``ModelShape/minimumMemory(on:)``, which is used for profiles without an entry.
    /// - Throws: ``LifecycleError``.
    /// - Complexity: O(file size) for the hash; the GGUF is memory-mapped, not read.
    public static func describe(modelAt path: String, id: String, version: SemVer,
                                minEngineVersion: SemVer = EngineVersion.current,
                                maxEngineVersion: SemVer? = nil,
                                capabilities: [TaskCapability] = TaskCapability.allCases,
                                url: String? = nil, measuredMemory: [String: Int] = [:]) throws -> ModelManifest {
        let facts = try ModelFacts(path: path)
        let (sha, size) = try FileDigest.sha256(ofFileAt: path)
        var memory: [String: Int] = [:]
        for p in DeviceMemoryProfile.all {
            let formula = facts.shape.minimumMemory(on: p)
            memory[p.name] = max(formula, measuredMemory[p.name] ?? formula)
        }
        let m = ModelManifest(
            id: id, version: version, fileName: URL(fileURLWithPath: path).lastPathComponent, byteSize: size,
            sha256: sha, architecture: facts.architecture, ggmlTypes: facts.ggmlTypes,
            tokenizerFingerprint: facts.tokenizerFingerprint, contextLength: facts.shape.contextLength,
            minEngineVersion: minEngineVersion,
            maxEngineVersion: maxEngineVersion ?? SemVer(EngineVersion.current.major + 1, 0, 0),
            minimumMemory: memory, capabilities: capabilities, url: url)
        try m.validate()
        return m
    }

    // MARK: Encoding

    /// The bytes the signature covers: JSON with sorted keys, no whitespace, no `signature` field.
    public func canonicalBytes() throws -> Data {
        var unsigned = self
        unsigned.signature = nil
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try e.encode(unsigned)
    }

    /// Pretty JSON for writing to disk (signature included).
    public func encodedForFile() throws -> Data {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return try e.encode(self) + Data("\n".utf8)
    }

    /// Decodes and validates a manifest.
    /// - Throws: ``LifecycleError/corruptManifest(_:)`` for bad JSON, ``LifecycleError/invalidManifest(_:)``
    ///   for bad field values.
    public static func decode(_ data: Data) throws -> ModelManifest {
        let m: ModelManifest
        do {
            m = try JSONDecoder().decode(ModelManifest.self, from: data)
        } catch let e as LifecycleError {
            throw LifecycleError.corruptManifest("\(e)")
        } catch let DecodingError.dataCorrupted(ctx) {
            throw LifecycleError.corruptManifest(ctx.debugDescription + Self.path(ctx.codingPath))
        } catch let DecodingError.keyNotFound(key, _) {
            throw LifecycleError.corruptManifest("missing field '\(key.stringValue)'")
        } catch let DecodingError.typeMismatch(_, ctx) {
            throw LifecycleError.corruptManifest("wrong type" + Self.path(ctx.codingPath))
        } catch let DecodingError.valueNotFound(_, ctx) {
            throw LifecycleError.corruptManifest("null value" + Self.path(ctx.codingPath))
        } catch {
            throw LifecycleError.corruptManifest("\(error)")
        }
        try m.validate()
        return m
    }

    private static func path(_ p: [CodingKey]) -> String {
        p.isEmpty ? "" : " at '" + p.map(\.stringValue).joined(separator: ".") + "'"
    }

    /// Reads and decodes the manifest file at `path`.
    public static func load(from path: String) throws -> ModelManifest {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw LifecycleError.io(operation: "read manifest", path: path, errno: ENOENT)
        }
        return try decode(data)
    }

    /// Checks field values that the store relies on (ids become directory names).
    /// - Throws: ``LifecycleError/invalidManifest(_:)``.
    public func validate() throws {
        guard schemaVersion == 1 else { throw LifecycleError.invalidManifest("schemaVersion \(schemaVersion) (this engine reads 1)") }
        guard Self.isValidID(id) else {
            throw LifecycleError.invalidManifest("id '\(id)' must be 1...128 characters of [A-Za-z0-9._-], not starting with '.'")
        }
        guard byteSize > 0 else { throw LifecycleError.invalidManifest("byteSize \(byteSize) must be positive") }
        guard sha256.count == 64, sha256.allSatisfy({ $0.isHexDigit && !$0.isUppercase }) else {
            throw LifecycleError.invalidManifest("sha256 must be 64 lowercase hex digits")
        }
        guard tokenizerFingerprint.count == 64, tokenizerFingerprint.allSatisfy(\.isHexDigit) else {
            throw LifecycleError.invalidManifest("tokenizerFingerprint must be 64 hex digits")
        }
        guard minEngineVersion <= maxEngineVersion else {
            throw LifecycleError.invalidManifest("minEngineVersion \(minEngineVersion) > maxEngineVersion \(maxEngineVersion)")
        }
        if let url, !(url.hasPrefix("http://") || url.hasPrefix("https://")) {
            throw LifecycleError.invalidManifest("url '\(url)' must be http:// or https://")
        }
    }

    /// Whether `id` is safe as a directory name component.
    public static func isValidID(_ id: String) -> Bool {
        !id.isEmpty && id.utf8.count <= 128 && id.first != "." &&
            id.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "_" || $0 == "-") }
    }

    // MARK: Signing

    /// A copy signed with `key` (Ed25519 over ``canonicalBytes()``).
    public func signed(with key: Curve25519.Signing.PrivateKey) throws -> ModelManifest {
        var m = self
        m.signature = try key.signature(for: canonicalBytes()).base64EncodedString()
        return m
    }

    /// Verifies the signature with `publicKey`.
    /// - Throws: ``LifecycleError/badSignature(_:)`` when absent, malformed or not matching.
    public func verifySignature(_ publicKey: Curve25519.Signing.PublicKey) throws {
        guard let signature else { throw LifecycleError.badSignature("the manifest is not signed") }
        guard let sig = Data(base64Encoded: signature), sig.count == 64 else {
            throw LifecycleError.badSignature("the signature is not 64 bytes of base64")
        }
        guard publicKey.isValidSignature(sig, for: try canonicalBytes()) else {
            throw LifecycleError.badSignature("the signature does not match the manifest for this public key")
        }
    }

    // MARK: Compatibility

    /// Checks the manifest's claims against this engine and `profile` (before any download):
    /// engine version range, architecture, tensor types and memory.
    /// - Throws: ``LifecycleError/incompatibleEngine(engine:min:max:)``,
    ///   ``LifecycleError/unsupportedArchitecture(_:)``, ``LifecycleError/unsupportedTensorTypes(_:)``,
    ///   ``LifecycleError/exceedsDeviceMemory(profile:needed:cap:)``.
    public func checkCompatibility(engine: SemVer = EngineVersion.current, profile: DeviceMemoryProfile) throws {
        guard minEngineVersion <= engine, engine <= maxEngineVersion else {
            throw LifecycleError.incompatibleEngine(engine: "\(engine)", min: "\(minEngineVersion)", max: "\(maxEngineVersion)")
        }
        guard Compatibility.supportedArchitectures.contains(architecture) else {
            throw LifecycleError.unsupportedArchitecture(architecture)
        }
        let unsupported = ggmlTypes.filter { !Compatibility.supportedTypeNames.contains($0) }
        guard unsupported.isEmpty else { throw LifecycleError.unsupportedTensorTypes(unsupported) }
        guard let needed = minimumMemory[profile.name] else {
            throw LifecycleError.invalidManifest("no minimumMemory entry for device profile '\(profile.name)'")
        }
        guard needed <= profile.memoryCap else {
            throw LifecycleError.exceedsDeviceMemory(profile: profile.name, needed: needed, cap: profile.memoryCap)
        }
    }

    /// Checks that the GGUF file at `path` really is what the manifest says (architecture, tensor types,
    /// context length, tokenizer fingerprint, memory figures). Size and SHA-256 are checked by the caller.
    /// - Throws: ``LifecycleError/fileDoesNotMatchManifest(_:)`` or ``LifecycleError/unreadableModel(_:)``.
    public func checkMatches(modelAt path: String) throws {
        let facts = try ModelFacts(path: path)
        if facts.tokenizerFingerprint != tokenizerFingerprint {
            throw LifecycleError.fileDoesNotMatchManifest(
                "tokenizer fingerprint \(facts.tokenizerFingerprint.prefix(16))… ≠ manifest \(tokenizerFingerprint.prefix(16))…")
        }
        if facts.architecture != architecture {
            throw LifecycleError.fileDoesNotMatchManifest("architecture \(facts.architecture) ≠ manifest \(architecture)")
        }
        if facts.ggmlTypes != ggmlTypes.sorted() {
            throw LifecycleError.fileDoesNotMatchManifest("tensor types \(facts.ggmlTypes) ≠ manifest \(ggmlTypes)")
        }
        if facts.shape.contextLength != contextLength {
            throw LifecycleError.fileDoesNotMatchManifest("context length \(facts.shape.contextLength) ≠ manifest \(contextLength)")
        }
        for p in DeviceMemoryProfile.all {
            let actual = facts.shape.minimumMemory(on: p)
            if let claimed = minimumMemory[p.name], claimed < actual {
                throw LifecycleError.fileDoesNotMatchManifest("minimum memory on \(p.name) is \(actual), manifest claims \(claimed)")
            }
        }
    }
}

/// Facts read from a GGUF file for the manifest.
struct ModelFacts {
    var architecture: String
    var ggmlTypes: [String]
    var tokenizerFingerprint: String
    var shape: ModelShape

    init(path: String) throws {
        let file: GGUFFile
        do { file = try GGUFFile(path: path) } catch { throw LifecycleError.unreadableModel("\(error)") }
        do { architecture = try file.metadata.string(GGUFKey.architecture) } catch {
            throw LifecycleError.unreadableModel("\(error)")
        }
        ggmlTypes = Set(file.tensors.map(\.type.name)).sorted()
        tokenizerFingerprint = try FileDigest.tokenizerFingerprint(of: file.metadata)
        shape = try ModelShape(file: file)
    }
}
