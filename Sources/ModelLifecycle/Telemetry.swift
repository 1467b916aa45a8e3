// Private, aggregate-only telemetry: counters and histograms keyed by closed enums; no text by construction.

import EdgeLMEssentials

/// The kind of task a request ran (a closed set: labels can never carry user text).
public enum TaskKind: String, CaseIterable, Codable, Sendable {
    case classify, extract, rewrite, suggest, draft, decide, generate
}

/// Why a request was escalated (e.g. to a server model).
public enum EscalationReason: String, CaseIterable, Codable, Sendable {
    case lowConfidence = "low_confidence"
    case invalidOutput = "invalid_output"
    case memoryBudget = "memory_budget"
    case timeout
    case unsupportedTask = "unsupported_task"
    /// The input did not fit the local context / device profile.
    case inputTooLong = "input_too_long"
    /// A high-risk decision, which the local model must not make.
    case highRiskDecision = "high_risk_decision"
    /// No local model was available.
    case noLocalModel = "no_local_model"
}

/// An error reduced to its Swift type name (`"GGUFError"`), never its message or associated values.
public struct ErrorType: Hashable, Sendable, CustomStringConvertible {
    /// `[A-Za-z0-9_.]`, at most 64 characters.
    public let name: String

    /// The static type name of `error`; the message (which may contain user text) is discarded.
    public init(_ error: any Error) {
        self.init(typeName: String(reflecting: type(of: error)))
    }

    init(typeName: String) {
        // Keep the last path component of a qualified name; drop generic arguments.
        let base = typeName.split(separator: "<").first.map(String.init) ?? typeName
        let last = base.split(separator: ".").last.map(String.init) ?? base
        let clean = String(last.filter { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }.prefix(64))
        name = clean.isEmpty ? "UnknownError" : clean
    }

    public var description: String { name }
}

/// Fixed-bucket histogram. Bucket `i` counts values `<= bounds[i]` (and above the previous bound); the last
/// bucket counts values above every bound.
public struct Histogram: Codable, Sendable, Equatable {
    public var bounds: [Double]
    public var counts: [Int]
    public var sum: Double
    public var count: Int

    public init(bounds: [Double]) {
        self.bounds = bounds
        counts = [Int](repeating: 0, count: bounds.count + 1)
        sum = 0
        count = 0
    }

    public mutating func observe(_ value: Double) {
        guard value.isFinite else { return }
        let i = bounds.firstIndex { value <= $0 } ?? bounds.count
        counts[i] += 1
        sum += value
        count += 1
    }

    /// Latency bucket bounds in milliseconds.
    public static let latencyBoundsMs: [Double] = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000]
    /// Token-count bucket bounds.
    public static let tokenBounds: [Double] = [16, 32, 64, 128, 256, 512, 1024, 2048, 4096]
}

/// Local eval results of one task, aggregated.
public struct EvalAggregate: Codable, Sendable, Equatable {
    public var events = 0
    public var correct = 0
    public var scoreSum = 0.0
    public init() {}
}

/// Everything telemetry holds: numbers keyed by enum raw values. (Persisted as JSON on the device.)
public struct TelemetryState: Codable, Sendable, Equatable {
    public var requests: [String: Int] = [:]
    public var latencyMs: [String: Histogram] = [:]
    public var tokens: [String: Histogram] = [:]
    public var escalations: [String: Int] = [:]
    public var errors: [String: Int] = [:]
    public var memoryBudgetRefusals = 0
    public var evals: [String: EvalAggregate] = [:]
    /// Active model `id@version` (a manifest-defined identifier, never user text).
    public var modelVersion: String?
    public init() {}
}

/// Laplace noise for ε-differential privacy on counts (sensitivity 1 per event by default).
public struct LaplaceNoise: Sendable, Equatable {
    public var epsilon: Double
    public var sensitivity: Double
    public init(epsilon: Double, sensitivity: Double = 1) {
        precondition(epsilon > 0 && sensitivity > 0, "epsilon and sensitivity must be positive")
        self.epsilon = epsilon
        self.sensitivity = sensitivity
    }

    /// The Laplace scale b = sensitivity / ε (standard deviation √2·b, mean |noise| = b).
    public var scale: Double { sensitivity / epsilon }

    /// One draw from Laplace(0, b) by inverse CDF.
    public func sample<R: RandomNumberGenerator>(using rng: inout R) -> Double {
        var u = 0.0
        repeat { u = Double.random(in: -0.5..<0.5, using: &rng) } while u == -0.5
        let mag = -scale * log(1 - 2 * Swift.abs(u))
        return u < 0 ? -mag : mag
    }
}

/// SplitMix64: a small seeded generator for reproducible noise in tests.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Aggregate-only telemetry. The recording API takes only enums and numbers, so prompt or output text cannot
/// enter by construction; errors are reduced to their type name. Thread-safe.
///
/// ```swift
/// let t = Telemetry()
/// t.record(task: .classify, latencyMs: 42, tokens: 17, escalated: nil)
/// let json = try t.exportJSON(installID: id)
/// ```
public final class Telemetry: @unchecked Sendable {
    private let lock = Lock()
    private var state: TelemetryState

