import Crypto
import Foundation
@testable import ModelLifecycle
import Testing

@Suite("ModelStore")
struct ModelStoreTests {
    @Test("install activates; a second install makes the first last-known-good; rollback is one step")
    func installActivateRollback() throws {
        let f = try Fixture()
        defer { cleanup(f.dir) }
        let store = try f.openStore()
        var seen: [Int] = []
        try store.install(manifestAt: f.v1Manifest, publicKey: f.signer.publicKey, source: .file(f.v1Model),
                          progress: { done, _ in seen.append(done) })
        #expect(store.active == "tiny@1.0.0")
        #expect(store.lastKnownGood == "tiny@1.0.0")
        #expect(seen.last == (try FileManager.default.attributesOfItem(atPath: f.v1Model)[.size] as! Int))
        #expect(FileManager.default.contentsEqual(atPath: store.activeModelPath!, andPath: f.v1Model))

        try store.install(manifestAt: f.v2Manifest, publicKey: f.signer.publicKey, source: .file(f.v2Model))
        #expect(store.active == "tiny@1.1.0")
        #expect(store.lastKnownGood == "tiny@1.0.0")
        #expect(try store.installed().map(\.key) == ["tiny@1.0.0", "tiny@1.1.0"])
        #expect(store.verify().isEmpty)

        #expect(try store.rollback() == "tiny@1.0.0")
        #expect(store.active == "tiny@1.0.0")
        #expect(throws: LifecycleError.self) { try store.rollback() }  // already on last-known-good

        try store.activate("tiny@1.1.0")
        #expect(store.active == "tiny@1.1.0" && store.lastKnownGood == "tiny@1.0.0")
        #expect(throws: LifecycleError.notInstalled("tiny@9.9.9")) { try store.activate("tiny@9.9.9") }

        // Reopening sees the same state.
        let again = try f.openStore()
        #expect(again.active == "tiny@1.1.0" && again.lastKnownGood == "tiny@1.0.0")
    }

    /// Every bad input is a typed error naming the cause, and the active model stays untouched.
    @Test("bad inputs leave the active model untouched", arguments: BadInput.allCases)
    func badInput(_ bad: BadInput) throws {
        let f = try Fixture()
        defer { cleanup(f.dir) }
        let store = try f.openStore()
        try store.install(manifestAt: f.v1Manifest, publicKey: f.signer.publicKey, source: .file(f.v1Model))
        let before = try Data(contentsOf: URL(fileURLWithPath: store.activeModelPath!))

        var manifest = f.v2Manifest
        var source = ModelSource.file(f.v2Model)
        var key = f.signer.publicKey
        switch bad {
        case .badSignature:
            key = Curve25519.Signing.PrivateKey().publicKey
        case .wrongChecksum:
            source = .file(f.v1Model)  // same size, different bytes
        case .wrongSize:
            let p = f.dir + "/short.gguf"
            try Data(try Data(contentsOf: URL(fileURLWithPath: f.v2Model)).dropLast(10)).write(to: URL(fileURLWithPath: p))
            source = .file(p)
        case .incompatibleEngine:
            manifest = try f.signer.manifestFile(for: f.v2Model, version: "1.1.0", in: f.dir) {
                $0.minEngineVersion = SemVer(99, 0, 0); $0.maxEngineVersion = SemVer(99, 9, 9)
            }
        case .corruptJSON:
            manifest = f.dir + "/corrupt.json"
            try Data(try Data(contentsOf: URL(fileURLWithPath: f.v2Manifest)).prefix(40)).write(to: URL(fileURLWithPath: manifest))
        case .tokenizerMismatch:
            manifest = try f.signer.manifestFile(for: f.v2Model, version: "1.1.0", in: f.dir) {
                $0.tokenizerFingerprint = String(repeating: "ab", count: 32)
            }
        case .diskFull:
            store.availableBytes = { _ in 100 }
        case .unsupportedType:
            let p = f.dir + "/q5k.gguf"
            try writeTinyModel(to: p, type: .q8_1)
            manifest = try f.signer.manifestFile(for: p, id: "tiny", version: "1.1.0", in: f.dir)
            source = .file(p)
        case .tooBigForProfile:
            store.profile = DeviceMemoryProfile(name: "wearable", memoryCap: 1000, contextLength: 256, batch: 32)
        case .missingSourceURL:
            source = .manifestURL
        }
        do {
            try store.install(manifestAt: manifest, publicKey: key, source: source)
            Issue.record("install of \(bad) succeeded")
        } catch let e as LifecycleError {
            #expect(bad.matches(e), "\(bad): \(e)")
        }
        #expect(store.active == "tiny@1.0.0")
        #expect(try Data(contentsOf: URL(fileURLWithPath: store.activeModelPath!)) == before)
        #expect(try store.installed().map(\.key) == ["tiny@1.0.0"])
        #expect(store.verify().isEmpty)
    }

