import Foundation
import Testing
@testable import Tasks

@Suite struct TemperatureScalingTests {
    /// Labels drawn from softmax(scores / 2.5): the fitted temperature must come out near 2.5.
    @Test func recoversTheGeneratingTemperature() {
        var rng = SystemRandomNumberGeneratorSeeded(seed: 9)
        var rows: [(scores: [Double], target: Int)] = []
        for _ in 0..<4000 {
            let s = (0..<3).map { _ in Double(rng.next() % 1000) / 100 - 5 }
            let p = TaskRunner.softmax(s.map { $0 / 2.5 })
            let u = Double(rng.next() % 1_000_000) / 1_000_000
            var acc = 0.0, target = 2
            for i in 0..<3 { acc += p[i]; if u < acc { target = i; break } }
            rows.append((s, target))
        }
        let t = TemperatureScaling.fit(rows)
        #expect(abs(t - 2.5) < 0.25, "fitted \(t)")
        #expect(TemperatureScaling.fit([]) == 1)
    }

    /// Labels drawn from softmax(scores + (−1, 0, 1)): the fitted biases (centred) come out near (−1, 0, 1), and a
    /// tiny regularisation-free set cannot push them to infinity.
    @Test func biasCalibrationRecoversTheGeneratingBiases() {
        var rng = SystemRandomNumberGeneratorSeeded(seed: 4)
        let truth = [-1.0, 0, 1]
        var rows: [(scores: [Double], target: Int)] = []
        for _ in 0..<3000 {
            let s = (0..<3).map { _ in Double(rng.next() % 1000) / 250 - 2 }
            let p = TaskRunner.softmax(zip(s, truth).map { $0 + $1 })
            let u = Double(rng.next() % 1_000_000) / 1_000_000
            var acc = 0.0, target = 2
            for i in 0..<3 { acc += p[i]; if u < acc { target = i; break } }
            rows.append((s, target))
        }
        let b = BiasCalibration.fit(rows, count: 3, regularization: 0)
        for i in 0..<3 { #expect(abs(b[i] - truth[i]) < 0.15, "bias \(i): \(b)") }
        #expect(abs(b.reduce(0, +)) < 1e-9)
        #expect(BiasCalibration.fit([], count: 3) == [0, 0, 0])
        // Separable rows (the target always wins by the bias alone): the regularised fit stays bounded.
        let sep = (0..<10).map { _ in (scores: [0.0, 0.0], target: 1) }
        let bs = BiasCalibration.fit(sep, count: 2)
        #expect(bs[1] > bs[0] && bs[1] < 5)
    }

    /// A runner adds a label set's biases after the temperature: the probabilities are softmax(raw / T + b).
    @Test func runnerAppliesBiases() throws {
        var opts = TaskOptions(contextLength: 512, threads: 1)
        opts.temperature = 0.7
        let r = try TaskRunnerTests.runner(options: opts)
        let set = LabelSet(["red", "green", "blue"])
        let plain = try r.classify("apple", labelSet: set)
        r.setBiases([0.5, -2, 1.5], labelSet: set)
        let biased = try r.classify("apple", labelSet: set)
        #expect(biased.rawScores == plain.rawScores)
        let want = TaskRunner.softmax(zip(plain.rawScores, [0.5, -2, 1.5]).map { $0 / 0.7 + $1 })
        #expect(zip(biased.probabilities, want).allSatisfy { abs($0 - $1) < 1e-12 })
        r.setBiases(nil, labelSet: set)
        #expect(try r.classify("apple", labelSet: set).probabilities == plain.probabilities)
    }
}
