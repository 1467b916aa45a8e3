// Health counters per installed version and automatic rollback.

import EdgeLMEssentials

/// Thresholds that make a newly activated version roll back.
public struct HealthThresholds: Sendable, Equatable, Codable {
    /// Roll back after this many failed loads of the active version.
    public var maxLoadFailures: Int
    /// Roll back after this many loads that never finished (the process died while loading).
    public var maxCrashesOnLoad: Int
    /// Eval scores are compared once each version has at least this many eval events.
    public var minEvalEvents: Int
    /// Roll back when the active version's mean eval score is below the last-known-good's by more than this.
    public var evalTolerance: Double
    /// Promote the active version to last-known-good after this many clean loads (0 disables promotion).
    public var promoteAfterSuccessfulLoads: Int

    public init(maxLoadFailures: Int = 3, maxCrashesOnLoad: Int = 2, minEvalEvents: Int = 5,
                evalTolerance: Double = 0.0, promoteAfterSuccessfulLoads: Int = 0) {
        self.maxLoadFailures = maxLoadFailures
        self.maxCrashesOnLoad = maxCrashesOnLoad
        self.minEvalEvents = minEvalEvents
        self.evalTolerance = evalTolerance
        self.promoteAfterSuccessfulLoads = promoteAfterSuccessfulLoads
    }
}

/// Counters of one version (persisted in `<store>/health.json`). Numbers only.
public struct VersionHealth: Sendable, Equatable, Codable {
    public var successfulLoads = 0
    public var loadFailures = 0
    public var crashesOnLoad = 0
    public var evalEvents = 0
    public var evalScoreSum = 0.0
    /// A load began and has not ended (if the process dies, the next `beginLoad` counts a crash).
    public var loadInProgress = false
    /// Rolled back automatically; not to be re-activated by rollout.
    public var rejected = false

    public init() {}

    /// Mean eval score, nil without events.
    public var meanEvalScore: Double? { evalEvents > 0 ? evalScoreSum / Double(evalEvents) : nil }
}

/// What ``ModelStore/evaluateHealth(_:)`` did.
public enum HealthDecision: Sendable, Equatable {
    /// Nothing to do.
    case healthy
    /// The active version was rolled back to `to` because of `reason`.
    case rolledBack(from: String, to: String, reason: String)
    /// The active version became last-known-good.
    case promoted(String)
    /// The active version is unhealthy but there is nothing to roll back to.
    case unhealthyWithoutFallback(String, reason: String)
}

/// Records load and eval events per version in the store (`health.json`, atomically rewritten).
///
/// Use: `beginLoad` before loading the active model, `endLoad(success:)` after; `recordEval` for local eval
/// results; then ``ModelStore/evaluateHealth(_:)``. A process that dies between `beginLoad` and `endLoad`
/// is counted as a crash on load at the next `beginLoad`.
public struct HealthMonitor: Sendable {
    public let store: ModelStore

    public init(store: ModelStore) { self.store = store }

    /// Counters of every version.
    public func all() -> [String: VersionHealth] {
        guard let data = FileManager.default.contents(atPath: store.healthPath),
            let h = try? JSONDecoder().decode([String: VersionHealth].self, from: data)
        else { return [:] }
        return h
    }

    /// Counters of `key`.
    public func health(of key: String) -> VersionHealth { all()[key] ?? VersionHealth() }

    func update(_ key: String, _ body: (inout VersionHealth) -> Void) throws {
        try store.withLock {
            var h = all()
            body(&h[key, default: VersionHealth()])
            let e = JSONEncoder()
            e.outputFormatting = [.sortedKeys]
            try AtomicFile.write(try e.encode(h), to: store.healthPath)
        }
    }

    /// Directory of the load markers (`<store>/loading/<key>#<pid>`).
    var markerDirectory: String { store.root + "/loading" }

    private func markerPath(_ key: String, pid: Int32) -> String { markerDirectory + "/\(key)#\(pid)" }

    /// Marks a load of `key` by process `pid` as started: writes the marker `<store>/loading/<key>#<pid>`
    /// (fsynced) and sets `loadInProgress`. First counts as crashes on load every marker left by a process
    /// that no longer runs (``reapCrashedLoads(currentPID:)``), and an unfinished earlier load of `key` by
    /// this same process.
    /// - Complexity: O(markers) plus one rewrite of `health.json`.
    public func beginLoad(_ key: String, pid: Int32 = getpid()) throws {
        try reapCrashedLoads(currentPID: pid)
        try ModelStore.makeRealDirectory(markerDirectory)  // never through a planted symlink
        let marker = markerPath(key, pid: pid)
        let again = FileManager.default.fileExists(atPath: marker)
        try update(key) { h in
            if again { h.crashesOnLoad += 1 }
            h.loadInProgress = true
        }
        try AtomicFile.write(Data("\(pid)\n".utf8), to: marker)
    }

