// Health-checked loads of the active model (ModelStore.loadActive): load failures, crashes on load found
// through load markers of dead processes, eval scores, and the automatic rollback each triggers.

import Foundation
import GGUF
import Inference
import Testing
@testable import ModelLifecycle

/// A store with a runnable tiny model as v1 (installed first: it becomes last-known-good) and, as the active
/// v2, either another runnable model or a GGUF that parses and verifies but that Inference cannot load.
struct HealthFixture {
    let dir: String
    let signer = Signer()
    let store: ModelStore
    static let v1 = "tiny@1.0.0", v2 = "tiny@1.1.0"

    init(v2Runnable: Bool) throws {
        dir = temporaryDirectory("health")
        let m1 = dir + "/v1.gguf", m2 = dir + "/v2.gguf"
        try RunnableTinyModel.write(to: m1, seed: 1)
        if v2Runnable {
            try RunnableTinyModel.write(to: m2, seed: 2)
        } else {
            // Same tokenizer, no transformer tensors: verifies and installs, fails in Model(path:).
            try writeTinyModel(to: m2, tokens: (0..<256).map(RunnableTinyModel.byteToken) + ["ab"] + RunnableTinyModel.specials,
                               merges: ["a b"], type: .f32)
        }
        store = try ModelStore(path: dir + "/store", trustedKeys: [signer.publicKey])
        for (path, version) in [(m1, "1.0.0"), (m2, "1.1.0")] {
            let manifest = try signer.manifestFile(for: path, version: version, in: dir)
            try store.install(manifestAt: manifest, publicKey: signer.publicKey, source: .file(path))
        }
    }

    /// A process id that no longer exists (a child that has exited and been reaped).
    static func deadPID() throws -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/true")
        try p.run()
        p.waitUntilExit()
        return p.processIdentifier
    }
}

@Suite(.serialized) struct ModelStoreHealthLoadTests {
    @Test func healthyLoadCountsSuccessAndClearsMarker() throws {
        let f = try HealthFixture(v2Runnable: true)
        defer { cleanup(f.dir) }
        var reports: [HealthDecision] = []
        let (model, key) = try f.store.loadActive(report: { reports.append($0) }) { path, _ in try Model(path: path) }
        #expect(key == HealthFixture.v2)
        #expect(model.config.blockCount == RunnableTinyModel.layers)
        #expect(reports.isEmpty)
        let monitor = HealthMonitor(store: f.store)
        #expect(monitor.health(of: key).successfulLoads == 1)
        #expect(monitor.health(of: key).loadInProgress == false)
        #expect(monitor.loadsInProgress().isEmpty)
    }

