// Tasks: options, results and timings shared by the three tasks.

import EdgeLMEssentials
import Inference

/// How classification scores are corrected for the model's label bias.
public enum CalibrationMode: String, Sendable, Codable, CaseIterable {
    /// Raw length-normalised label log-likelihoods.
    case none
    /// Contextual calibration (Zhao et al. 2021): subtract the scores the same prompt gives a content-free
    /// input ("N/A"), computed once per label set and cached.
    case contextual
}

/// How a label's score is made from the log-probabilities of its tokens (its words and the end marker).
public enum LabelScore: String, Sendable, Codable, CaseIterable {
    /// The mean per-token log-probability (length-normalised).
    case mean
    /// The summed log-probability (the label's likelihood).
    case sum
}

/// How `classify` scores the labels.
public enum ClassifierScoring: String, Sendable, Codable, CaseIterable {
    /// The likelihood of each label as the answer after the text (`Label: …`), contextually calibrated.
    case direct
    /// The likelihood of the text after a prompt that names the label (noisy channel, Min et al. 2022).
    case channel
    /// Both, as the sum of their log-probabilities (a product of the two distributions).
    case combined
}

/// Which string fields `extract` constrains to spans (substrings) of the input text.
public enum SpanPolicy: String, Sendable, Codable, CaseIterable {
    /// Every string field, unless marked `"x-edgelm-source": "free"` or named like generated text
    /// (``JSONSchema/freeTextNames``); enum strings are enums.
    case auto
    /// Only string fields marked `"x-edgelm-source": "span"`.
    case marked
    /// None: strings are free (schema-valid, but may hold text that is not in the input).
    case off
}