    /// Marks the load of `key` by `pid` as finished: removes its marker and counts a success or a failure.
    public func endLoad(_ key: String, success: Bool, pid: Int32 = getpid()) throws {
        try? FileManager.default.removeItem(atPath: markerPath(key, pid: pid))
        let others = loadsInProgress().contains { $0.key == key }
        try update(key) { h in
            h.loadInProgress = others
            if success { h.successfulLoads += 1 } else { h.loadFailures += 1 }
        }
    }

    /// The load markers present: (version key, pid of the loading process).
    public func loadsInProgress() -> [(key: String, pid: Int32)] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: markerDirectory)) ?? []
        return names.compactMap { name in
            guard let hash = name.lastIndex(of: "#"), let pid = Int32(name[name.index(after: hash)...]) else { return nil }
            return (String(name[..<hash]), pid)
        }
    }

    /// Counts a crash on load for every marker whose process is gone (`kill(pid, 0)` fails with ESRCH) and
    /// removes those markers. Markers of `currentPID` are left to ``beginLoad(_:pid:)``.
    /// - Returns: the keys that were charged a crash (one entry per marker).
    @discardableResult
    public func reapCrashedLoads(currentPID: Int32 = getpid()) throws -> [String] {
        var charged: [String] = []
        for (key, pid) in loadsInProgress() where pid != currentPID && !Self.isRunning(pid) {
            // Whoever removes the marker charges the crash (two processes reaping at once count it once).
            guard (try? FileManager.default.removeItem(atPath: markerPath(key, pid: pid))) != nil else { continue }
            let others = loadsInProgress().contains { $0.key == key }
            try update(key) { h in
                h.crashesOnLoad += 1
                h.loadInProgress = others
            }
            charged.append(key)
        }
        return charged
    }

    /// Whether a process with this id exists.
    static func isRunning(_ pid: Int32) -> Bool {
        guard pid > 0 else { return false }
        return kill(pid, 0) == 0 || errno != ESRCH
    }

    /// Records one local eval result (score in any fixed scale, e.g. 0...1). Stays on the device.
    public func recordEval(_ key: String, score: Double) throws {
        try recordEvals(key, scores: [score])
    }

    /// Records several local eval results at once (one rewrite of `health.json`); non-finite scores are skipped.
    public func recordEvals(_ key: String, scores: [Double]) throws {
        let finite = scores.filter(\.isFinite)
        guard !finite.isEmpty else { return }
        try update(key) { h in
            h.evalEvents += finite.count
            h.evalScoreSum += finite.reduce(0, +)
        }
    }

    /// Whether `key` was rejected by an automatic rollback.
    public func isRejected(_ key: String) -> Bool { health(of: key).rejected }
}

extension ModelStore {
    /// Rolls back automatically when the active version's counters cross `thresholds` (load failures,
    /// crashes on load, or a mean eval score below the last-known-good's); marks it rejected. Promotes a
    /// clean active version to last-known-good when `promoteAfterSuccessfulLoads` is reached.
    public func evaluateHealth(_ thresholds: HealthThresholds = HealthThresholds()) throws -> HealthDecision {
        let monitor = HealthMonitor(store: self)
        guard let active else { return .healthy }
        let h = monitor.health(of: active)
        var reason: String?
        if h.loadFailures >= thresholds.maxLoadFailures {
            reason = "\(h.loadFailures) load failures (threshold \(thresholds.maxLoadFailures))"
        } else if h.crashesOnLoad >= thresholds.maxCrashesOnLoad {
            reason = "\(h.crashesOnLoad) crashes on load (threshold \(thresholds.maxCrashesOnLoad))"
        } else if let lkg = lastKnownGood, lkg != active, h.evalEvents >= thresholds.minEvalEvents {
            let base = monitor.health(of: lkg)
            if base.evalEvents >= thresholds.minEvalEvents, let a = h.meanEvalScore, let b = base.meanEvalScore,
                a < b - thresholds.evalTolerance
            {
                reason = "mean eval score \(a) below last-known-good \(lkg)'s \(b)"
            }
        }
        if let reason {
            guard let lkg = lastKnownGood, lkg != active, isInstalled(lkg) else {
                return .unhealthyWithoutFallback(active, reason: reason)
            }
            try monitor.update(active) { $0.rejected = true }
            let to = try rollback()
            return .rolledBack(from: active, to: to, reason: reason)
        }
        if thresholds.promoteAfterSuccessfulLoads > 0, lastKnownGood != active,
            h.successfulLoads >= thresholds.promoteAfterSuccessfulLoads, h.loadFailures == 0, h.crashesOnLoad == 0
        {
            try markKnownGood(active)
            return .promoted(active)
        }
        return .healthy
    }
}