    public init(state: TelemetryState = TelemetryState()) { self.state = state }

    /// Loads persisted counters (empty when the file is absent or unreadable).
    public convenience init(contentsOf path: String) {
        let data = FileManager.default.contents(atPath: path)
        self.init(state: data.flatMap { try? JSONDecoder().decode(TelemetryState.self, from: $0) } ?? TelemetryState())
    }

    private func mutate(_ body: (inout TelemetryState) -> Void) {
        lock.lock(); defer { lock.unlock() }
        body(&state)
    }

    /// Records one request. O(buckets).
    public func record(task: TaskKind, latencyMs: Double, tokens: Int, escalated: EscalationReason? = nil) {
        mutate { s in
            s.requests[task.rawValue, default: 0] += 1
            s.latencyMs[task.rawValue, default: Histogram(bounds: Histogram.latencyBoundsMs)].observe(latencyMs)
            s.tokens[task.rawValue, default: Histogram(bounds: Histogram.tokenBounds)].observe(Double(max(0, tokens)))
            if let escalated { s.escalations[escalated.rawValue, default: 0] += 1 }
        }
    }

    /// Records an error by its type name only.
    public func record(error: any Error) { record(errorType: ErrorType(error)) }

    /// Records an error type.
    public func record(errorType t: ErrorType) { mutate { $0.errors[t.name, default: 0] += 1 } }

    /// Records a request refused by the memory budget.
    public func recordMemoryBudgetRefusal() { mutate { $0.memoryBudgetRefusals += 1 } }

    /// Records a local eval event (aggregated; individual events are not kept).
    public func recordEval(task: TaskKind, correct: Bool, score: Double) {
        mutate { s in
            s.evals[task.rawValue, default: EvalAggregate()].events += 1
            if correct { s.evals[task.rawValue, default: EvalAggregate()].correct += 1 }
            if score.isFinite { s.evals[task.rawValue, default: EvalAggregate()].scoreSum += score }
        }
    }

    /// Sets the active model label; ids that are not valid manifest ids are replaced by `"invalid"`.
    public func setModel(id: String, version: SemVer) {
        let label = ModelManifest.isValidID(id) ? "\(id)@\(version)" : "invalid@\(version)"
        mutate { $0.modelVersion = label }
    }

    /// Sets the active model label from a store key `id@version`; anything else becomes `"invalid"`.
    public func setModel(key: String) {
        if let at = key.lastIndex(of: "@"), let v = try? SemVer(parsing: String(key[key.index(after: at)...])) {
            setModel(id: String(key[..<at]), version: v)
        } else {
            mutate { $0.modelVersion = "invalid" }
        }
    }

    /// Labels the model as one loaded by path, outside any store (`"unmanaged"`; the path is never kept).
    public func setUnmanagedModel() { mutate { $0.modelVersion = "unmanaged" } }

    /// A copy of the counters.
    public var snapshot: TelemetryState { lock.lock(); defer { lock.unlock() }; return state }

    /// Persists the counters atomically.
    public func save(to path: String) throws {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        try AtomicFile.write(try e.encode(snapshot), to: path)
    }

    // MARK: Export

    /// The counters with Laplace noise added to every count and bucket (rounded, clamped at 0); sums, which
    /// have no bounded sensitivity, are removed when noise is on.
    public func exportState<R: RandomNumberGenerator>(noise: LaplaceNoise?, using rng: inout R) -> TelemetryState {
        var s = snapshot
        guard let noise else { return s }
        func n(_ x: Int) -> Int { max(0, Int((Double(x) + noise.sample(using: &rng)).rounded())) }
        func noisy(_ d: [String: Int]) -> [String: Int] {
            var out: [String: Int] = [:]
            for k in d.keys.sorted() { out[k] = n(d[k]!) }
            return out
        }
        func noisy(_ h: [String: Histogram]) -> [String: Histogram] {
            var out: [String: Histogram] = [:]
            for k in h.keys.sorted() {
                var x = h[k]!
                x.counts = x.counts.map { n($0) }
                x.count = x.counts.reduce(0, +)
                x.sum = 0
                out[k] = x
            }
            return out
        }
        s.requests = noisy(s.requests)
        s.latencyMs = noisy(s.latencyMs)
        s.tokens = noisy(s.tokens)
        s.escalations = noisy(s.escalations)
        s.errors = noisy(s.errors)
        s.memoryBudgetRefusals = n(s.memoryBudgetRefusals)
        for k in s.evals.keys.sorted() {
            var e = s.evals[k]!
            e.events = n(e.events)
            e.correct = min(e.events, n(e.correct))
            e.scoreSum = 0
            s.evals[k] = e
        }
        return s
    }

