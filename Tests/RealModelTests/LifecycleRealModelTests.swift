// Model lifecycle on the real SmolLM2 file: manifest create + verify, install into a temporary store, and
// the same through the `edgelm manifest` / `edgelm models` commands. Skipped when weights/ is absent.
// The expected SHA-256 was computed independently with `sha256sum`.

import EdgeLM
import Foundation
import Testing

private func weightsPath(_ name: String, from file: String = #filePath) -> String? {
    var dir = URL(fileURLWithPath: file).resolvingSymlinksInPath().deletingLastPathComponent()
    while dir.path != "/" {
        let p = dir.appendingPathComponent("weights").appendingPathComponent(name).path
        if FileManager.default.fileExists(atPath: p) { return p }
        dir = dir.deletingLastPathComponent()
    }
    return nil
}

private let smolLM = "smollm2-135m-instruct-q4_1.gguf"

private func lifecycleEdgeLM() -> URL? {
    let candidates = [Bundle.main.bundleURL, Bundle.main.bundleURL.deletingLastPathComponent()]
        + Bundle.allBundles.map { $0.bundleURL.deletingLastPathComponent() }
    return candidates.map { $0.appendingPathComponent("edgelm") }.first { FileManager.default.isExecutableFile(atPath: $0.path) }
}

private func run(_ args: [String]) throws -> (Int32, String, String) {
    let p = Process()
    p.executableURL = try #require(lifecycleEdgeLM())
    // Keys trusted by `models install` go to a temporary file, never the real ~/.config.
    p.environment = ProcessInfo.processInfo.environment.merging(
        ["EDGELM_TRUSTED_KEYS": NSTemporaryDirectory() + "edgelm-real-trust-\(getpid())"]) { $1 }
    p.arguments = args
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
}

@Suite("Lifecycle on real models", .serialized)
struct LifecycleRealModelTests {
    @Test("SmolLM2: manifest create, verify, install into a temporary store",
          .enabled(if: weightsPath(smolLM) != nil, "weights/\(smolLM) not found: run weights/fetch.sh"))
    func smolLM2() throws {
        let path = try #require(weightsPath(smolLM))
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("edgelm-life-real-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)

        let key = SigningKeys.generate()
        let m = try ModelManifest.describe(modelAt: path, id: "smollm2-135m-instruct", version: SemVer(1, 0, 0)).signed(with: key)
        #expect(m.byteSize == 98_362_432)
        #expect(m.sha256 == "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53")
        #expect(m.architecture == "llama")
        #expect(m.ggmlTypes == ["F32", "Q4_1", "Q8_0"])
        #expect(m.contextLength == 8192)
        try m.verifySignature(key.publicKey)
        try m.checkMatches(modelAt: path)
        try m.checkCompatibility(profile: .phone)
        try m.checkCompatibility(profile: .wearable)  // 96 MB of weights, but wearable streams them (≈ 56 MB peak)
        // The wearable entry (streamed) checked against a 16 MiB device of the same class: refused for memory.
        let small = DeviceMemoryProfile(name: "wearable", memoryCap: 16 << 20, contextLength: 512, batch: 8, residency: .streamed)
        do {
            try m.checkCompatibility(profile: small)
            Issue.record("a 16 MiB wearable accepted SmolLM2")
        } catch let LifecycleError.exceedsDeviceMemory(_, needed, cap) {
            #expect(needed > cap)
        }

        let manifestPath = dir + "/smollm2.json"
        try m.encodedForFile().write(to: URL(fileURLWithPath: manifestPath))
        let store = try ModelStore(path: dir + "/store", profile: .phone, trustedKeys: [key.publicKey])
        try store.install(manifestAt: manifestPath, publicKey: key.publicKey, source: .file(path))
        #expect(store.active == "smollm2-135m-instruct@1.0.0")
        #expect(store.verify().isEmpty)
        // The installed file is what the runtime loads.
        let file = try GGUFFile(path: try #require(store.activeModelPath))
        #expect(file.tensors.count == 272)
    }

    @Test("SmolLM2 through the CLI: keygen, create, verify, install, list",
          .enabled(if: weightsPath(smolLM) != nil && lifecycleEdgeLM() != nil, "weights or edgelm binary missing"))
    func cli() throws {
        let path = try #require(weightsPath(smolLM))
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("edgelm-life-cli-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let (s1, pub, e1) = try run(["manifest", "keygen", "--out", dir + "/key"])
        #expect(s1 == 0, "\(e1)")
        let publicKey = pub.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(Data(base64Encoded: publicKey)?.count == 32)
        let (s2, _, e2) = try run(["manifest", "create", path, "--id", "smollm2", "--version", "1.0.0",
                                   "--sign-key", dir + "/key", "--out", dir + "/m.json"])
        #expect(s2 == 0, "\(e2)")
        let (s3, o3, e3) = try run(["manifest", "verify", dir + "/m.json", "--public-key", publicKey, "--file", path])
        #expect(s3 == 0 && o3.contains("ok"), "\(e3)")
        let (s4, _, e4) = try run(["models", "install", dir + "/m.json", "--file", path, "--public-key", dir + "/key.pub",
                                   "--store", dir + "/store", "--quiet"])
        #expect(s4 == 0, "\(e4)")
        let (s5, o5, _) = try run(["models", "list", "--store", dir + "/store", "--json"])
        #expect(s5 == 0)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(o5.utf8)) as? [String: Any])
        #expect(json["active"] as? String == "smollm2@1.0.0")
        // A wrong key is one line on stderr and a non-zero exit.
        let other = SigningKeys.publicKeyBase64(SigningKeys.generate().publicKey)
        let (s6, _, e6) = try run(["manifest", "verify", dir + "/m.json", "--public-key", other])
        #expect(s6 != 0 && e6.contains("bad signature"))
        #expect(e6.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "\n").count == 1)
    }
}
