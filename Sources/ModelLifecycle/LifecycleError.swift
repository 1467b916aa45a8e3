// Typed errors of the model lifecycle: every case names the cause and carries a hint.

import EdgeLMEssentials

/// Everything that can go wrong while creating, verifying, installing or switching models.
///
/// Every failure of ``ModelStore/install(manifestAt:publicKey:source:progress:)`` leaves the active model
/// untouched; the case names the cause.
public enum LifecycleError: Error, CustomStringConvertible, Equatable, Sendable {
    /// A version string is not `MAJOR.MINOR.PATCH[-prerelease]`.
    case invalidVersion(String)
    /// The manifest bytes are not valid manifest JSON (truncated, wrong types, missing fields).
    case corruptManifest(String)
    /// The manifest decodes but a field is invalid (e.g. an id with a path separator).
    case invalidManifest(String)
    /// The Ed25519 signature is missing or does not verify with the given public key.
    case badSignature(String)
    /// A key file or base64 key is malformed.
    case invalidKey(String)
    /// The model file's size differs from the manifest's.
    case sizeMismatch(expected: Int, actual: Int)
    /// The model file's SHA-256 differs from the manifest's.
    case checksumMismatch(expected: String, actual: String)
    /// This engine's version is outside the manifest's `[minEngineVersion, maxEngineVersion]`.
    case incompatibleEngine(engine: String, min: String, max: String)
    /// The architecture is not one this engine runs.
    case unsupportedArchitecture(String)
    /// Tensor types this engine has no kernels for.
    case unsupportedTensorTypes([String])
    /// The model needs more memory than the device profile allows.
    case exceedsDeviceMemory(profile: String, needed: Int, cap: Int)
    /// The file's tokenizer (or architecture/types/context) differs from what the manifest claims.
    case fileDoesNotMatchManifest(String)
    /// The file is not a readable GGUF model.
    case unreadableModel(String)
    /// No installed version with this key (`id@version`).
    case notInstalled(String)
    /// There is no last-known-good version to roll back to.
    case noRollbackTarget(String)
    /// Not enough free space on the store's file system (ENOSPC, or a pre-check).
    case diskFull(path: String, needed: Int?)
    /// A file-system operation failed.
    case io(operation: String, path: String, errno: Int32)
    /// A download failed.
    case download(url: String, reason: String)
    /// The manifest names no download URL and no local file was given.
    case noSource(String)
    /// A channel (rollout) file is malformed.
    case invalidChannel(String)
    /// The store directory holds something unexpected.
    case corruptStore(String)

    public var description: String {
        switch self {
        case let .invalidVersion(s):
            "invalid semantic version '\(s)' (hint: use MAJOR.MINOR.PATCH, e.g. 1.2.0)"
        case let .corruptManifest(why):
            "corrupt manifest JSON: \(why) (hint: regenerate it with `edgelm manifest create`)"
        case let .invalidManifest(why):
            "invalid manifest: \(why) (hint: regenerate it with `edgelm manifest create`)"
        case let .badSignature(why):
            "bad signature: \(why) (hint: check --public-key matches the key that signed the manifest)"
        case let .invalidKey(why):
            "invalid key: \(why) (hint: create one with `edgelm manifest keygen --out KEYFILE`)"
        case let .sizeMismatch(e, a):
            "wrong size: the manifest says \(e) bytes, the file has \(a) (hint: the file is truncated or a different file)"
        case let .checksumMismatch(e, a):
            "wrong checksum: the manifest says sha256 \(e), the file has \(a) (hint: the file is corrupt or a different file)"
        case let .incompatibleEngine(engine, min, max):
            "incompatible engine: this engine is \(engine), the model needs \(min)...\(max) (hint: update the engine or pick another model version)"
        case let .unsupportedArchitecture(a):
            "unsupported architecture '\(a)' (hint: supported: \(Compatibility.supportedArchitectures.sorted().joined(separator: ", ")))"
        case let .unsupportedTensorTypes(t):
            "unsupported tensor types \(t.joined(separator: ", ")) (hint: re-quantize to a supported type such as Q4_1 or Q8_0)"
        case let .exceedsDeviceMemory(p, n, c):
            "does not fit device profile '\(p)': needs \(n) bytes, cap \(c) (hint: use a smaller model or a larger profile)"
        case let .fileDoesNotMatchManifest(why):
            "file does not match the manifest: \(why) (hint: the manifest was made for a different file)"
        case let .unreadableModel(why):
            "unreadable model file: \(why) (hint: check the file is a GGUF model)"
        case let .notInstalled(k):
            "\(k) is not installed (hint: `edgelm models list` shows installed versions)"
        case let .noRollbackTarget(why):
            "cannot roll back: \(why) (hint: install or activate another version)"
        case let .diskFull(p, n):
            "disk full writing \(p)\(n.map { " (needs \($0) bytes)" } ?? "") (hint: free space or run `edgelm models gc`)"
        case let .io(op, p, e):
            "\(op) failed for \(p): \(String(cString: strerror(e))) (errno \(e)) (hint: check permissions and the path)"
        case let .download(u, why):
            "download of \(u) failed: \(why) (hint: check the network; the install resumes where it stopped)"
        case let .noSource(why):
            "no model source: \(why) (hint: pass --file MODEL.gguf or put a url in the manifest)"
        case let .invalidChannel(why):
            "invalid channel file: \(why) (hint: see docs/lifecycle.md for the channel format)"
        case let .corruptStore(why):
            "corrupt model store: \(why) (hint: run `edgelm models verify`)"
        }
    }
}