    /// JSON export: `{"installID": …, "noiseEpsilon": …, "telemetry": {…}}` with sorted keys.
    public func exportJSON<R: RandomNumberGenerator>(installID: String, noise: LaplaceNoise? = nil,
                                                     using rng: inout R) throws -> Data {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .prettyPrinted]
        return try e.encode(TelemetryExport(installID: installID, noiseEpsilon: noise?.epsilon,
                                   telemetry: exportState(noise: noise, using: &rng)))
    }

    /// ``exportJSON(installID:noise:using:)`` with the system generator.
    public func exportJSON(installID: String, noise: LaplaceNoise? = nil) throws -> Data {
        var rng = SystemRandomNumberGenerator()
        return try exportJSON(installID: installID, noise: noise, using: &rng)
    }

    /// Prometheus text exposition format (version 0.0.4).
    public func exportPrometheus<R: RandomNumberGenerator>(installID: String, noise: LaplaceNoise? = nil,
                                                           using rng: inout R) -> String {
        let s = exportState(noise: noise, using: &rng)
        var out = ""
        func header(_ name: String, _ type: String, _ help: String) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
        }
        func counter(_ name: String, _ label: String, _ d: [String: Int], _ help: String) {
            header(name, "counter", help)
            for k in d.keys.sorted() { out += "\(name){\(label)=\"\(k)\"} \(d[k]!)\n" }
        }
        func histogram(_ name: String, _ d: [String: Histogram], _ help: String) {
            header(name, "histogram", help)
            for k in d.keys.sorted() {
                let h = d[k]!
                var cum = 0
                for (i, c) in h.counts.enumerated() {
                    cum += c
                    let le = i < h.bounds.count ? Self.number(h.bounds[i]) : "+Inf"
                    out += "\(name)_bucket{task=\"\(k)\",le=\"\(le)\"} \(cum)\n"
                }
                out += "\(name)_sum{task=\"\(k)\"} \(Self.number(h.sum))\n"
                out += "\(name)_count{task=\"\(k)\"} \(cum)\n"
            }
        }
        header("edgelm_info", "gauge", "Install id (rotating) and active model version.")
        out += "edgelm_info{install_id=\"\(installID)\",model=\"\(s.modelVersion ?? "none")\"} 1\n"
        counter("edgelm_requests_total", "task", s.requests, "Requests per task.")
        histogram("edgelm_latency_ms", s.latencyMs, "Request latency in milliseconds.")
        histogram("edgelm_tokens", s.tokens, "Tokens per request.")
        counter("edgelm_escalations_total", "reason", s.escalations, "Escalations by reason.")
        counter("edgelm_errors_total", "type", s.errors, "Errors by type.")
        header("edgelm_memory_budget_refusals_total", "counter", "Requests refused by the memory budget.")
        out += "edgelm_memory_budget_refusals_total \(s.memoryBudgetRefusals)\n"
        counter("edgelm_eval_events_total", "task", s.evals.mapValues(\.events), "Local eval events.")
        counter("edgelm_eval_correct_total", "task", s.evals.mapValues(\.correct), "Local eval events judged correct.")
        return out
    }

    /// ``exportPrometheus(installID:noise:using:)`` with the system generator.
    public func exportPrometheus(installID: String, noise: LaplaceNoise? = nil) -> String {
        var rng = SystemRandomNumberGenerator()
        return exportPrometheus(installID: installID, noise: noise, using: &rng)
    }

    private static func number(_ x: Double) -> String {
        x == x.rounded() && Swift.abs(x) < 1e15 ? String(Int(x)) : String(x)
    }
}

/// The JSON export document.
private struct TelemetryExport: Encodable {
    var installID: String
    var noiseEpsilon: Double?
    var telemetry: TelemetryState
}

/// A random install id that rotates (default every 30 days), stored locally as JSON
/// `{"id": "<32 hex>", "createdAt": <seconds>}`. It is the only identifier telemetry ever carries.
public enum InstallID {
    public static let defaultRotation: TimeInterval = 30 * 86_400

    /// The file's fields.
    private struct Stored: Codable {
        var id: String
        var createdAt: Double
    }

    /// The current id at `path`, creating or rotating it when missing, unreadable, or older than `rotation`.
    public static func current(at path: String, now: Date = Date(), rotation: TimeInterval = defaultRotation) throws -> String {
        if let data = FileManager.default.contents(atPath: path),
            let stored = try? JSONDecoder().decode(Stored.self, from: data),
            now.timeIntervalSince1970 - stored.createdAt < rotation, now.timeIntervalSince1970 >= stored.createdAt
        {
            return stored.id
        }
        var rng = SystemRandomNumberGenerator()
        let bytes = (0..<16).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let id = FileDigest.hex(bytes)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = try encoder.encode(Stored(id: id, createdAt: now.timeIntervalSince1970))
        try FileManager.default.createDirectory(atPath: URL(fileURLWithPath: path).deletingLastPathComponent().path,
                                                withIntermediateDirectories: true)
        try AtomicFile.write(data, to: path, mode: 0o600)
        return id
    }
}