    /// Three failed loads of v2 (the default threshold): the first two rethrow the load error, the third
    /// rolls back to v1, loads it, and v2 is rejected.
    @Test func loadFailuresRollBackToLastKnownGood() throws {
        let f = try HealthFixture(v2Runnable: false)
        defer { cleanup(f.dir) }
        #expect(f.store.active == HealthFixture.v2)
        #expect(f.store.lastKnownGood == HealthFixture.v1)
        for attempt in 1...2 {
            var reports: [HealthDecision] = []
            #expect(throws: InferenceError.self, "attempt \(attempt)") {
                _ = try f.store.loadActive(report: { reports.append($0) }) { path, _ in try Model(path: path) }
            }
            #expect(reports.isEmpty)
            #expect(f.store.active == HealthFixture.v2)
        }
        var reports: [HealthDecision] = []
        let (_, key) = try f.store.loadActive(report: { reports.append($0) }) { path, _ in try Model(path: path) }
        #expect(key == HealthFixture.v1)
        #expect(f.store.active == HealthFixture.v1)
        guard case let .rolledBack(from, to, reason)? = reports.first else {
            Issue.record("expected a rollback report, got \(reports)")
            return
        }
        #expect(from == HealthFixture.v2 && to == HealthFixture.v1)
        #expect(reason.contains("3 load failures"))
        let monitor = HealthMonitor(store: f.store)
        #expect(monitor.isRejected(HealthFixture.v2))
        #expect(monitor.health(of: HealthFixture.v2).loadFailures == 3)
        #expect(monitor.health(of: HealthFixture.v1).successfulLoads == 1)
    }

    /// A marker left by a process that died while loading counts one crash at the next start; two crashes
    /// (the default threshold) roll back before anything is loaded.
    @Test func markersOfDeadProcessesCountAsCrashesOnLoad() throws {
        let f = try HealthFixture(v2Runnable: true)
        defer { cleanup(f.dir) }
        let monitor = HealthMonitor(store: f.store)
        try monitor.beginLoad(HealthFixture.v2, pid: try HealthFixture.deadPID())
        #expect(monitor.loadsInProgress().count == 1)
        var loaded: [String] = []
        var reports: [HealthDecision] = []
        _ = try f.store.loadActive(report: { reports.append($0) }) { _, key in loaded.append(key) }
        #expect(monitor.health(of: HealthFixture.v2).crashesOnLoad == 1)
        #expect(loaded == [HealthFixture.v2] && reports.isEmpty)
        #expect(monitor.loadsInProgress().isEmpty)

        try monitor.beginLoad(HealthFixture.v2, pid: try HealthFixture.deadPID())
        _ = try f.store.loadActive(report: { reports.append($0) }) { _, key in loaded.append(key) }
        #expect(loaded == [HealthFixture.v2, HealthFixture.v1])
        #expect(reports.count == 1)
        if case let .rolledBack(from, to, reason)? = reports.first {
            #expect(from == HealthFixture.v2 && to == HealthFixture.v1 && reason.contains("2 crashes on load"))
        } else {
            Issue.record("expected a rollback, got \(reports)")
        }
        #expect(f.store.active == HealthFixture.v1)
    }

    /// A marker of a process that is still running (another command loading at the same time) is not a crash.
    @Test func markersOfLiveProcessesAreNotCrashes() throws {
        let f = try HealthFixture(v2Runnable: true)
        defer { cleanup(f.dir) }
        let monitor = HealthMonitor(store: f.store)
        let live = getppid()
        try monitor.beginLoad(HealthFixture.v2, pid: live)
        #expect(try monitor.reapCrashedLoads().isEmpty)
        _ = try f.store.loadActive { _, _ in () }
        #expect(monitor.health(of: HealthFixture.v2).crashesOnLoad == 0)
        #expect(monitor.loadsInProgress().map(\.pid) == [live])
        try monitor.endLoad(HealthFixture.v2, success: true, pid: live)
        #expect(monitor.health(of: HealthFixture.v2).loadInProgress == false)
    }

    /// Eval scores of the active version below the last-known-good's roll back once both have enough events.
    @Test func evalScoresBelowLastKnownGoodRollBack() throws {
        let f = try HealthFixture(v2Runnable: true)
        defer { cleanup(f.dir) }
        let t = HealthThresholds(minEvalEvents: 5)
        try HealthMonitor(store: f.store).recordEvals(HealthFixture.v1, scores: [1, 1, 1, 1, 0])  // mean 0.8
        #expect(try f.store.recordEvalScores([0, 0, 0, 0], thresholds: t) == .healthy)  // 4 events: too few
        #expect(f.store.active == HealthFixture.v2)
        let d = try f.store.recordEvalScores([1, 1, 1, 1, 1, 1], thresholds: t)     // 10 events, mean 0.6 < 0.8
        guard case let .rolledBack(from, to, reason) = d else {
            Issue.record("expected a rollback, got \(d)")
            return
        }
        #expect(from == HealthFixture.v2 && to == HealthFixture.v1 && reason.contains("eval score"))
        #expect(f.store.active == HealthFixture.v1)
        #expect(HealthMonitor(store: f.store).health(of: HealthFixture.v2).evalEvents == 10)
    }

    /// As good as (or better than) last-known-good, or within the tolerance: no rollback.
    @Test(arguments: [(0.8, 0.0), (0.7, 0.15)])
    func evalScoresAtLeastLastKnownGoodStay(mean: Double, tolerance: Double) throws {
        let f = try HealthFixture(v2Runnable: true)
        defer { cleanup(f.dir) }
        let t = HealthThresholds(minEvalEvents: 5, evalTolerance: tolerance)
        try HealthMonitor(store: f.store).recordEvals(HealthFixture.v1, scores: [1, 1, 1, 1, 0])
        let ones = Int((mean * 10).rounded())
        let scores = [Double](repeating: 1, count: ones) + [Double](repeating: 0, count: 10 - ones)
        #expect(try f.store.recordEvalScores(scores, thresholds: t) == .healthy)
        #expect(f.store.active == HealthFixture.v2)
    }
}

