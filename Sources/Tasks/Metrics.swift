// Tasks: evaluation metrics for classification — accuracy, macro-F1, calibration error and the reliability
// table, and what a confidence threshold buys (coverage and accuracy of the answers kept).

/// One prediction for the metrics: the true label, the predicted one and its confidence.
public struct ScoredPrediction: Sendable, Equatable {
    public var truth: String
    public var predicted: String
    public var confidence: Double
    public var correct: Bool { truth == predicted }
    public init(truth: String, predicted: String, confidence: Double) {
        self.truth = truth; self.predicted = predicted; self.confidence = confidence
    }
}

/// One confidence bin of a reliability table.
public struct ReliabilityBin: Sendable, Equatable {
    /// The bin holds confidences in `(lower, upper]` (the first bin also holds 0).
    public var lower: Double
    public var upper: Double
    public var count: Int
    /// Fraction of the bin's predictions that are right (0 for an empty bin).
    public var accuracy: Double
    /// Mean confidence of the bin's predictions (0 for an empty bin).
    public var meanConfidence: Double
}

/// Coverage and accuracy of the predictions whose confidence is at least a threshold (what a router that
/// escalates below the threshold keeps locally).
public struct SelectivePoint: Sendable, Equatable {
    public var threshold: Double
    /// Fraction of all predictions kept.
    public var coverage: Double
    /// Accuracy of the kept predictions (1 when none is kept).
    public var accuracy: Double
}

/// Classification metrics over a set of predictions.
public enum ClassificationMetrics {
    /// Fraction right (0 for none).
    public static func accuracy(_ p: [ScoredPrediction]) -> Double {
        p.isEmpty ? 0 : Double(p.filter(\.correct).count) / Double(p.count)
    }

    /// Macro-averaged F1 over `labels` (labels with no true and no predicted instance are left out).
    public static func macroF1(_ p: [ScoredPrediction], labels: [String]) -> Double {
        var f1s: [Double] = []
        for l in labels {
            let tp = p.filter { $0.truth == l && $0.predicted == l }.count
            let fp = p.filter { $0.truth != l && $0.predicted == l }.count
            let fn = p.filter { $0.truth == l && $0.predicted != l }.count
            guard tp + fp + fn > 0 else { continue }
            f1s.append(2 * Double(tp) / Double(2 * tp + fp + fn))
        }
        return f1s.isEmpty ? 0 : f1s.reduce(0, +) / Double(f1s.count)
    }

    /// The reliability table: `bins` equal-width confidence bins over [0, 1].
    public static func reliability(_ p: [ScoredPrediction], bins: Int = 10) -> [ReliabilityBin] {
        (0..<bins).map { b in
            let lo = Double(b) / Double(bins), hi = Double(b + 1) / Double(bins)
            let inBin = p.filter { ($0.confidence > lo && $0.confidence <= hi) || (b == 0 && $0.confidence <= 0) }
            let n = inBin.count
            return ReliabilityBin(lower: lo, upper: hi, count: n,
                                  accuracy: n == 0 ? 0 : Double(inBin.filter(\.correct).count) / Double(n),
                                  meanConfidence: n == 0 ? 0 : inBin.map(\.confidence).reduce(0, +) / Double(n))
        }
    }

    /// Expected calibration error: Σ over the reliability bins of (bin share) · |accuracy − mean confidence|.
    public static func ece(_ p: [ScoredPrediction], bins: Int = 10) -> Double {
        guard !p.isEmpty else { return 0 }
        return reliability(p, bins: bins).reduce(0) {
            $0 + Double($1.count) / Double(p.count) * abs($1.accuracy - $1.meanConfidence)
        }
    }

    /// Coverage and accuracy at each confidence threshold.
    public static func selective(_ p: [ScoredPrediction], thresholds: [Double] = [0.5, 0.6, 0.7, 0.8, 0.9]) -> [SelectivePoint] {
        thresholds.map { t in
            let kept = p.filter { $0.confidence >= t }
            return SelectivePoint(threshold: t, coverage: p.isEmpty ? 0 : Double(kept.count) / Double(p.count),
                                  accuracy: kept.isEmpty ? 1 : Double(kept.filter(\.correct).count) / Double(kept.count))
        }
    }
}