/// Options of a ``TaskRunner``.
///
/// A device profile supplies `contextLength`, `batchSize`, `threads`, `residency`, the KV type/policy and the
/// memory budget (the `edgelm` task commands map `--profile` onto these).
public struct TaskOptions: Sendable {
    /// Tokens of context the task session holds; inputs that do not fit are refused (never truncated).
    public var contextLength: Int = 2048
    /// Prefill batch (tokens per matrix–matrix step).
    public var batchSize: Int = 64
    /// Compute threads.
    public var threads: Int = ProcessInfo.processInfo.activeProcessorCount
    /// Label-bias correction for `classify`.
    public var calibration: CalibrationMode = .contextual
    /// Content-free inputs for contextual calibration (their calibrated scores are averaged).
    public var contentFreeInputs: [String] = ["N/A", "[MASK]", ""]
    /// Score the end-of-answer token after each label (separates labels that are prefixes of each other).
    public var scoreEndOfTurn: Bool = true
    /// How a label's per-token log-probabilities make its score.
    public var labelScore: LabelScore = .mean
    /// How `classify` scores labels (chosen on the tune split, docs/tasks.md).
    public var scoring: ClassifierScoring = .combined
    /// With combined scoring: when the direct half alone (calibrated, its softmax at ``TaskRunner/skipTemperature(fewShot:)``)
    /// gives its best label at least this probability, the channel half is skipped and the direct half stands in
    /// for it. Default ``ChannelSkip/tuned``: the model's threshold chosen on the tune split for this kind of
    /// label set (``TaskRunner/channelSetting(fewShot:)``, docs/tasks.md).
    public var channelSkip: ChannelSkip = .tuned
    /// With combined scoring (when the channel half is not skipped): evaluate the channel half only for the
    /// direct half's k most probable labels. Within them the channel half redistributes the direct half's
    /// probability mass on them; every other label keeps the direct half as its stand-in, as a skip does. k ≥ the
    /// number of labels is the same as ``ChannelLabels/all``. The channel half costs k evaluations of the text
    /// instead of one per label. Default ``ChannelLabels/tuned``: the model's k chosen on the tune split
    /// (``TaskRunner/channelSetting(fewShot:)``).
    public var channelLabels: ChannelLabels = .tuned
    /// With ``channelLabels`` k: when the direct half's k best labels hold less than this share of its probability
    /// (its softmax at ``TaskRunner/skipTemperature(fewShot:)``, as the skip reads it), the next labels in its
    /// order are added until they hold it — a direct half too flat to rank the labels does not leave the right one
    /// out of the channel half (and answer another with the confidence of the combination). Default
    /// ``ChannelCoverage/tuned``: the model's share chosen on the tune split (``TaskRunner/channelSetting(fewShot:)``).
    public var channelCoverage: ChannelCoverage = .tuned
    /// Score every label of a half in shared steps: each label continues the prompt on its own sibling session
    /// of the runner's (``Session/makeSibling()``, forked from the evaluated prompt with
    /// ``Session/copyState(from:)``) and all labels' tokens go through the weights together
    /// (``Session/evaluateAll(_:_:)``) instead of one label after another. The scores are bit-identical either
    /// way; the siblings hold one KV copy of the label set's prompt per label (N − 1 + k sessions for N labels with
    /// combined scoring and a channel half for at most k of them; k up to N with ``channelCoverage``). Off when
    /// ``memoryBudget`` is set (the budget counts one session).
    public var batchedLabels = true
    /// Softmax temperature of `classify` for label sets without a fitted one; nil for the model's default
    /// (``TaskRunner/defaultTemperature``).
    public var temperature: Double?
    /// Bytes of the runner's own ``PrefixCache`` (the prefixes of label sets and of the extraction prompt); 0
    /// for none (combined scoring then re-evaluates its two prefixes for every input). Counted in the session's
    /// memory figure (``sessionOptions(for:)``).
    public var prefixCacheBytes: Int = 32 << 20
    /// Which string fields `extract` constrains to spans of the input.
    public var spans: SpanPolicy = .auto
    /// Which fields `extract` types: an email field takes an email address of the text, a phone field a phone
    /// number, a number field a number of the text, … (``SpanTypePolicy``; `null` when the text has none).
    public var spanTypes: SpanTypePolicy = .auto
    /// A typed value given to one field is not offered to the later typed fields of the document while they have
    /// another candidate (one span of the text fills one field).
    public var distinctValues = true
    /// Show `extract` two worked examples (other schemas: copied values, a number, nulls) before the task.
    public var extractDemonstrations = true
    /// Cap on generated tokens for `extract` (the JSON is closed by the shortest completion when reached).
    public var maxExtractTokens: Int = 192
    /// Limits that bound strings/arrays/numbers where the schema sets none.
    public var jsonLimits = JSONConstraintLimits()
    /// Weight residency of the task session (a device profile's `streamed` lets a model larger than the cap run).
    public var residency: WeightResidency = .resident
    /// KV cache element type and context-full policy of the task session.
    public var kvType: KVCacheType = .f16
    public var kvPolicy: KVCachePolicy = .refuse
    /// When set, creating the runner throws `MemoryBudgetError` unless its session fits the cap.
    public var memoryBudget: MemoryBudget?

    /// The session options a runner with these task options allocates for `model`.
    public func sessionOptions(for model: Model) -> SessionOptions {
        var o = SessionOptions(contextLength: min(contextLength, model.config.contextLength), batchSize: batchSize,
                               threads: threads, residency: residency, memoryBudget: memoryBudget)
        o.kvType = kvType
        o.kvPolicy = kvPolicy
        o.prefixCacheBytes = prefixCacheBytes
        return o
    }

    public init(contextLength: Int = 2048, batchSize: Int = 64,
                threads: Int = ProcessInfo.processInfo.activeProcessorCount,
                calibration: CalibrationMode = .contextual) {
        self.contextLength = contextLength; self.batchSize = batchSize; self.threads = threads
        self.calibration = calibration
    }
}

/// Where time went in one task call.
public struct TaskTimings: Sendable, Equatable, Codable {
    /// Tokens of prompt evaluated (after reuse of a cached prefix) and seconds spent on them.
    public var promptTokens = 0
    public var prefillSeconds = 0.0
    /// Tokens evaluated after the prompt (label tokens for classify, generated tokens otherwise).
    public var generatedTokens = 0
    public var decodeSeconds = 0.0
    /// Seconds spent computing constrained-decoding masks (extract only).
    public var maskSeconds = 0.0
    public var totalSeconds = 0.0
    public init() {}
}

