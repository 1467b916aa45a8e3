// Tasks: local-first routing with escalation to a remote model, per the product rules: the local model may
// suggest, draft, classify and pre-fill; it does not make final high-risk decisions.

import EdgeLMEssentials

/// What the caller will do with the answer.
public enum Capability: String, Sendable, Codable, CaseIterable {
    case suggest, draft, classify, prefill, decide
}

/// How much harm a wrong answer does.
public enum RiskLevel: String, Sendable, Codable, CaseIterable {
    case low, medium, high
}

/// Subject areas that are always high risk for decisions.
public enum RiskDomain: String, Sendable, Codable, CaseIterable {
    case general, money, medical, legal, policy
}

/// One of the three tasks with its inputs.
public enum TaskInput: Sendable, Equatable {
    case classify(text: String, labels: [String], instruction: String?)
    /// Classification with a full ``LabelSet`` (descriptions, few-shot examples).
    case classifyWith(text: String, labelSet: LabelSet)
    case extract(text: String, schema: JSONSchema)
    case rewrite(text: String, instruction: String, maxTokens: Int)

    /// The user text of the task.
    public var text: String {
        switch self {
        case .classify(let t, _, _), .classifyWith(let t, _), .extract(let t, _), .rewrite(let t, _, _): return t
        }
    }

    /// The label set of a classification (nil for the other tasks).
    public var labelSet: LabelSet? {
        switch self {
        case .classify(_, let labels, let instruction): return LabelSet(labels, instruction: instruction)
        case .classifyWith(_, let set): return set
        default: return nil
        }
    }
}

/// A task plus the policy facts the router decides on.
public struct TaskRequest: Sendable, Equatable {
    public var task: TaskInput
    public var capability: Capability
    public var risk: RiskLevel
    public var domain: RiskDomain

    public init(task: TaskInput, capability: Capability, risk: RiskLevel = .low, domain: RiskDomain = .general) {
        self.task = task; self.capability = capability; self.risk = risk; self.domain = domain
    }

    /// High risk: `risk == .high`, or a sensitive domain (money, medical, legal, policy).
    public var isHighRisk: Bool { risk == .high || domain != .general }
}

/// What a task produced.
public enum TaskOutput: Sendable, Equatable {
    case classification(Classification)
    case extraction(JSONValue)
    case rewrite(String)
}

/// Where a result was produced.
public enum Origin: String, Sendable, Codable { case local, remote }

/// Why the router produced the result where it did.
public enum RoutingReason: String, Sendable, Codable, CaseIterable {
    /// Ran locally and the confidence met the threshold (or the task has no confidence).
    case localConfident = "local_confident"
    /// Local confidence was below the threshold.
    case lowConfidence = "low_confidence"
    /// The input does not fit the local context / device profile.
    case inputTooLong = "input_too_long"
    /// `decide` on a high-risk request: the local model must not make the final decision.
    case highRiskDecision = "high_risk_decision"
    /// No local model is loaded.
    case noLocalModel = "no_local_model"
}

/// A routed result: the output, where it came from, and why.
public struct RoutedResult: Sendable, Equatable {
    public var output: TaskOutput
    public var origin: Origin
    public var reason: RoutingReason
    /// True when the router tried the remote handler (whether or not it answered).
    public var escalated: Bool
    /// True when this is a local result that should have been escalated but the remote was unavailable.
    public var lowConfidence: Bool
    /// The local confidence, when the task has one.
    public var confidence: Double?
    /// Human-readable detail (e.g. the remote error when falling back).
    public var detail: String
}

/// Something that runs tasks on the device.
public protocol LocalTaskHandler: AnyObject {
    /// Runs the task; returns the output and a confidence in [0, 1] when the task has one.
    func run(_ task: TaskInput) throws -> (output: TaskOutput, confidence: Double?)
    /// Whether the task's input fits the local context.
    func fits(_ task: TaskInput) -> Bool
    /// When the task does not fit: the tokens it needs and the context it has (named in the error the
    /// router throws when it cannot escalate). Default: nil (unknown).
    func contextNeed(_ task: TaskInput) -> (tokens: Int, contextLength: Int)?
}

extension LocalTaskHandler {
    public func contextNeed(_ task: TaskInput) -> (tokens: Int, contextLength: Int)? { nil }
}

/// Something that runs tasks remotely (e.g. ``OpenAICompatibleHandler``).
public protocol RemoteTaskHandler: Sendable {
    /// - Throws: ``TasksError/remoteUnavailable(_:)`` when unreachable or timed out,
    ///   ``TasksError/remoteFailed(_:)`` for unusable answers.
    func run(_ request: TaskRequest) throws -> TaskOutput
}

/// Routing configuration.
public struct RouterPolicy: Sendable, Equatable {
    /// What to do when escalation is needed but the remote handler fails.
    public enum Offline: String, Sendable, Codable {
        /// Return the local result (when there is one) with `lowConfidence = true`.
        case localLowConfidence = "local"
        /// Throw ``TasksError/remoteUnavailable(_:)``.
        case fail
    }
    /// Local results with confidence below this escalate.
    public var confidenceThreshold: Double = 0.6
    public var offline: Offline = .localLowConfidence
    public init(confidenceThreshold: Double = 0.6, offline: Offline = .localLowConfidence) {
        self.confidenceThreshold = confidenceThreshold; self.offline = offline
    }
}

