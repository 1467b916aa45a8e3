import Testing
@testable import Tasks

@Suite struct MetricsTests {
    static let preds: [ScoredPrediction] = [
        .init(truth: "a", predicted: "a", confidence: 0.95),
        .init(truth: "a", predicted: "b", confidence: 0.55),
        .init(truth: "b", predicted: "b", confidence: 0.65),
        .init(truth: "b", predicted: "b", confidence: 0.92),
        .init(truth: "c", predicted: "a", confidence: 0.40),
    ]

    @Test func accuracyAndMacroF1() {
        #expect(ClassificationMetrics.accuracy(Self.preds) == 0.6)
        // a: tp 1, fp 1, fn 1 → 0.5; b: tp 2, fp 1, fn 0 → 0.8; c: tp 0, fn 1 → 0.
        let f1 = ClassificationMetrics.macroF1(Self.preds, labels: ["a", "b", "c", "d"])
        #expect(abs(f1 - (0.5 + 0.8 + 0) / 3) < 1e-12)
        #expect(ClassificationMetrics.accuracy([]) == 0)
    }

    @Test func reliabilityAndECE() {
        let bins = ClassificationMetrics.reliability(Self.preds)
        #expect(bins.count == 10)
        #expect(bins.map(\.count).reduce(0, +) == Self.preds.count)
        #expect(bins[9].count == 2 && bins[9].accuracy == 1 && abs(bins[9].meanConfidence - 0.935) < 1e-12)
        #expect(bins[5].count == 1 && bins[5].accuracy == 0)
        // ECE by hand: bins 0.3–0.4 (0.40, wrong), 0.5–0.6 (0.55, wrong), 0.6–0.7 (0.65, right), 0.9–1 (two right).
        let want = (0.40 + 0.55 + (1 - 0.65) + 2 * (1 - 0.935)) / 5
        #expect(abs(ClassificationMetrics.ece(Self.preds) - want) < 1e-12)
        let perfect = [ScoredPrediction(truth: "x", predicted: "x", confidence: 1)]
        #expect(ClassificationMetrics.ece(perfect) == 0)
    }

    @Test func selective() {
        let s = ClassificationMetrics.selective(Self.preds, thresholds: [0.5, 0.9, 0.99])
        #expect(s[0].coverage == 0.8 && s[0].accuracy == 0.75)
        #expect(s[1].coverage == 0.4 && s[1].accuracy == 1)
        #expect(s[2].coverage == 0 && s[2].accuracy == 1)
    }
}
