// Ed25519 key files.

import Crypto
import EdgeLMEssentials

/// Ed25519 key handling for manifest signing. A key file holds the base64 of the 32-byte private key
/// (one line, mode 0600); public keys are passed as base64 of the 32-byte raw representation.
public enum SigningKeys {
    /// A new random private key.
    public static func generate() -> Curve25519.Signing.PrivateKey { Curve25519.Signing.PrivateKey() }

    /// Writes `key` to `path` (mode 0600, atomically) and returns the base64 public key.
    public static func write(_ key: Curve25519.Signing.PrivateKey, to path: String) throws -> String {
        try AtomicFile.write(Data((key.rawRepresentation.base64EncodedString() + "\n").utf8), to: path, mode: 0o600)
        return publicKeyBase64(key.publicKey)
    }

    /// Reads a private key file.
    /// - Throws: ``LifecycleError/invalidKey(_:)``.
    public static func readPrivateKey(at path: String) throws -> Curve25519.Signing.PrivateKey {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw LifecycleError.invalidKey("cannot read key file \(path)")
        }
        guard let raw = Data(base64Encoded: text.trimmingWhitespace()), raw.count == 32,
            let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: raw)
        else { throw LifecycleError.invalidKey("\(path) does not hold a base64 32-byte Ed25519 private key") }
        return key
    }

    /// Base64 of the 32-byte public key.
    public static func publicKeyBase64(_ key: Curve25519.Signing.PublicKey) -> String {
        key.rawRepresentation.base64EncodedString()
    }

    /// A public key from base64 text, or from a file holding base64 text (a path that exists wins).
    /// - Throws: ``LifecycleError/invalidKey(_:)``.
    public static func publicKey(fromBase64OrPath text: String) throws -> Curve25519.Signing.PublicKey {
        var s = text
        if FileManager.default.fileExists(atPath: text) {
            guard let contents = try? String(contentsOfFile: text, encoding: .utf8) else {
                throw LifecycleError.invalidKey("cannot read public key file \(text)")
            }
            s = contents
        }
        s = s.trimmingWhitespace()
        guard let raw = Data(base64Encoded: s), raw.count == 32,
            let key = try? Curve25519.Signing.PublicKey(rawRepresentation: raw)
        else { throw LifecycleError.invalidKey("public key must be base64 of 32 bytes (or a file holding that)") }
        return key
    }
}

/// The public key type that verifies manifests (Ed25519).
public typealias ManifestPublicKey = Curve25519.Signing.PublicKey
/// The private key type that signs manifests (Ed25519).
public typealias ManifestSigningKey = Curve25519.Signing.PrivateKey
