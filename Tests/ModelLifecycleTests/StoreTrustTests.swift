// Issue 17, items 4–8: the store trusts nothing on disk. Each test is an attack that worked before the fix:
// a model modified after install, a manifest re-hashed to match, a pointer leaving the store, a planted
// staging symlink, and $HOME / XDG_* ignored.

import Crypto
import Foundation
@testable import ModelLifecycle
import Testing

@Suite("Model store trusts nothing on disk", .serialized)
struct StoreTrustTests {
    /// Loads the active version the way apps do; returns the key loaded or the error.
    static func load(_ store: ModelStore) -> Result<String, any Error> {
        Result { try store.loadActive { _, key in key }.key }
    }

    @Test("item 4: a model file modified after install is not loaded (size kept, one byte flipped)")
    func modifiedAfterInstall() throws {
        let f = try Fixture()
        defer { cleanup(f.dir) }
        let store = try f.openStore()
        try store.install(manifestAt: f.v1Manifest, publicKey: f.signer.publicKey, source: .file(f.v1Model))
        #expect(try Self.load(store).get() == "tiny@1.0.0")
        let path = store.modelPath("tiny@1.0.0")
        let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as! Int
        let h = try FileHandle(forUpdating: URL(fileURLWithPath: path))
        try h.seek(toOffset: UInt64(size - 3))
        let b = try #require(try h.read(upToCount: 1))
        try h.seek(toOffset: UInt64(size - 3))
        h.write(Data([b[0] ^ 0x01]))
        try h.close()
        guard case .failure(LifecycleError.checksumMismatch) = Self.load(store) else {
            Issue.record("a tampered model loaded"); return
        }
    }

    @Test("item 5: replacing the model and re-hashing the installed manifest breaks its signature")
    func rehashedManifest() throws {
        let f = try Fixture()
        defer { cleanup(f.dir) }
        let store = try f.openStore()
        try store.install(manifestAt: f.v1Manifest, publicKey: f.signer.publicKey, source: .file(f.v1Model))
        let key = "tiny@1.0.0"
        // The attacker swaps in v2's bytes and writes their sha256/size into the installed manifest.
        try FileManager.default.removeItem(atPath: store.modelPath(key))
        try FileManager.default.copyItem(atPath: f.v2Model, toPath: store.modelPath(key))
        var m = try ModelManifest.load(from: store.versionDirectory(key) + "/manifest.json")
        let (sha, size) = try FileDigest.sha256(ofFileAt: f.v2Model)
        m.sha256 = sha
        m.byteSize = size
        try m.encodedForFile().write(to: URL(fileURLWithPath: store.versionDirectory(key) + "/manifest.json"))
        let problems = store.verify()
        #expect(problems.contains { if case .badSignature = $0.error { true } else { false } }, "\(problems)")
        guard case .failure(LifecycleError.badSignature) = Self.load(store) else {
            Issue.record("a re-hashed manifest loaded"); return
        }
        // Re-signing with the attacker's own key does not help: it is not trusted.
        let attacker = Curve25519.Signing.PrivateKey()
        try m.signed(with: attacker).encodedForFile()
            .write(to: URL(fileURLWithPath: store.versionDirectory(key) + "/manifest.json"))
        guard case .failure(LifecycleError.badSignature) = Self.load(store) else {
            Issue.record("an attacker-signed manifest loaded"); return
        }
        // No trusted key at all: nothing loads.
        let untrusting = try ModelStore(path: f.storeDir)
        guard case .failure(LifecycleError.badSignature) = Self.load(untrusting) else {
            Issue.record("loaded without a trusted key"); return
        }
    }

    @Test("item 6: an active pointer outside the store is refused, and no marker is written outside")
    func pointerTraversal() throws {
        let f = try Fixture()
        defer { cleanup(f.dir) }
        let store = try f.openStore()
        try store.install(manifestAt: f.v1Manifest, publicKey: f.signer.publicKey, source: .file(f.v1Model))
        // An unsigned GGUF outside the store, where "../../../victim/evil@1.0.0" resolves to.
        let victim = f.dir + "/victim/evil@1.0.0"
        try FileManager.default.createDirectory(atPath: victim, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: f.v2Model, toPath: victim + "/model.gguf")
        try FileManager.default.copyItem(atPath: store.versionDirectory("tiny@1.0.0") + "/manifest.json",
                                         toPath: victim + "/manifest.json")
        for evil in ["../../victim/evil@1.0.0", "../../../victim/evil@1.0.0", "/etc/passwd", "tiny@1.0.0/../x@1.0.0", "..", "tiny"] {
            try Data((evil + "\n").utf8).write(to: URL(fileURLWithPath: f.storeDir + "/active"))
            #expect(store.active == nil, "\(evil)")
            #expect(!store.isInstalled(evil))
            guard case .failure(LifecycleError.corruptStore) = Self.load(store) else {
                Issue.record("followed the pointer \(evil)"); continue
            }
            #expect(throws: LifecycleError.self) { try store.activate(evil) }
            #expect(store.verify().contains { $0.key == "active" })
        }
        let outside = (try? FileManager.default.contentsOfDirectory(atPath: f.dir + "/victim")) ?? []
        #expect(outside == ["evil@1.0.0"])  // no "loading" directory or marker written next to it
        #expect(!FileManager.default.fileExists(atPath: f.dir + "/loading"))
    }

