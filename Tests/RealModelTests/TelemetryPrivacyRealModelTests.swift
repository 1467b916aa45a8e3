// Telemetry privacy on the real SmolLM2 model: distinctive strings through classify, extract, rewrite and
// generate, recorded the way the CLI records them (TelemetryEvent → TelemetryStore); no export (JSON,
// Prometheus, with and without noise, the persisted file) contains any of them or any 8-byte substring.
// Skipped when weights/ is absent. Slow in debug builds: run with `-c release`.

import EdgeLM
import Foundation
import Testing

@Suite(.serialized) struct TelemetryPrivacyRealModelTests {
    static let canaries = ["Zebrafish-Quokka 7731 marmalade sandwich", "patient jöhn.døe@exämple.org SSN 078-05-1120"]

    /// Every 8-byte window of `s` (and `s` itself) found in `data`.
    static func leaks(_ s: String, _ data: Data) -> [String] {
        let b = Array(s.utf8)
        var out = data.range(of: Data(b)) != nil ? [s] : []
        for i in 0...(b.count - 8) where data.range(of: Data(b[i..<(i + 8)])) != nil {
            out.append(String(decoding: b[i..<(i + 8)], as: UTF8.self))
        }
        return out
    }

    @Test func realModelTasksLeakNoTextIntoTelemetry() throws {
        guard let model = try RealModel.model(RealModel.smolLM) else {
            print("skipping: weights/\(RealModel.smolLM) absent"); return
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("edgelm-privacy-real-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let files = TelemetryStore(path: dir + "/telemetry.json")
        var opts = TaskOptions(contextLength: 512, threads: 1)
        opts.maxExtractTokens = 24
        let runner = try TaskRunner(model: model, options: opts)
        let schema = try JSONSchema(json: #"{"type":"object","properties":{"name":{"type":"string","maxLength":16}},"required":["name"]}"#)
        func tokens(_ t: TaskTimings) -> Int { t.promptTokens + t.generatedTokens }
        for secret in Self.canaries {
            let c = try runner.classify(secret, labels: ["positive", "negative"], instruction: secret)
            try files.record(TelemetryEvent(task: .classify, latencyMs: c.timings.totalSeconds * 1000, tokens: tokens(c.timings),
                                            escalation: c.confidence < 0.6 ? .lowConfidence : nil))
            let e = try runner.extract(secret, schema: schema)
            try files.record(TelemetryEvent(task: .extract, latencyMs: e.timings.totalSeconds * 1000, tokens: tokens(e.timings)))
            let r = try runner.rewrite(secret, instruction: "repeat it: " + secret, maxTokens: 8)
            try files.record(TelemetryEvent(task: .rewrite, latencyMs: r.timings.totalSeconds * 1000, tokens: tokens(r.timings)))
            let session = try Session(model: model, options: SessionOptions(contextLength: 128, threads: 1))
            let g = try session.generate(GenerationRequest(prompt: "Repeat: " + secret, maxTokens: 8, sampling: .greedy))
            try files.record(TelemetryEvent(task: .generate, latencyMs: (g.prefillSeconds + g.decodeSeconds) * 1000,
                                            tokens: g.promptTokens.count + g.tokens.count))
            try files.record(TelemetryEvent(task: .classify, error: TasksError.invalidLabels(secret)))
        }
        let t = files.load()
        #expect(t.snapshot.requests == ["classify": 2, "extract": 2, "rewrite": 2, "generate": 2])
        #expect(t.snapshot.errors == ["TasksError": 2])
        let id = try InstallID.current(at: files.installIDPath)
        var rng = SplitMix64(seed: 5)
        let exports: [Data] = [
            try t.exportJSON(installID: id), Data(t.exportPrometheus(installID: id).utf8),
            try t.exportJSON(installID: id, noise: LaplaceNoise(epsilon: 1), using: &rng),
            Data(t.exportPrometheus(installID: id, noise: LaplaceNoise(epsilon: 1), using: &rng).utf8),
            try Data(contentsOf: URL(fileURLWithPath: files.path)),
        ]
        for (i, data) in exports.enumerated() {
            for secret in Self.canaries { #expect(Self.leaks(secret, data).isEmpty, "export \(i)") }
        }
    }
}
