import Foundation
@testable import ModelLifecycle
import Testing

@Suite("Telemetry")
struct TelemetryTests {
    @Test("counters and histograms aggregate; JSON and Prometheus exports agree")
    func aggregates() throws {
        let t = Telemetry()
        t.record(task: .classify, latencyMs: 4, tokens: 10)
        t.record(task: .classify, latencyMs: 30, tokens: 100, escalated: .lowConfidence)
        t.record(task: .rewrite, latencyMs: 20_000, tokens: 5000, escalated: .timeout)
        t.recordMemoryBudgetRefusal()
        t.recordEval(task: .classify, correct: true, score: 1)
        t.recordEval(task: .classify, correct: false, score: 0.25)
        t.setModel(id: "tiny", version: SemVer(1, 2, 0))
        let s = t.snapshot
        #expect(s.requests == ["classify": 2, "rewrite": 1])
        #expect(s.latencyMs["classify"]!.counts == [1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0])
        #expect(s.latencyMs["rewrite"]!.counts.last == 1)
        #expect(s.tokens["classify"]!.sum == 110)
        #expect(s.escalations == ["low_confidence": 1, "timeout": 1])
        #expect(s.evals["classify"] == { var e = EvalAggregate(); e.events = 2; e.correct = 1; e.scoreSum = 1.25; return e }())
        #expect(s.modelVersion == "tiny@1.2.0")

        var rng = SplitMix64(seed: 1)
        let json = try JSONSerialization.jsonObject(with: try t.exportJSON(installID: "abc", using: &rng)) as! [String: Any]
        #expect(json["installID"] as? String == "abc")
        let tel = json["telemetry"] as! [String: Any]
        #expect(tel["requests"] as? [String: Int] == ["classify": 2, "rewrite": 1])
        #expect(tel["memoryBudgetRefusals"] as? Int == 1)

        let prom = t.exportPrometheus(installID: "abc", using: &rng)
        #expect(prom.contains("edgelm_requests_total{task=\"classify\"} 2\n"))
        #expect(prom.contains("edgelm_latency_ms_bucket{task=\"classify\",le=\"5\"} 1\n"))
        #expect(prom.contains("edgelm_latency_ms_bucket{task=\"classify\",le=\"50\"} 2\n"))  // cumulative
        #expect(prom.contains("edgelm_latency_ms_bucket{task=\"classify\",le=\"+Inf\"} 2\n"))
        #expect(prom.contains("edgelm_latency_ms_count{task=\"classify\"} 2\n"))
        #expect(prom.contains("edgelm_escalations_total{reason=\"timeout\"} 1\n"))
        #expect(prom.contains("edgelm_memory_budget_refusals_total 1\n"))
        #expect(prom.contains("edgelm_info{install_id=\"abc\",model=\"tiny@1.2.0\"} 1\n"))
        // Every sample line is `name{labels} value` or `name value`.
        for line in prom.split(separator: "\n") where !line.hasPrefix("#") {
            #expect(line.split(separator: " ").count == 2, "\(line)")
        }
    }

    @Test("errors are reduced to their type name")
    func errorTypes() {
        struct UserInputError: Error, CustomStringConvertible {
            let text: String
            var description: String { "could not parse \(text)" }
        }
        enum ParseFailure: Error { case bad(String) }
        let t = Telemetry()
        t.record(error: UserInputError(text: "my secret diary"))
        t.record(error: ParseFailure.bad("password hunter2"))
        t.record(error: LifecycleError.corruptManifest("anything"))
        #expect(t.snapshot.errors == ["UserInputError": 1, "ParseFailure": 1, "LifecycleError": 1])
    }