/// Runs tasks local-first and escalates per ``RouterPolicy`` and the request's capability and risk.
///
/// Rules, in order: no local model → remote; `decide` at high risk → remote (the local model is not run);
/// input does not fit → remote; local confidence below the threshold → remote. When the remote handler is
/// missing or fails: the local result marked `lowConfidence` if there is one and the policy allows it,
/// otherwise ``TasksError/remoteUnavailable(_:)``. Never waits longer than the remote handler's timeout.
public final class Router {
    public let local: LocalTaskHandler?
    public let remote: RemoteTaskHandler?
    public let policy: RouterPolicy

    public init(local: LocalTaskHandler?, remote: RemoteTaskHandler?, policy: RouterPolicy = RouterPolicy()) {
        self.local = local; self.remote = remote; self.policy = policy
    }

    /// Routes and runs one request.
    /// - Throws: ``TasksError/noHandler``, ``TasksError/remoteUnavailable(_:)`` (per policy), errors of the
    ///   local task (bad labels, unsupported schema, …) which are not escalated.
    public func run(_ request: TaskRequest) throws -> RoutedResult {
        guard local != nil || remote != nil else { throw TasksError.noHandler }
        var localResult: (output: TaskOutput, confidence: Double?)? = nil
        let reason: RoutingReason
        if let local {
            if request.capability == .decide && request.isHighRisk {
                reason = .highRiskDecision
            } else if !local.fits(request.task) {
                reason = .inputTooLong
            } else {
                let r = try local.run(request.task)
                if let c = r.confidence, c < policy.confidenceThreshold {
                    reason = .lowConfidence
                    localResult = r
                } else {
                    return RoutedResult(output: r.output, origin: .local, reason: .localConfident, escalated: false,
                                        lowConfidence: false, confidence: r.confidence, detail: "produced locally")
                }
            }
        } else {
            reason = .noLocalModel
        }
        // Escalate.
        do {
            guard let remote else { throw TasksError.remoteUnavailable("no remote endpoint is configured") }
            let out = try remote.run(request)
            return RoutedResult(output: out, origin: .remote, reason: reason, escalated: true, lowConfidence: false,
                                confidence: localResult?.confidence, detail: "escalated: \(reason.rawValue)")
        } catch let error as TasksError {
            if policy.offline == .localLowConfidence, let l = localResult {
                return RoutedResult(output: l.output, origin: .local, reason: reason, escalated: remote != nil,
                                    lowConfidence: true, confidence: l.confidence,
                                    detail: "remote failed, local result kept: \(error)")
            }
            // An input too long for the local context is named as such (with its token count), not as a
            // remote failure: the remote was only the fallback.
            if reason == .inputTooLong, let need = local?.contextNeed(request.task) {
                guard remote != nil else { throw TasksError.inputTooLong(tokens: need.tokens, contextLength: need.contextLength) }
                throw TasksError.remoteUnavailable("the input needs \(need.tokens) tokens but the local context holds"
                                                   + " \(need.contextLength), and escalation failed: \(error)")
            }
            switch error {
            case .remoteUnavailable, .remoteFailed: throw error
            default: throw TasksError.remoteFailed("\(error)")
            }
        }
    }
}

extension TaskRunner: LocalTaskHandler {
    public func run(_ task: TaskInput) throws -> (output: TaskOutput, confidence: Double?) {
        switch task {
        case .classify(let text, let labels, let instruction):
            let c = try classify(text, labels: labels, instruction: instruction)
            return (.classification(c), c.confidence)
        case .classifyWith(let text, let set):
            let c = try classify(text, labelSet: set)
            return (.classification(c), c.confidence)
        case .extract(let text, let schema):
            let e = try extract(text, schema: schema)
            return (.extraction(e.value), nil)
        case .rewrite(let text, let instruction, let maxTokens):
            return (.rewrite(try rewrite(text, instruction: instruction, maxTokens: maxTokens).text), nil)
        }
    }

    /// The prompt plus room for the answer fits the session's context.
    public func fits(_ task: TaskInput) -> Bool { contextNeed(task) == nil }

    /// Tokens the task needs (prompt plus room for the answer) and the session's context, when it does not fit.
    public func contextNeed(_ task: TaskInput) -> (tokens: Int, contextLength: Int)? {
        let n = promptTokenCount(task.text)
        let room: Int
        switch task {
        case .classify: room = 128            // instruction + labels
        case .classifyWith(_, let set):       // instruction + labels + descriptions + examples
            room = 128 + classificationPrompt(set).prefix.count
        case .extract: room = 256 + options.maxExtractTokens
        case .rewrite(_, let instruction, let maxTokens): room = 64 + promptTokenCount(instruction) + maxTokens
        }
        return n + room <= session.contextLength ? nil : (n + room, session.contextLength)
    }
}
