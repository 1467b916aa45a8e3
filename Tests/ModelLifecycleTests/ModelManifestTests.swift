import Crypto
import Foundation
import GGUF
@testable import ModelLifecycle
import Testing

@Suite("ModelManifest")
struct ModelManifestTests {
    @Test("describe reads the file: size, streamed sha256, architecture, types, context, memory per profile")
    func describe() throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        let path = dir + "/m.gguf"
        try writeTinyModel(to: path, padFloats: 700_000)  // ~2.8 MB: several 1 MiB hash chunks
        let m = try ModelManifest.describe(modelAt: path, id: "tiny", version: SemVer(1, 2, 3))
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect(m.byteSize == data.count)
        #expect(m.sha256 == FileDigest.hex(SHA256.hash(data: data)))
        #expect(m.architecture == "llama")
        #expect(m.ggmlTypes == ["F32", "Q8_0"])
        #expect(m.contextLength == 128)
        #expect(m.fileName == "m.gguf")
        #expect(m.capabilities == TaskCapability.allCases)
        #expect(Set(m.minimumMemory.keys) == Set(DeviceMemoryProfile.all.map(\.name)))
        let file = try GGUFFile(path: path)
        // weights + KV (2 layers × ctx 128 (model cap) × 2 kv heads × (16+16) × 2 bytes) + scratch + process baseline
        let kv = 2 * 128 * 2 * 32 * 2
        let perToken = 3 * 64 + 4 * 16 + 2 * 32 + 2 * 96
        let laptop = DeviceMemoryProfile.laptop
        let scratch = 4 * (laptop.batch * perToken + 4 * 128 + 5)
        #expect(m.minimumMemory["laptop"] == file.tensorBytes + kv + scratch + ModelShape.processBaselineBytes)
        #expect(m.minimumMemory["wearable"]! < m.minimumMemory["laptop"]!)
    }

    @Test("the signature verifies, and any change to any field breaks it")
    func signature() throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        let path = dir + "/m.gguf"
        try writeTinyModel(to: path)
        let signer = Signer()
        let m = try signer.manifest(for: path, version: "1.0.0")
        try m.verifySignature(signer.publicKey)
        #expect(throws: LifecycleError.self) { try m.verifySignature(Curve25519.Signing.PrivateKey().publicKey) }
        var unsigned = m
        unsigned.signature = nil
        #expect(throws: LifecycleError.badSignature("the manifest is not signed")) { try unsigned.verifySignature(signer.publicKey) }
        let edits: [(inout ModelManifest) -> Void] = [
            { $0.id = "other" }, { $0.version = SemVer(1, 0, 1) }, { $0.byteSize += 1 },
            { $0.sha256 = String(repeating: "0", count: 64) }, { $0.architecture = "gemma3" },
            { $0.ggmlTypes = ["F32"] }, { $0.contextLength = 4096 }, { $0.maxEngineVersion = SemVer(9, 0, 0) },
            { $0.minimumMemory["phone"] = 1 }, { $0.capabilities = [.classify] }, { $0.url = "https://x.example/m" },
            { $0.fileName = "x.gguf" }, { $0.tokenizerFingerprint = String(repeating: "a", count: 64) },
        ]
        for edit in edits {
            var t = m
            edit(&t)
            #expect(throws: LifecycleError.self) { try t.verifySignature(signer.publicKey) }
        }
        // Round trip through the file encoding keeps the signature valid.
        try ModelManifest.decode(try m.encodedForFile()).verifySignature(signer.publicKey)
    }

    @Test("canonical bytes: sorted keys, no whitespace, no signature field")
    func canonical() throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        try writeTinyModel(to: dir + "/m.gguf")
        let m = try Signer().manifest(for: dir + "/m.gguf", version: "1.0.0")
        let text = String(decoding: try m.canonicalBytes(), as: UTF8.self)
        #expect(!text.contains("signature"))
        #expect(!text.contains(" ") && !text.contains("\n"))
        let obj = try JSONSerialization.jsonObject(with: try m.canonicalBytes()) as! [String: Any]
        let keys = ["architecture", "byteSize", "capabilities", "contextLength", "fileName", "ggmlTypes", "id",
                    "maxEngineVersion", "minEngineVersion", "minimumMemory", "schemaVersion", "sha256",
                    "tokenizerFingerprint", "version"]
        #expect(obj.keys.sorted() == keys)
        let positions = keys.map { text.range(of: "\"\($0)\":")!.lowerBound }
        #expect(positions == positions.sorted())
    }

    @Test("corrupt JSON and invalid fields are typed errors naming the cause")
    func corrupt() throws {
        #expect(throws: LifecycleError.self) { try ModelManifest.decode(Data("{".utf8)) }
        do {
            _ = try ModelManifest.decode(Data("{\"id\": \"x\"}".utf8))
            Issue.record("expected an error")
        } catch let LifecycleError.corruptManifest(why) {
            #expect(why.contains("missing field"))
        }
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        try writeTinyModel(to: dir + "/m.gguf")
        let m = try Signer().manifest(for: dir + "/m.gguf", version: "1.0.0")
        for badID in ["../evil", "a/b", "", ".hidden", "x@y"] {
            var t = m
            t.id = badID
            let data = try t.encodedForFile()
            #expect(throws: LifecycleError.self) { try ModelManifest.decode(data) }
        }
        var t = m
        t.version = SemVer(1, 0, 0)
        var json = String(decoding: try t.encodedForFile(), as: UTF8.self)
        json = json.replacingOccurrences(of: "\"1.0.0\"", with: "\"1.0\"")
        #expect(throws: LifecycleError.self) { try ModelManifest.decode(Data(json.utf8)) }
    }

    @Test("compatibility: engine range, architecture, tensor types, device memory")
    func compatibility() throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        try writeTinyModel(to: dir + "/m.gguf")
        let m = try ModelManifest.describe(modelAt: dir + "/m.gguf", id: "t", version: SemVer(1, 0, 0))
        try m.checkCompatibility(profile: .laptop)
        var t = m
        t.minEngineVersion = SemVer(EngineVersion.current.major + 1, 0, 0)
        t.maxEngineVersion = SemVer(EngineVersion.current.major + 2, 0, 0)
        #expect(throws: LifecycleError.incompatibleEngine(engine: "\(EngineVersion.current)", min: "\(t.minEngineVersion)",
                                                          max: "\(t.maxEngineVersion)")) { try t.checkCompatibility(profile: .laptop) }
        t = m
        t.architecture = "mamba"
        #expect(throws: LifecycleError.unsupportedArchitecture("mamba")) { try t.checkCompatibility(profile: .laptop) }
        t = m
        t.ggmlTypes = ["F32", "IQ2_XXS"]
        #expect(throws: LifecycleError.unsupportedTensorTypes(["IQ2_XXS"])) { try t.checkCompatibility(profile: .laptop) }
        t = m
        t.minimumMemory["wearable"] = DeviceMemoryProfile.wearable.memoryCap + 1
        #expect(throws: LifecycleError.exceedsDeviceMemory(profile: "wearable", needed: DeviceMemoryProfile.wearable.memoryCap + 1,
                                                           cap: DeviceMemoryProfile.wearable.memoryCap)) {
            try t.checkCompatibility(profile: .wearable)
        }
        try t.checkCompatibility(profile: .phone)
    }

    @Test("tokenizer fingerprint depends on tokens, merges and scores, not on weights")
    func fingerprint() throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        func fp(_ name: String, tokens: [String] = ["<s>", "</s>", "a", "b", "ab"], merges: [String]? = ["a b"],
                scores: [Float]? = nil, seed: Float = 1) throws -> String {
            let p = dir + "/\(name).gguf"
            try writeTinyModel(to: p, tokens: tokens, merges: merges, scores: scores, seed: seed)
            return try FileDigest.tokenizerFingerprint(of: GGUFFile(path: p).metadata)
        }
        let base = try fp("base")
        #expect(try fp("seed", seed: 7) == base)
        #expect(try fp("tok", tokens: ["<s>", "</s>", "a", "b", "ba"]) != base)
        #expect(try fp("merge", merges: ["b a"]) != base)
        #expect(try fp("nomerge", merges: nil) != base)
        #expect(try fp("scores", scores: [0, 0, -1, -2, -3]) != (try fp("scores2", scores: [0, 0, -1, -2, -4])))
        // Length prefixes: moving a byte between adjacent tokens changes the fingerprint.
        #expect(try fp("split1", tokens: ["<s>", "</s>", "ab", "c", "x"]) != (try fp("split2", tokens: ["<s>", "</s>", "a", "bc", "x"])))
    }

    @Test("file matching catches a manifest made for another tokenizer")
    func matches() throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        try writeTinyModel(to: dir + "/a.gguf")
        try writeTinyModel(to: dir + "/b.gguf", tokens: ["<s>", "</s>", "x", "y", "xy"])
        let ma = try ModelManifest.describe(modelAt: dir + "/a.gguf", id: "t", version: SemVer(1, 0, 0))
        try ma.checkMatches(modelAt: dir + "/a.gguf")
        #expect(throws: LifecycleError.self) { try ma.checkMatches(modelAt: dir + "/b.gguf") }
    }

    @Test("key files: write, read back, public key from base64 or a file; bad keys are typed errors")
    func keys() throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        let key = SigningKeys.generate()
        let pub = try SigningKeys.write(key, to: dir + "/k")
        #expect(try SigningKeys.readPrivateKey(at: dir + "/k").rawRepresentation == key.rawRepresentation)
        #expect(try SigningKeys.publicKey(fromBase64OrPath: pub).rawRepresentation == key.publicKey.rawRepresentation)
        try Data(pub.utf8).write(to: URL(fileURLWithPath: dir + "/k.pub"))
        #expect(try SigningKeys.publicKey(fromBase64OrPath: dir + "/k.pub").rawRepresentation == key.publicKey.rawRepresentation)
        #expect(throws: LifecycleError.self) { try SigningKeys.publicKey(fromBase64OrPath: "not-base64!") }
        try Data("garbage".utf8).write(to: URL(fileURLWithPath: dir + "/bad"))
        #expect(throws: LifecycleError.self) { try SigningKeys.readPrivateKey(at: dir + "/bad") }
        let mode = try FileManager.default.attributesOfItem(atPath: dir + "/k")[.posixPermissions] as! Int
        #expect(mode == 0o600)
    }
}