/// The manifest's memory figure follows each profile's weight residency.
@Suite struct ResidencyAwareMemoryTests {
    /// Streamed profiles count the streaming window, not all weights; the window mirrors Inference's
    /// `Session.memoryRequirement` exactly (checked on a model whose window is smaller than its weights).
    @Test func streamedWindowMatchesInference() throws {
        let dir = temporaryDirectory("residency")
        defer { cleanup(dir) }
        let path = dir + "/m.gguf"
        try RunnableTinyModel.write(to: path, dim: 512, ffn: 1024)   // 2 layers of 9.4 MB (f32)
        let shape = try ModelShape(file: try GGUFFile(path: path))
        let model = try Model(path: path)
        let window = shape.streamedWeightBytes
        #expect(window < shape.weightBytes)
        #expect(window == shape.largestLayerBytes + 2 * ModelShape.streamingFolioBytes)
        for batch in [1, 8, 64] {
            let engine = try Session.memoryRequirement(model: model, options: SessionOptions(
                contextLength: 512, batchSize: batch, threads: 1, residency: .streamed)).weights
            #expect(window == engine, "batch \(batch)")
        }
        let streamed = DeviceMemoryProfile(name: "s", memoryCap: 1 << 30, contextLength: 512, batch: 8, residency: .streamed)
        let resident = DeviceMemoryProfile(name: "r", memoryCap: 1 << 30, contextLength: 512, batch: 8, residency: .resident)
        #expect(shape.minimumMemory(on: resident) - shape.minimumMemory(on: streamed)
                == shape.weightBytes - shape.streamedWeightBytes)
    }

    /// By hand on a file without layers: window = head chunk (4 rows of 68 B) + 2 folios of 2 MiB,
    /// and `describe` records it for the streamed built-in profile (wearable) when smaller than the weights.
    @Test func streamedWindowByHand() throws {
        let dir = temporaryDirectory("residency")
        defer { cleanup(dir) }
        let path = dir + "/m.gguf"
        try writeTinyModel(to: path, padFloats: 1 << 21)   // 8 MiB of weights, no blk.* tensors
        let shape = try ModelShape(file: try GGUFFile(path: path))
        #expect(shape.outputRowBytes == 68 && shape.outputRows == 5 && shape.largestLayerBytes == 0)
        #expect(shape.streamedWeightBytes == 4 * 68 + 2 * (2 << 20))
        let wearable = DeviceMemoryProfile.wearable
        #expect(wearable.residency == .streamed)
        let m = try ModelManifest.describe(modelAt: path, id: "tiny", version: try SemVer(parsing: "1.0.0"))
        #expect(m.minimumMemory["wearable"] == shape.minimumMemory(on: wearable))
        #expect(m.minimumMemory["wearable"]! - ModelShape.processBaselineBytes < shape.weightBytes)
        #expect(m.minimumMemory["laptop"]! > shape.weightBytes)
    }
}
