// Crash safety: the real `edgelm models install` is killed at every named install step and at random
// times; the reopened store must keep a complete, verified active model and show no half-written version.

import Foundation
@testable import ModelLifecycle
import Testing

/// Asserts the store invariants after a crash: the active (and last-known-good) version is installed and
/// verifies byte-for-byte; every version in versions/ is complete; nothing but known entries is visible.
private func checkInvariants(_ store: ModelStore, allowed: Set<String>, _ context: String) {
    #expect(store.verify().isEmpty, "\(context): \(store.verify())")
    guard let active = store.active else { Issue.record("\(context): no active model"); return }
    #expect(allowed.contains(active), "\(context): active \(active)")
    #expect(store.isInstalled(active), "\(context)")
    let versions = (try? FileManager.default.contentsOfDirectory(atPath: store.root + "/versions")) ?? []
    for v in versions {
        let files = Set((try? FileManager.default.contentsOfDirectory(atPath: store.root + "/versions/" + v)) ?? [])
        #expect(files == ["model.gguf", "manifest.json", "installed.json"], "\(context): \(v) holds \(files)")
    }
}

@Suite("ModelStore kill tests", .serialized, .enabled(if: edgelmBinary() != nil, "edgelm binary not built next to the tests"))
struct ModelStoreKillTests {
    static let steps = InstallStep.allCases.map(\.rawValue)

    @Test("killed at each install step: previous model active until activation, no half-written version",
          arguments: steps)
    func killAtStep(_ step: String) throws {
        let f = try Fixture(padFloats: 600_000)  // ~2.4 MB: a multi-chunk copy
        defer { cleanup(f.dir) }
        let store = try f.openStore()
        try store.install(manifestAt: f.v1Manifest, publicKey: f.signer.publicKey, source: .file(f.v1Model))
        let pub = SigningKeys.publicKeyBase64(f.signer.publicKey)

        let (status, _, stderr) = try runEdgeLM(
            ["models", "install", f.v2Manifest, "--file", f.v2Model, "--public-key", pub, "--store", f.storeDir, "--quiet"],
            environment: ["EDGELM_TEST_CRASH_AT": step])
        #expect(status == 137, "step \(step) was not reached: \(stderr)")

        let reopened = try f.openStore()
        let afterActivation = step == InstallStep.activated.rawValue
        checkInvariants(reopened, allowed: afterActivation ? ["tiny@1.1.0"] : ["tiny@1.0.0"], step)
        #expect(reopened.lastKnownGood == "tiny@1.0.0", "\(step)")
        // No staging leftovers other than a resumable partial.
        let staging = (try? FileManager.default.contentsOfDirectory(atPath: f.storeDir + "/staging")) ?? []
        for s in staging {
            let files = (try? FileManager.default.contentsOfDirectory(atPath: f.storeDir + "/staging/" + s)) ?? []
            #expect(files == ["model.gguf.partial"], "\(step): staging/\(s) holds \(files)")
        }
        // And the install completes when retried.
        let (again, _, err2) = try runEdgeLM(
            ["models", "install", f.v2Manifest, "--file", f.v2Model, "--public-key", pub, "--store", f.storeDir, "--quiet"])
        #expect(again == 0, "\(err2)")
        let done = try f.openStore()
        checkInvariants(done, allowed: ["tiny@1.1.0"], "\(step) retried")
        #expect(done.lastKnownGood == "tiny@1.0.0")
    }

    @Test("SIGKILL at random times during install and rollback keeps the invariants")
    func randomKills() throws {
        let f = try Fixture(padFloats: 1_500_000)  // ~6 MB
        defer { cleanup(f.dir) }
        let store = try f.openStore()
        try store.install(manifestAt: f.v1Manifest, publicKey: f.signer.publicKey, source: .file(f.v1Model))
        let pub = SigningKeys.publicKeyBase64(f.signer.publicKey)
        var rng = SplitMix64(seed: 42)
        for round in 0..<12 {
            let p = Process()
            p.executableURL = edgelmBinary()!
            p.arguments = round % 3 == 2
                ? ["models", "rollback", "--store", f.storeDir]
                : ["models", "install", f.v2Manifest, "--file", f.v2Model, "--public-key", pub, "--store", f.storeDir, "--quiet"]
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            usleep(UInt32.random(in: 0...150_000, using: &rng))
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            let reopened = try f.openStore()
            checkInvariants(reopened, allowed: ["tiny@1.0.0", "tiny@1.1.0"], "round \(round)")
            #expect(reopened.lastKnownGood == "tiny@1.0.0" || reopened.lastKnownGood == "tiny@1.1.0")
        }
    }
}
