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
}
