// Health counters per installed version and automatic rollback.

import Foundation

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

    /// Marks a load of `key` as started (an unfinished earlier load counts as a crash on load).
    public func beginLoad(_ key: String) throws {
        try update(key) { h in
            if h.loadInProgress { h.crashesOnLoad += 1 }
            h.loadInProgress = true
        }
    }

    /// Marks the load of `key` as finished.
    public func endLoad(_ key: String, success: Bool) throws {
        try update(key) { h in
            h.loadInProgress = false
            if success { h.successfulLoads += 1 } else { h.loadFailures += 1 }
        }
    }

    /// Records one local eval result (score in any fixed scale, e.g. 0...1). Stays on the device.
    public func recordEval(_ key: String, score: Double) throws {
        guard score.isFinite else { return }
        try update(key) { h in
            h.evalEvents += 1
            h.evalScoreSum += score
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
