// The on-device telemetry file: where the CLI and apps accumulate counters between runs, its opt-out, and the
// one event type the task commands record (enums and numbers only).

import EdgeLMEssentials

/// One finished (or failed) request, reduced to what telemetry may keep: enums and numbers. There is no
/// `String` field, so prompt or output text cannot be recorded through it.
public struct TelemetryEvent: Sendable, Equatable {
    public var task: TaskKind
    /// Wall time of the request in milliseconds.
    public var latencyMs: Double
    /// Prompt plus generated tokens.
    public var tokens: Int
    /// Set when the request was (or should have been) escalated.
    public var escalation: EscalationReason?
    /// Set when the request failed; only the error's type name is kept.
    public var error: ErrorType?
    /// The request was refused by the memory budget.
    public var memoryBudgetRefusal: Bool

    /// A successful request.
    public init(task: TaskKind, latencyMs: Double, tokens: Int, escalation: EscalationReason? = nil) {
        self.task = task; self.latencyMs = latencyMs; self.tokens = tokens; self.escalation = escalation
        self.error = nil; self.memoryBudgetRefusal = false
    }

    /// A failed request: the error's type name only; `memoryBudgetRefusal` when the budget refused it.
    public init(task: TaskKind, error: any Error, memoryBudgetRefusal: Bool = false) {
        self.task = task; self.latencyMs = 0; self.tokens = 0; self.escalation = nil
        self.error = ErrorType(error); self.memoryBudgetRefusal = memoryBudgetRefusal
    }
}

extension Telemetry {
    /// Records one event: a success counts a request (latency, tokens, escalation); a failure counts its
    /// error type (and a memory-budget refusal when flagged), not a request.
    public func record(_ event: TelemetryEvent) {
        if let error = event.error {
            record(errorType: error)
            if event.memoryBudgetRefusal { recordMemoryBudgetRefusal() }
        } else {
            record(task: event.task, latencyMs: event.latencyMs, tokens: event.tokens, escalated: event.escalation)
        }
    }
}

/// The persisted telemetry of one device: a JSON file of ``TelemetryState`` plus the rotating install id
/// next to it. Every update is read–modify–write under an exclusive `flock` on `<file>.lock`, written
/// atomically with mode 0600, so concurrent commands do not lose counts.
///
/// Location (``resolve(environment:storeDirectory:disabled:)``): `EDGELM_TELEMETRY=off` (or `0`, `false`,
/// `no`, `disabled`) turns recording off; any other value of `EDGELM_TELEMETRY` is the file's path; else
/// `<store>/telemetry.json` with the store from `--store`, `$EDGELM_STORE`, or `~/.edgelm/models`.
public struct TelemetryStore: Sendable, Equatable {
    /// The counters file.
    public let path: String

    public init(path: String) { self.path = URL(fileURLWithPath: path).standardizedFileURL.path }

    /// Values of `EDGELM_TELEMETRY` that turn telemetry off.
    public static let offValues: Set<String> = ["off", "0", "false", "no", "disabled", "none"]

    /// Where telemetry goes, or nil when it is turned off (`disabled`, or `EDGELM_TELEMETRY=off`).
    public static func resolve(environment: [String: String] = ProcessInfo.processInfo.environment,
                               storeDirectory: String? = nil, disabled: Bool = false) -> TelemetryStore? {
        if disabled { return nil }
        if let v = environment["EDGELM_TELEMETRY"]?.trimmingWhitespace(), !v.isEmpty {
            if offValues.contains(v.lowercased()) { return nil }
            return TelemetryStore(path: v)
        }
        var store = storeDirectory
        if store == nil, let env = environment["EDGELM_STORE"], !env.isEmpty { store = env }
        return TelemetryStore(path: (store ?? StorePaths.defaultStore(environment)) + "/telemetry.json")
    }

    /// The rotating install id file, next to the counters.
    public var installIDPath: String { URL(fileURLWithPath: path).deletingLastPathComponent().path + "/install-id.json" }

    /// The persisted counters (empty when the file is absent).
    public func load() -> Telemetry { Telemetry(contentsOf: path) }

    /// Loads the counters, applies `body`, saves them — all under the file lock.
    /// - Throws: ``LifecycleError/io(operation:path:errno:)`` when the directory or file cannot be written.
    public func update(_ body: (Telemetry) -> Void) throws {
        let dir = URL(fileURLWithPath: path).deletingLastPathComponent().path
        do { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) } catch {
            throw LifecycleError.io(operation: "create directory", path: dir, errno: EACCES)
        }
        let lockPath = path + ".lock"
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw AtomicFile.error("open lock", lockPath) }
        defer { close(fd) }
        while flock(fd, LOCK_EX) != 0 {
            guard errno == EINTR else { throw AtomicFile.error("flock", lockPath) }
        }
        defer { flock(fd, LOCK_UN) }
        let t = load()
        body(t)
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        try AtomicFile.write(try e.encode(t.snapshot), to: path, mode: 0o600)
    }

    /// Records one event (``update(_:)``).
    public func record(_ event: TelemetryEvent) throws { try update { $0.record(event) } }
}
