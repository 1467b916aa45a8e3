// Shared helpers: tiny GGUF models, signed manifests and temporary stores.

import Crypto
import Foundation
import InferenceTestSupport
import GGUF
@testable import ModelLifecycle

/// A fresh temporary directory (removed by the caller via `cleanup`).
func temporaryDirectory(_ tag: String = "lifecycle") -> String {
    let dir = FileManager.default.temporaryDirectory
        .appendingPathComponent("edgelm-\(tag)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
    try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

func cleanup(_ path: String) { try? FileManager.default.removeItem(atPath: path) }

/// A tiny llama-shaped GGUF. `padFloats` adds an F32 tensor of that many elements (4 bytes each) to make the
/// file bigger; `seed` changes the tensor bytes (so two files differ in SHA-256 but not in tokenizer).
func writeTinyModel(to path: String, arch: String = "llama", tokens: [String] = ["<s>", "</s>", "a", "b", "ab"],
                    merges: [String]? = ["a b"], scores: [Float]? = nil, padFloats: Int = 256, seed: Float = 1,
                    type: GGMLType = .q8_0, context: Int = 128) throws {
    var w = try GGUFWriter()
    try w.add(GGUFKey.architecture, .string(arch))
    try w.add(GGUFKey.name, .string("tiny"))
    try w.add(GGUFKey.contextLength(arch), .uint32(UInt32(context)))
    try w.add(GGUFKey.embeddingLength(arch), .uint32(64))
    try w.add(GGUFKey.blockCount(arch), .uint32(2))
    try w.add(GGUFKey.feedForwardLength(arch), .uint32(96))
    try w.add(GGUFKey.headCount(arch), .uint32(4))
    try w.add(GGUFKey.headCountKV(arch), .uint32(2))
    try w.add(GGUFKey.tokenizerModel, .string("gpt2"))
    try w.add(GGUFKey.tokens, .array(GGUFArray(strings: tokens)))
    if let merges { try w.add(GGUFKey.merges, .array(GGUFArray(strings: merges))) }
    if let scores { try w.add(GGUFKey.scores, .array(GGUFArray(float32s: scores))) }
    try w.addTensor(name: "output_norm.weight", shape: [64], floats: [Float](repeating: seed, count: 64))
    let rowBytes = type.rowBytes(64)!
    try w.addTensor(name: "token_embd.weight", type: type, shape: [64, tokens.count],
                    bytes: Data(repeating: 0, count: rowBytes * tokens.count))
    if padFloats > 0 {
        try w.addTensor(name: "pad.weight", shape: [padFloats], floats: (0..<padFloats).map { Float($0 % 97) * seed })
    }
    try w.write(to: path)
}

/// A signing key, its public key and helpers to make signed manifests for files.
/// This test process's trusted-keys file (`$EDGELM_TRUSTED_KEYS`, inherited by every `edgelm` child), so tests
/// never touch the real ~/.config. Set once, before any child runs.
let testTrustedKeysPath: String = {
    let dir = NSTemporaryDirectory() + "edgelm-trust-\(getpid())"
    try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    let path = dir + "/trusted-keys"
    setenv("EDGELM_TRUSTED_KEYS", path, 1)
    return path
}()

struct Signer {
    let key = Curve25519.Signing.PrivateKey()
    var publicKey: Curve25519.Signing.PublicKey { key.publicKey }

    /// A new key, trusted by the `edgelm` processes this test process starts (``testTrustedKeysPath``).
    init() { try? TrustedKeys.add(key.publicKey, to: testTrustedKeysPath) }

    func manifest(for path: String, id: String = "tiny", version: String, edit: (inout ModelManifest) -> Void = { _ in })
        throws -> ModelManifest
    {
        var m = try ModelManifest.describe(modelAt: path, id: id, version: try SemVer(parsing: version))
        edit(&m)
        return try m.signed(with: key)
    }

    /// Writes a signed manifest next to the model and returns its path.
    func manifestFile(for path: String, id: String = "tiny", version: String, in dir: String,
                      edit: (inout ModelManifest) -> Void = { _ in }) throws -> String {
        let m = try manifest(for: path, id: id, version: version, edit: edit)
        let out = dir + "/\(id)@\(version).json"
        try m.encodedForFile().write(to: URL(fileURLWithPath: out))
        return out
    }
}

/// A store directory with tiny models v1 and v2 built and signed.
struct Fixture {
    let dir: String
    let storeDir: String
    let signer = Signer()
    let v1Model: String
    let v2Model: String
    let v1Manifest: String
    let v2Manifest: String

    init(padFloats: Int = 256) throws {
        dir = temporaryDirectory()
        storeDir = dir + "/store"
        v1Model = dir + "/v1.gguf"
        v2Model = dir + "/v2.gguf"
        try writeTinyModel(to: v1Model, padFloats: padFloats, seed: 1)
        try writeTinyModel(to: v2Model, padFloats: padFloats, seed: 2)
        v1Manifest = try signer.manifestFile(for: v1Model, version: "1.0.0", in: dir)
        v2Manifest = try signer.manifestFile(for: v2Model, version: "1.1.0", in: dir)
    }

    func openStore(policy: StoragePolicy = StoragePolicy()) throws -> ModelStore {
        try ModelStore(path: storeDir, profile: .laptop, policy: policy, trustedKeys: [signer.publicKey])
    }
}

/// The built `edgelm` executable next to the test bundle, if present.
func edgelmBinary() -> URL? { builtExecutable("edgelm") }

/// Runs edgelm; returns (status, stdout, stderr).
func runEdgeLM(_ arguments: [String], environment: [String: String] = [:]) throws -> (Int32, String, String) {
    guard let binary = edgelmBinary() else { throw CocoaError(.fileNoSuchFile) }
    _ = testTrustedKeysPath
    let p = Process()
    p.executableURL = binary
    p.arguments = arguments
    p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
}