    enum BadInput: String, CaseIterable, CustomTestStringConvertible {
        case badSignature, wrongChecksum, wrongSize, incompatibleEngine, corruptJSON, tokenizerMismatch, diskFull,
             unsupportedType, tooBigForProfile, missingSourceURL
        var testDescription: String { rawValue }

        func matches(_ e: LifecycleError) -> Bool {
            switch (self, e) {
            case (.badSignature, .badSignature), (.wrongChecksum, .checksumMismatch), (.wrongSize, .sizeMismatch),
                 (.incompatibleEngine, .incompatibleEngine), (.corruptJSON, .corruptManifest),
                 (.tokenizerMismatch, .fileDoesNotMatchManifest), (.diskFull, .diskFull),
                 (.unsupportedType, .unsupportedTensorTypes), (.tooBigForProfile, .exceedsDeviceMemory),
                 (.missingSourceURL, .noSource):
                return true
            default:
                return false
            }
        }
    }

    @Test("ENOSPC from write(2) becomes diskFull (writing to /dev/full)",
          .enabled(if: FileManager.default.fileExists(atPath: "/dev/full")))
    func enospc() throws {
        let fd = open("/dev/full", O_WRONLY)
        defer { close(fd) }
        let bytes = [UInt8](repeating: 1, count: 4096)
        #expect(throws: LifecycleError.diskFull(path: "/dev/full", needed: nil)) {
            try bytes.withUnsafeBytes { try AtomicFile.writeAll(fd, $0, path: "/dev/full") }
        }
    }

    @Test("storage cap: evicts the oldest non-active versions, never the last-known-good")
    func eviction() throws {
        let f = try Fixture()
        defer { cleanup(f.dir) }
        let store = try f.openStore(policy: StoragePolicy(maxVersions: 2))
        var manifests: [(String, String)] = []
        for i in 0..<4 {
            let p = f.dir + "/m\(i).gguf"
            try writeTinyModel(to: p, seed: Float(10 + i))
            manifests.append((try f.signer.manifestFile(for: p, version: "2.\(i).0", in: f.dir), p))
        }
        try store.install(manifestAt: manifests[0].0, publicKey: f.signer.publicKey, source: .file(manifests[0].1))
        try store.install(manifestAt: manifests[1].0, publicKey: f.signer.publicKey, source: .file(manifests[1].1))
        try store.markKnownGood("tiny@2.0.0")  // pin the oldest as last-known-good
        try store.install(manifestAt: manifests[2].0, publicKey: f.signer.publicKey, source: .file(manifests[2].1))
        // 3 versions, cap 2: 2.1.0 became last-known-good on activation of 2.2.0, so 2.0.0 (oldest,
        // not pointed to) goes.
        #expect(store.lastKnownGood == "tiny@2.1.0")
        #expect(try store.installed().map(\.key) == ["tiny@2.1.0", "tiny@2.2.0"])
        try store.markKnownGood("tiny@2.1.0")
        try store.install(manifestAt: manifests[3].0, publicKey: f.signer.publicKey, source: .file(manifests[3].1),
                          activate: false)
        // Not activated: active 2.2.0 and last-known-good 2.1.0 are kept; the new one is the only candidate
        // but it is newest; the oldest non-pointed version is evicted first → the new one goes.
        #expect(Set(try store.installed().map(\.key)).isSuperset(of: ["tiny@2.1.0", "tiny@2.2.0"]))
        #expect(try store.installed().count == 2)

        // Byte cap.
        let capped = try ModelStore(path: f.storeDir, policy: StoragePolicy(maxVersions: 10, maxBytes: 1),
                                    trustedKeys: [f.signer.publicKey])
        let evicted = try capped.gc()
        #expect(evicted.isEmpty)  // only active and last-known-good remain: nothing may be evicted
        #expect(Set(try capped.installed().map(\.key)) == ["tiny@2.1.0", "tiny@2.2.0"])
    }

    @Test("verify reports a corrupted installed file")
    func verifyDetectsCorruption() throws {
        let f = try Fixture()
        defer { cleanup(f.dir) }
        let store = try f.openStore()
        try store.install(manifestAt: f.v1Manifest, publicKey: f.signer.publicKey, source: .file(f.v1Model))
        let h = try FileHandle(forWritingTo: URL(fileURLWithPath: store.activeModelPath!))
        try h.seek(toOffset: 100)
        h.write(Data([0xFF, 0xFE]))
        try h.close()
        let problems = store.verify()
        #expect(problems.count == 1)
        if case .checksumMismatch = problems.first?.error {} else { Issue.record("expected checksumMismatch: \(problems)") }
    }

    @Test("health: load failures, crashes on load and a lower eval score roll back automatically",
          arguments: ["loadFailures", "crashes", "eval"])
    func autoRollback(_ trigger: String) throws {
        let f = try Fixture()
        defer { cleanup(f.dir) }
        let store = try f.openStore()
        try store.install(manifestAt: f.v1Manifest, publicKey: f.signer.publicKey, source: .file(f.v1Model))
        try store.install(manifestAt: f.v2Manifest, publicKey: f.signer.publicKey, source: .file(f.v2Model))
        let monitor = HealthMonitor(store: store)
        let t = HealthThresholds(maxLoadFailures: 2, maxCrashesOnLoad: 2, minEvalEvents: 3, evalTolerance: 0.01)
        for _ in 0..<3 { try monitor.recordEval("tiny@1.0.0", score: 0.9) }
        #expect(try store.evaluateHealth(t) == .healthy)
        switch trigger {
        case "loadFailures":
            try monitor.beginLoad("tiny@1.1.0"); try monitor.endLoad("tiny@1.1.0", success: false)
            #expect(try store.evaluateHealth(t) == .healthy)
            try monitor.beginLoad("tiny@1.1.0"); try monitor.endLoad("tiny@1.1.0", success: false)
        case "crashes":
            try monitor.beginLoad("tiny@1.1.0")  // process "dies" here
            try monitor.beginLoad("tiny@1.1.0")  // next start: one crash
            #expect(try store.evaluateHealth(t) == .healthy)
            try monitor.beginLoad("tiny@1.1.0")  // two crashes
        default:
            for _ in 0..<3 { try monitor.recordEval("tiny@1.1.0", score: 0.95) }
            #expect(try store.evaluateHealth(t) == .healthy)  // better than before
            for _ in 0..<6 { try monitor.recordEval("tiny@1.1.0", score: 0.5) }
        }
        guard case let .rolledBack(from, to, _) = try store.evaluateHealth(t) else {
            Issue.record("no rollback"); return
        }
        #expect(from == "tiny@1.1.0" && to == "tiny@1.0.0")
        #expect(store.active == "tiny@1.0.0")
        #expect(monitor.isRejected("tiny@1.1.0"))
        #expect(try store.evaluateHealth(t) == .healthy)
    }

    @Test("health: a clean active version is promoted to last-known-good")
    func promotion() throws {
        let f = try Fixture()
        defer { cleanup(f.dir) }
        let store = try f.openStore()
        try store.install(manifestAt: f.v1Manifest, publicKey: f.signer.publicKey, source: .file(f.v1Model))
        try store.install(manifestAt: f.v2Manifest, publicKey: f.signer.publicKey, source: .file(f.v2Model))
        let monitor = HealthMonitor(store: store)
        let t = HealthThresholds(promoteAfterSuccessfulLoads: 2)
        try monitor.beginLoad("tiny@1.1.0"); try monitor.endLoad("tiny@1.1.0", success: true)
        #expect(try store.evaluateHealth(t) == .healthy)
        try monitor.beginLoad("tiny@1.1.0"); try monitor.endLoad("tiny@1.1.0", success: true)
        #expect(try store.evaluateHealth(t) == .promoted("tiny@1.1.0"))
        #expect(store.lastKnownGood == "tiny@1.1.0")
    }

    @Test("reinstalling an installed version re-activates it without copying")
    func reinstall() throws {
        let f = try Fixture()
        defer { cleanup(f.dir) }
        let store = try f.openStore()
        try store.install(manifestAt: f.v1Manifest, publicKey: f.signer.publicKey, source: .file(f.v1Model))
        try store.install(manifestAt: f.v2Manifest, publicKey: f.signer.publicKey, source: .file(f.v2Model))
        try store.install(manifestAt: f.v1Manifest, publicKey: f.signer.publicKey, source: .file("/nonexistent"))
        #expect(store.active == "tiny@1.0.0" && store.lastKnownGood == "tiny@1.1.0")
    }
}