    @Test("item 7: a symlink planted at staging/<id>@<version> (or at versions/) is not followed")
    func plantedStagingSymlink() throws {
        let f = try Fixture()
        defer { cleanup(f.dir) }
        let store = try f.openStore()
        let outside = f.dir + "/outside"
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: f.storeDir + "/staging/tiny@1.0.0", withDestinationPath: outside)
        try FileManager.default.createSymbolicLink(atPath: f.storeDir + "/versions/tiny@1.1.0", withDestinationPath: outside)
        try store.install(manifestAt: f.v1Manifest, publicKey: f.signer.publicKey, source: .file(f.v1Model))
        #expect(try FileManager.default.contentsOfDirectory(atPath: outside).isEmpty)
        #expect(ModelStore.fileType(store.versionDirectory("tiny@1.0.0")) == S_IFDIR)
        #expect(try Self.load(store).get() == "tiny@1.0.0")
        // A symlink planted as the resumable partial inside a real staging directory is removed, not written through.
        try FileManager.default.createDirectory(atPath: f.storeDir + "/staging/tiny@1.1.0", withIntermediateDirectories: true)
        let victim = outside + "/victim.txt"
        try Data("keep".utf8).write(to: URL(fileURLWithPath: victim))
        try FileManager.default.createSymbolicLink(atPath: f.storeDir + "/staging/tiny@1.1.0/model.gguf.partial",
                                                   withDestinationPath: victim)
        // A planted version symlink is not "installed" and is replaced by the real install.
        #expect(!store.isInstalled("tiny@1.1.0"))
        try store.install(manifestAt: f.v2Manifest, publicKey: f.signer.publicKey, source: .file(f.v2Model))
        #expect(ModelStore.fileType(store.versionDirectory("tiny@1.1.0")) == S_IFDIR)
        #expect(try FileManager.default.contentsOfDirectory(atPath: outside) == ["victim.txt"])
        #expect(FileManager.default.contents(atPath: victim) == Data("keep".utf8))
        // The store's own directories replaced by symlinks: refused, not followed.
        let other = temporaryDirectory("planted")
        defer { cleanup(other) }
        try FileManager.default.createDirectory(atPath: other + "/store", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: other + "/store/staging", withDestinationPath: outside)
        #expect(throws: LifecycleError.self) { _ = try ModelStore(path: other + "/store") }
    }

    @Test("item 8: $HOME and XDG_* choose the default store and trusted-keys file")
    func homeAndXDG() {
        #expect(StorePaths.defaultStore(["HOME": "/h"]) == "/h/.edgelm/models")
        #expect(StorePaths.defaultStore(["HOME": "/h", "XDG_DATA_HOME": "/x"]) == "/x/edgelm/models")
        #expect(StorePaths.defaultStore(["HOME": "/h", "EDGELM_STORE": "/s"]) == "/s")
        #expect(TrustedKeys.defaultPath(["HOME": "/h"]) == "/h/.config/edgelm/trusted-keys")
        #expect(TrustedKeys.defaultPath(["HOME": "/h", "XDG_CONFIG_HOME": "/c"]) == "/c/edgelm/trusted-keys")
        #expect(TrustedKeys.defaultPath(["EDGELM_TRUSTED_KEYS": "/k"]) == "/k")
        // A relative XDG value is ignored (the spec says so).
        #expect(StorePaths.defaultStore(["HOME": "/h", "XDG_DATA_HOME": "rel"]) == "/h/.edgelm/models")
    }

    @Test("item 8 (CLI): telemetry and the default store follow $HOME")
    func cliFollowsHome() throws {
        guard edgelmBinary() != nil else { return }
        let home = temporaryDirectory("home")
        defer { cleanup(home) }
        let model = home + "/tiny.gguf"
        try RunnableTinyModel.write(to: model)
        let (status, _, err) = try runEdgeLM(["generate", "--model", model, "--prompt", "hi", "--max-tokens", "1", "--threads", "1"],
                                             environment: ["HOME": home, "EDGELM_STORE": "", "XDG_DATA_HOME": "",
                                                           "EDGELM_TELEMETRY": "", "EDGELM_MODEL": ""])
        #expect(status == 0, "\(err)")
        #expect(FileManager.default.fileExists(atPath: home + "/.edgelm/models/telemetry.json"))
    }

    @Test("key names: only id@semver")
    func keyNames() {
        for good in ["tiny@1.0.0", "a.b-c_d@10.2.3-rc.1"] { #expect(ModelStore.isValidKey(good), "\(good)") }
        for bad in ["", "tiny", "@1.0.0", "tiny@", "../x@1.0.0", ".x@1.0.0", "a/b@1.0.0", "tiny@1.0", "tiny@01.0.0",
                    "tiny@1.0.0/..", "tiny@1.0.0\n", "ti ny@1.0.0", "a@b@1.0.0"] {
            #expect(!ModelStore.isValidKey(bad), "\(bad.debugDescription)")
        }
    }

    @Test("the digest cache hashes an unchanged file once and a rewritten one again")
    func digestCache() throws {
        let dir = temporaryDirectory("digest")
        defer { cleanup(dir) }
        let path = dir + "/f"
        try Data(repeating: 1, count: 1000).write(to: URL(fileURLWithPath: path))
        let cache = DigestCache()
        let a = try cache.sha256(ofFileAt: path)
        _ = try cache.sha256(ofFileAt: path)
        #expect(cache.hashes == 1)
        try Data(repeating: 2, count: 1000).write(to: URL(fileURLWithPath: path))
        let b = try cache.sha256(ofFileAt: path)
        #expect(cache.hashes == 2 && a.hex != b.hex)
        try FileManager.default.createSymbolicLink(atPath: dir + "/link", withDestinationPath: path)
        #expect(throws: LifecycleError.self) { _ = try cache.sha256(ofFileAt: dir + "/link") }
    }
}
