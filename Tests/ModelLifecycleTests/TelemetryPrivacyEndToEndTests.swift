// End-to-end privacy: distinctive strings go through every task on a real (tiny) model — classify, extract,
// rewrite, generate, plus failures whose messages carry them — and are recorded the way the CLI records them
// (TelemetryEvent → TelemetryStore). No exported byte sequence may contain any of them or any 8-byte
// substring of them: JSON and Prometheus, with and without noise, the persisted file and the install id file.

import Foundation
import Inference
import Tasks
import Testing
@testable import ModelLifecycle

/// Distinctive inputs (ASCII, accented, CJK, identifiers); none shares an 8-byte run with the export format.
let privacyCanaries = [
    "Zebrafish-Quokka 7731 marmalade sandwich",
    "patient jöhn.døe@exämple.org SSN 078-05-1120",
    "Łódź naïve café 寿司 tempura ünïcødé",
    "PROMPT_CANARY_9f8e7d6c5b4a3928",
]

/// Every 8-byte window of `s` (and `s` itself) that occurs in `data`.
func leakedSubstrings(of s: String, in data: Data) -> [String] {
    let bytes = Array(s.utf8)
    var found: [String] = []
    if data.range(of: Data(bytes)) != nil { found.append(s) }
    if bytes.count >= 8 {
        for i in 0...(bytes.count - 8) where data.range(of: Data(bytes[i..<(i + 8)])) != nil {
            found.append(String(decoding: bytes[i..<(i + 8)], as: UTF8.self))
        }
    }
    return found
}

@Suite(.serialized) struct TelemetryPrivacyEndToEndTests {
    @Test("privacy end to end: text through classify, extract, rewrite, generate and errors never reaches an export")
    func noTaskInputReachesAnyExport() throws {
        let dir = temporaryDirectory("privacy")
        defer { cleanup(dir) }
        let modelPath = dir + "/tiny.gguf"
        try RunnableTinyModel.write(to: modelPath)
        let model = try Model(path: modelPath)
        let runner = try TaskRunner(model: model, options: TaskOptions(contextLength: 512, threads: 1))
        let router = Router(local: runner, remote: nil)
        let files = TelemetryStore(path: dir + "/telemetry/telemetry.json")
        let schema = try JSONSchema(json: #"{"type":"object","properties":{"name":{"type":"string","maxLength":12}},"required":["name"]}"#)
        func ms(_ t: TaskTimings) -> Double { t.totalSeconds * 1000 }

        for secret in privacyCanaries {
            // classify, routed (low confidence escalates; no remote: the local result is kept)
            let labels = [secret + " yes", "no " + secret]
            let routed = try router.run(TaskRequest(task: .classify(text: secret, labels: labels, instruction: secret),
                                                    capability: .classify))
            let c = try runner.classify(secret, labels: labels, instruction: secret)
            let escalation: EscalationReason? = routed.reason == .lowConfidence ? .lowConfidence : nil
            try files.record(TelemetryEvent(task: .classify, latencyMs: ms(c.timings),
                                            tokens: c.timings.promptTokens + c.timings.generatedTokens, escalation: escalation))
            // extract
            let e = try runner.extract(secret, schema: schema)
            try files.record(TelemetryEvent(task: .extract, latencyMs: ms(e.timings),
                                            tokens: e.timings.promptTokens + e.timings.generatedTokens))
            // rewrite
            let r = try runner.rewrite(secret, instruction: secret, maxTokens: 6)
            try files.record(TelemetryEvent(task: .rewrite, latencyMs: ms(r.timings),
                                            tokens: r.timings.promptTokens + r.timings.generatedTokens))
            // generate
            let session = try Session(model: model, options: SessionOptions(contextLength: 256, threads: 1))
            let g = try session.generate(GenerationRequest(prompt: secret, maxTokens: 6, sampling: .greedy))
            try files.record(TelemetryEvent(task: .generate, latencyMs: (g.prefillSeconds + g.decodeSeconds) * 1000,
                                            tokens: g.promptTokens.count + g.tokens.count))
            // failures whose messages carry the text
            do {
                _ = try runner.classify(secret, labels: [secret])
                Issue.record("one label must be refused")
            } catch {
                #expect("\(error)".contains(secret) || "\(error)".contains("label"))
                try files.record(TelemetryEvent(task: .classify, error: error))
            }
            try files.record(TelemetryEvent(task: .rewrite, error: TasksError.invalidParameter(secret)))
        }
        // A memory-budget refusal, as the CLI records it.
        do {
            _ = try Session(model: model, options: SessionOptions(contextLength: 256, threads: 1,
                                                                  memoryBudget: MemoryBudget(cap: 4096)))
            Issue.record("a 4 KiB cap must be refused")
        } catch {
            try files.record(TelemetryEvent(task: .generate, error: error, memoryBudgetRefusal: error is MemoryBudgetError))
        }
        try files.update { $0.setModel(key: "tiny@1.0.0") }

        // The recording happened (a test that records nothing would pass the leak check trivially).
        let t = files.load()
        let s = t.snapshot
        let n = privacyCanaries.count
        #expect(s.requests == ["classify": n, "extract": n, "rewrite": n, "generate": n])
        #expect(s.tokens["generate"]?.count == n && (s.tokens["generate"]?.sum ?? 0) > 0)
        #expect(s.errors["TasksError"] == 2 * n)
        #expect(s.errors["MemoryBudgetError"] == 1 && s.memoryBudgetRefusals == 1)
        #expect(s.modelVersion == "tiny@1.0.0")

        let id = try InstallID.current(at: files.installIDPath)
        var exports: [(String, Data)] = []
        for epsilon in [nil, 0.5, 4.0] as [Double?] {
            var rng = SplitMix64(seed: 99)
            let noise = epsilon.map { LaplaceNoise(epsilon: $0) }
            exports.append(("json ε=\(epsilon.map { "\($0)" } ?? "off")", try t.exportJSON(installID: id, noise: noise, using: &rng)))
            exports.append(("prometheus ε=\(epsilon.map { "\($0)" } ?? "off")",
                            Data(t.exportPrometheus(installID: id, noise: noise, using: &rng).utf8)))
        }
        exports.append(("telemetry.json", try Data(contentsOf: URL(fileURLWithPath: files.path))))
        exports.append(("install-id.json", try Data(contentsOf: URL(fileURLWithPath: files.installIDPath))))
        for (name, data) in exports {
            #expect(!data.isEmpty)
            for secret in privacyCanaries {
                let leaks = leakedSubstrings(of: secret, in: data)
                #expect(leaks.isEmpty, "\(name) contains \(leaks) of \(secret)")
            }
        }
    }

    /// The leak check itself finds a planted 8-byte run (so the assertion above can fail).
    @Test func leakCheckFindsPlantedSubstrings() {
        let secret = privacyCanaries[0]
        let planted = Data(("{\"x\": \"" + String(secret.dropFirst(5).prefix(8)) + "\"}").utf8)
        #expect(leakedSubstrings(of: secret, in: planted) == [String(secret.dropFirst(5).prefix(8))])
        #expect(leakedSubstrings(of: secret, in: Data("{\"requests\": 1}".utf8)).isEmpty)
    }
}
