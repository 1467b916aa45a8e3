// Loading the active model with health accounting: load markers, failure counts, eval scores and the
// automatic rollback that follows when a threshold is crossed.

import EdgeLMEssentials
import GGUF

extension ModelStore {
    /// Loads the store's active version with health accounting and automatic rollback.
    ///
    /// 1. Charges a crash on load for every marker left by a process that died while loading
    ///    (``HealthMonitor/reapCrashedLoads(currentPID:)``), then ``evaluateHealth(_:)``: a version past a
    ///    threshold is rolled back to last-known-good before anything is loaded.
    /// 2. Writes this process's load marker (``HealthMonitor/beginLoad(_:pid:)``), verifies the version
    ///    (``verifiedModelPath(_:)``: lstat checks, signature against ``trustedKeys``, size and SHA-256), calls
    ///    `load` with its GGUF path and key, and clears the marker (``HealthMonitor/endLoad(_:success:pid:)``).
    ///    A version that fails verification counts as a failed load and is never passed to `load`.
    /// 3. On a failed load, evaluates health again; when that rolls back, loads the new active version (each
    ///    version is tried at most once). Otherwise the load error is rethrown.
    ///
    /// - Parameters:
    ///   - thresholds: when to roll back (and when to promote a clean version to last-known-good).
    ///   - report: called with every decision other than `.healthy` (the CLI prints them on stderr).
    ///   - afterMarker: called right after the marker is written (tests use it to die "while loading").
    ///   - load: loads the model at `path` (the key is `id@version`).
    /// - Returns: what `load` returned and the key of the version it loaded.
    /// - Throws: ``LifecycleError/notInstalled(_:)`` when there is no active version; the error of `load`
    ///   when the load fails and no rollback happens; store I/O errors.
    public func loadActive<T>(thresholds: HealthThresholds = HealthThresholds(),
                              report: (HealthDecision) -> Void = { _ in },
                              afterMarker: (() -> Void)? = nil,
                              _ load: (_ path: String, _ key: String) throws -> T) throws -> (value: T, key: String) {
        let monitor = HealthMonitor(store: self)
        try monitor.reapCrashedLoads()
        var tried: Set<String> = []
        var lastError: (any Error)?
        while true {
            let before = try evaluateHealth(thresholds)
            if before != .healthy { report(before) }
            guard let key = active else {
                if let raw = rawPointer(activePointer) {
                    throw LifecycleError.corruptStore("the active pointer holds '\(SafeText.quote(raw))', not an id@version name")
                }
                throw LifecycleError.notInstalled("(no active version in \(root))")
            }
            if tried.contains(key), let lastError { throw lastError }
            tried.insert(key)
            try monitor.beginLoad(key)
            afterMarker?()
            do {
                let (path, _) = try verifiedModelPath(key)
                let value = try load(path, key)
                try monitor.endLoad(key, success: true)
                let after = try evaluateHealth(thresholds)
                if after != .healthy { report(after) }
                return (value, key)
            } catch {
                try monitor.endLoad(key, success: false)
                let after = try evaluateHealth(thresholds)
                guard case .rolledBack = after else { throw error }
                report(after)
                lastError = error
            }
        }
    }

    /// Records local eval scores (e.g. 1 per correct example, 0 per wrong one) for the active version, then
    /// evaluates health: a mean below the last-known-good's (by more than `thresholds.evalTolerance`, once
    /// both have `thresholds.minEvalEvents` events) rolls back.
    /// - Returns: the health decision (`.healthy` when there is no active version or no finite score).
    @discardableResult
    public func recordEvalScores(_ scores: [Double], thresholds: HealthThresholds = HealthThresholds()) throws -> HealthDecision {
        guard let key = active else { return .healthy }
        try HealthMonitor(store: self).recordEvals(key, scores: scores)
        return try evaluateHealth(thresholds)
    }

    /// Opens the store at `path` only when it already holds an active version (never creates a directory).
    /// - Returns: nil when `path` has no `active` pointer naming an installed version.
    public static func existing(at path: String) throws -> ModelStore? {
        let root = URL(fileURLWithPath: path).standardizedFileURL.path
        guard let s = try? String(contentsOfFile: root + "/active", encoding: .utf8),
            !s.trimmingWhitespace().isEmpty
        else { return nil }
        return try ModelStore(path: root)
    }
}

extension HealthDecision: CustomStringConvertible {
    /// One line for logs, e.g. `rolled back tiny@1.1.0 → tiny@1.0.0: 3 load failures (threshold 3)`.
    public var description: String {
        switch self {
        case .healthy: "healthy"
        case let .rolledBack(from, to, reason): "rolled back \(from) → \(to): \(reason)"
        case let .promoted(key): "\(key) is now last-known-good"
        case let .unhealthyWithoutFallback(key, reason): "\(key) is unhealthy (\(reason)) but there is no other version to roll back to"
        }
    }
}