    /// Distinctive strings fed through every recording entry point and label that could carry them; no
    /// exported byte sequence may contain any of them or any 8-character substring of them.
    /// (The end-to-end version over real tasks needs the Task API of issue 6.)
    @Test("privacy: no input text or 8-character substring of it reaches any export")
    func privacy() throws {
        let secrets = ["Zyx-Quorble-7781-Fnord", "patient Jöhn Smíth, DOB 1970-01-01", "password=hunter2-Ωmega",
                       "SELECT * FROM users WHERE id=42", "🚀 launch codes 0000-1111"]
        struct TextCarryingError: Error, LocalizedError {
            let text: String
            var errorDescription: String? { text }
        }
        enum Wrapped: Error { case input(String) }
        let t = Telemetry()
        for (i, s) in secrets.enumerated() {
            for task in TaskKind.allCases {
                // Only enums and numbers can be recorded; derive numbers from the text as a task would.
                t.record(task: task, latencyMs: Double(s.utf8.count * (i + 1)), tokens: s.count,
                         escalated: EscalationReason.allCases[i % EscalationReason.allCases.count])
                t.recordEval(task: task, correct: s.count % 2 == 0, score: Double(s.utf8.count) / 100)
            }
            t.record(error: TextCarryingError(text: s))
            t.record(error: Wrapped.input(s))
            t.setModel(id: s, version: SemVer(1, 0, 0))  // not a valid id: replaced
        }
        t.recordMemoryBudgetRefusal()
        var rng = SplitMix64(seed: 7)
        let exports: [Data] = [
            try t.exportJSON(installID: "0123abcd", using: &rng),
            try t.exportJSON(installID: "0123abcd", noise: LaplaceNoise(epsilon: 1), using: &rng),
            Data(t.exportPrometheus(installID: "0123abcd", using: &rng).utf8),
            Data(t.exportPrometheus(installID: "0123abcd", noise: LaplaceNoise(epsilon: 0.5), using: &rng).utf8),
        ]
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        try t.save(to: dir + "/telemetry.json")
        let persisted = try Data(contentsOf: URL(fileURLWithPath: dir + "/telemetry.json"))
        for (n, data) in (exports + [persisted]).enumerated() {
            let bytes = [UInt8](data)
            #expect(!bytes.isEmpty)
            for s in secrets {
                let u = [UInt8](s.utf8)
                for start in 0...(u.count - 8) {
                    let needle = Array(u[start..<start + 8])
                    #expect(!contains(bytes, needle), "export \(n) contains '\(String(decoding: needle, as: UTF8.self))'")
                }
            }
        }
    }

    private func contains(_ hay: [UInt8], _ needle: [UInt8]) -> Bool {
        guard hay.count >= needle.count else { return false }
        for i in 0...(hay.count - needle.count) where hay[i] == needle[0] {
            if Array(hay[i..<i + needle.count]) == needle { return true }
        }
        return false
    }

    @Test("Laplace noise has mean 0 and mean absolute value b = 1/ε", arguments: [0.5, 1.0, 4.0])
    func laplace(_ epsilon: Double) {
        let noise = LaplaceNoise(epsilon: epsilon)
        var rng = SplitMix64(seed: UInt64(epsilon * 1000))
        let n = 100_000
        var sum = 0.0, sumAbs = 0.0, sumSq = 0.0
        for _ in 0..<n {
            let x = noise.sample(using: &rng)
            sum += x; sumAbs += abs(x); sumSq += x * x
        }
        let b = 1 / epsilon
        // Standard errors: mean σ/√n = √2·b/√n; |x| has sd b, so mean |x| has sd b/√n. 5σ bounds.
        #expect(abs(sum / Double(n)) < 5 * sqrt(2) * b / sqrt(Double(n)))
        #expect(abs(sumAbs / Double(n) - b) < 5 * b / sqrt(Double(n)))
        #expect(abs(sumSq / Double(n) / (2 * b * b) - 1) < 0.05)  // variance 2b²
    }

    @Test("noisy export perturbs counts, keeps them non-negative and drops sums; same seed, same export")
    func noisyExport() throws {
        let t = Telemetry()
        for _ in 0..<50 { t.record(task: .classify, latencyMs: 12, tokens: 40) }
        var a = SplitMix64(seed: 3), b = SplitMix64(seed: 3)
        let s1 = t.exportState(noise: LaplaceNoise(epsilon: 0.1), using: &a)
        let s2 = t.exportState(noise: LaplaceNoise(epsilon: 0.1), using: &b)
        #expect(s1 == s2)
        #expect(s1.latencyMs["classify"]!.sum == 0)
        #expect(s1.latencyMs["classify"]!.counts.allSatisfy { $0 >= 0 })
        var differs = false
        var rng = SplitMix64(seed: 4)
        for _ in 0..<10 where t.exportState(noise: LaplaceNoise(epsilon: 0.1), using: &rng).requests["classify"] != 50 {
            differs = true
        }
        #expect(differs)
    }

    @Test("install id: stable within the rotation period, new after it, random 128-bit hex")
    func installID() throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        let path = dir + "/install-id.json"
        let t0 = Date(timeIntervalSince1970: 1_000_000)
        let a = try InstallID.current(at: path, now: t0)
        #expect(a.count == 32 && a.allSatisfy(\.isHexDigit))
        #expect(try InstallID.current(at: path, now: t0.addingTimeInterval(29 * 86_400)) == a)
        let b = try InstallID.current(at: path, now: t0.addingTimeInterval(31 * 86_400))
        #expect(b != a)
        #expect(try InstallID.current(at: path, now: t0.addingTimeInterval(32 * 86_400)) == b)
        let other = try InstallID.current(at: dir + "/other.json", now: t0)
        #expect(other != a)
    }

    @Test("counters persist and reload")
    func persistence() throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        let t = Telemetry()
        t.record(task: .draft, latencyMs: 80, tokens: 64, escalated: .invalidOutput)
        try t.save(to: dir + "/t.json")
        #expect(Telemetry(contentsOf: dir + "/t.json").snapshot == t.snapshot)
        #expect(Telemetry(contentsOf: dir + "/missing.json").snapshot == TelemetryState())
    }
}