/// The result of ``TaskRunner/classify(_:labels:instruction:)``.
public struct Classification: Sendable, Equatable {
    /// The most probable label.
    public var label: String
    /// Labels in request order.
    public var labels: [String]
    /// Probability per label (request order); sums to 1.
    public var probabilities: [Double]
    /// Raw length-normalised log-likelihood per label (before calibration).
    public var rawScores: [Double]
    /// The probability of `label`.
    public var confidence: Double { probabilities.max() ?? 0 }
    public var timings: TaskTimings
    /// Combined scoring answered from the direct half alone (``TaskOptions/channelSkip``).
    public var channelSkipped = false
    /// Labels whose channel half was evaluated (0 for direct scoring or a skip; fewer than all with
    /// ``TaskOptions/channelLabels``).
    public var channelLabels = 0

    /// Probability of `label` by name.
    public func probability(of label: String) -> Double? {
        labels.firstIndex(of: label).map { probabilities[$0] }
    }
}

/// The result of ``TaskRunner/extract(_:schema:onPartial:)``.
public struct Extraction: Sendable, Equatable {
    /// The value (always valid against the schema).
    public var value: JSONValue
    /// The exact JSON text produced.
    public var text: String
    /// True when the token budget ran out and the shortest valid completion closed the JSON.
    public var forcedCompletion: Bool
    /// Mean probability of the chosen tokens under the constrained distribution (a rough confidence).
    public var confidence: Double
    public var timings: TaskTimings
}

/// The result of ``TaskRunner/rewrite(_:instruction:maxTokens:onText:)``.
public struct Rewrite: Sendable, Equatable {
    public var text: String
    /// True when the model ended its turn; false when `maxTokens` cut it.
    public var finished: Bool
    public var timings: TaskTimings
}

/// When combined scoring skips its channel half (``TaskOptions/channelSkip``).
public enum ChannelSkip: Hashable, Sendable, CustomStringConvertible {
    /// The model's threshold for this kind of label set, chosen on the tune split (``TaskRunner/channelSetting(fewShot:)``).
    case tuned
    /// Never: the channel half always runs.
    case never
    /// When the direct half's best label has at least this probability (in (0, 1]).
    case atConfidence(Double)

    /// `tuned`, `off` or the probability — as the CLI's `--channel-skip` spells it.
    public var description: String {
        switch self {
        case .tuned: "tuned"
        case .never: "off"
        case .atConfidence(let p): "\(p)"
        }
    }
}

/// How much of the direct half's probability the channel half's labels hold at least (``TaskOptions/channelCoverage``).
public enum ChannelCoverage: Hashable, Sendable, CustomStringConvertible {
    /// The model's share for this kind of label set, chosen on the tune split (``TaskRunner/channelSetting(fewShot:)``).
    case tuned
    /// None: exactly the k best labels.
    case off
    /// At least this share of the direct half's probability (in (0, 1]).
    case share(Double)

    /// `tuned`, `off` or the share — as the CLI's `--channel-coverage` spells it.
    public var description: String {
        switch self {
        case .tuned: "tuned"
        case .off: "off"
        case .share(let p): "\(p)"
        }
    }
}

/// For which labels combined scoring evaluates its channel half (``TaskOptions/channelLabels``).
public enum ChannelLabels: Hashable, Sendable, CustomStringConvertible {
    /// The model's k for this kind of label set, chosen on the tune split (``TaskRunner/channelSetting(fewShot:)``).
    case tuned
    /// Every label.
    case all
    /// The direct half's k most probable labels (k ≥ 1).
    case top(Int)

    /// `tuned`, `all` or k — as the CLI's `--channel-top-k` spells it.
    public var description: String {
        switch self {
        case .tuned: "tuned"
        case .all: "all"
        case .top(let k): "\(k)"
        }
    }
}
