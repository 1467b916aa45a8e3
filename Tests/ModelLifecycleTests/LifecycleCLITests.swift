// The lifecycle through the real `edgelm` binary on tiny models: telemetry recorded by the task commands
// (counts, opt-out, privacy of `telemetry show`), automatic rollback on crashes on load / load failures /
// low eval scores, `--profile` refusals, and the rollout channel commands. Skipped without the binary.

import Foundation
import Testing
@testable import ModelLifecycle

private func requireBinary() throws {
    try #require(edgelmBinary() != nil, "the edgelm executable is not built next to the tests")
}

/// Environment that keeps the tests away from the user's store and telemetry.
private func isolated(_ dir: String, _ extra: [String: String] = [:]) -> [String: String] {
    ["EDGELM_STORE": dir + "/default-store", "EDGELM_TELEMETRY": "off", "EDGELM_MODEL": ""].merging(extra) { $1 }
}

@Suite(.serialized) struct LifecycleCLITests {
    /// classify / extract / rewrite / generate record real counts; a budget refusal is counted and exits ≠ 0;
    /// opt-out records nothing; `telemetry show` (JSON, Prometheus, noisy) never contains the inputs.
    @Test func taskCommandsFeedTelemetry() throws {
        try requireBinary()
        let dir = temporaryDirectory("cli-telemetry")
        defer { cleanup(dir) }
        let model = dir + "/tiny.gguf"
        try RunnableTinyModel.write(to: model)
        let schema = dir + "/schema.json"
        try Data(#"{"type":"object","properties":{"name":{"type":"string","maxLength":10}},"required":["name"]}"#.utf8)
            .write(to: URL(fileURLWithPath: schema))
        let telemetryFile = dir + "/t/telemetry.json"
        let env = isolated(dir, ["EDGELM_TELEMETRY": telemetryFile])
        let common = ["--model", model, "--threads", "1", "--ctx", "512"]   // extract needs 256 + max tokens of room
        for secret in privacyCanaries.prefix(2) {
            var (status, _, err) = try runEdgeLM(["classify", "--labels", "yes,no", "--text", secret] + common, environment: env)
            #expect(status == 0, "\(err)")
            (status, _, err) = try runEdgeLM(["extract", "--schema", schema, "--text", secret, "--max-tokens", "12"] + common,
                                             environment: env)
            #expect(status == 0, "\(err)")
            (status, _, err) = try runEdgeLM(["rewrite", "--instruction", secret, "--text", secret, "--max-tokens", "4"] + common,
                                             environment: env)
            #expect(status == 0, "\(err)")
            (status, _, err) = try runEdgeLM(["generate", "--prompt", secret, "--max-tokens", "4", "--model", model,
                                              "--threads", "1", "--ctx", "128"], environment: env)
            #expect(status == 0, "\(err)")
        }
        // A memory-budget refusal: typed error, exit ≠ 0, counted.
        let (status, _, err) = try runEdgeLM(["classify", "--labels", "yes,no", "--text", privacyCanaries[3],
                                              "--memory-cap", "4096"] + common, environment: env)
        #expect(status != 0)
        #expect(err.contains("memory cap"), "\(err)")
        // Opt-out: neither the flag nor EDGELM_TELEMETRY=off records anything.
        let before = try Data(contentsOf: URL(fileURLWithPath: telemetryFile))
        _ = try runEdgeLM(["classify", "--labels", "yes,no", "--text", "x", "--no-telemetry"] + common, environment: env)
        _ = try runEdgeLM(["classify", "--labels", "yes,no", "--text", "x"] + common, environment: isolated(dir))
        #expect(try Data(contentsOf: URL(fileURLWithPath: telemetryFile)) == before)

        let (s1, json, e1) = try runEdgeLM(["telemetry", "show"], environment: env)
        #expect(s1 == 0, "\(e1)")
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        let t = try #require(doc["telemetry"] as? [String: Any])
        #expect(t["requests"] as? [String: Int] == ["classify": 2, "extract": 2, "rewrite": 2, "generate": 2])
        #expect(t["memoryBudgetRefusals"] as? Int == 1)
        #expect((t["errors"] as? [String: Int])?["MemoryBudgetError"] == 1)
        #expect(t["modelVersion"] as? String == "unmanaged")
        let (s2, prom, _) = try runEdgeLM(["telemetry", "show", "--prometheus"], environment: env)
        #expect(s2 == 0 && prom.contains("edgelm_requests_total{task=\"classify\"} 2"))
        let (s3, noisy, _) = try runEdgeLM(["telemetry", "show", "--prometheus", "--epsilon", "1"], environment: env)
        #expect(s3 == 0)
        for (name, text) in [("json", json), ("prometheus", prom), ("noisy", noisy)] {
            for secret in privacyCanaries {
                let leaks = leakedSubstrings(of: secret, in: Data(text.utf8))
                #expect(leaks.isEmpty, "\(name): \(leaks)")
            }
        }
    }

    /// Two runs that die while loading v2 (after the load marker) count two crashes on load: the third run
    /// rolls back to v1, says so on stderr, and runs.
    @Test func crashesOnLoadRollBackThroughTheCLI() throws {
        try requireBinary()
        let f = try HealthFixture(v2Runnable: true)
        defer { cleanup(f.dir) }
        let args = ["generate", "--store", f.store.root, "--prompt", "hi", "--max-tokens", "2", "--threads", "1",
                    "--ctx", "64"]
        for _ in 0..<2 {
            let (status, _, _) = try runEdgeLM(args, environment: isolated(f.dir, ["EDGELM_TEST_CRASH_ON_LOAD": "1"]))
            #expect(status == 137)
            #expect(f.store.active == HealthFixture.v2)
        }
        let (status, _, err) = try runEdgeLM(args, environment: isolated(f.dir))
        #expect(status == 0, "\(err)")
        #expect(err.contains("rolled back tiny@1.1.0 → tiny@1.0.0: 2 crashes on load"), "\(err)")
        #expect(f.store.active == HealthFixture.v1)
        let (_, list, _) = try runEdgeLM(["models", "list", "--store", f.store.root, "--json"], environment: isolated(f.dir))
        #expect(list.contains(#""active":"tiny@1.0.0""#))
    }

    /// v2 parses and verifies but cannot be loaded: two runs fail with the load error, the third (threshold 3)
    /// rolls back and runs on v1.
    @Test func loadFailuresRollBackThroughTheCLI() throws {
        try requireBinary()
        let f = try HealthFixture(v2Runnable: false)
        defer { cleanup(f.dir) }
        let args = ["generate", "--store", f.store.root, "--prompt", "hi", "--max-tokens", "2", "--threads", "1",
                    "--ctx", "64"]
        for _ in 0..<2 {
            let (status, _, err) = try runEdgeLM(args, environment: isolated(f.dir))
            #expect(status != 0)
            #expect(!err.contains("rolled back"))
        }
        let (status, _, err) = try runEdgeLM(args, environment: isolated(f.dir))
        #expect(status == 0, "\(err)")
        #expect(err.contains("rolled back tiny@1.1.0 → tiny@1.0.0: 3 load failures"), "\(err)")
        #expect(HealthMonitor(store: f.store).isRejected(HealthFixture.v2))
    }

    /// `edgelm eval` records per-example scores for the active version; below last-known-good's mean → rollback.
    @Test func evalScoresRollBackThroughTheCLI() throws {
        try requireBinary()
        let f = try HealthFixture(v2Runnable: true)
        defer { cleanup(f.dir) }
        try HealthMonitor(store: f.store).recordEvals(HealthFixture.v1, scores: [1, 1, 1, 1, 1])
        // The expected label is not among the labels: every prediction is wrong, accuracy 0.
        let data = f.dir + "/eval.jsonl"
        let lines = (0..<5).map { #"{"text": "item \#($0)", "label": "zzz", "labels": ["yes", "no"]}"# }
        try Data(lines.joined(separator: "\n").utf8).write(to: URL(fileURLWithPath: data))
        let telemetry = f.dir + "/t.json"
        let (status, out, err) = try runEdgeLM(["eval", "--task", "classify", "--data", data, "--store", f.store.root,
                                                "--threads", "1", "--ctx", "256", "--calibration", "none"],
                                               environment: isolated(f.dir, ["EDGELM_TELEMETRY": telemetry]))
        #expect(status == 0, "\(err)")
        #expect(out.contains("accuracy: 0"))
        #expect(err.contains("rolled back tiny@1.1.0 → tiny@1.0.0: mean eval score 0.0"), "\(err)")
        #expect(f.store.active == HealthFixture.v1)
        #expect(HealthMonitor(store: f.store).health(of: HealthFixture.v2).evalEvents == 5)
        let evals = Telemetry(contentsOf: telemetry).snapshot.evals["classify"]
        #expect(evals?.events == 5 && evals?.correct == 0)
    }

    /// `--profile` / `--memory-cap` on bench and the task commands: a cap that cannot fit is the typed refusal.
    @Test(arguments: ["bench", "classify", "extract", "rewrite", "eval"])
    func profileRefusalIsTypedAndNonZero(command: String) throws {
        try requireBinary()
        let dir = temporaryDirectory("cli-profile")
        defer { cleanup(dir) }
        let model = dir + "/tiny.gguf"
        try RunnableTinyModel.write(to: model)
        try Data(#"{"type":"object","properties":{"a":{"type":"string"}}}"#.utf8).write(to: URL(fileURLWithPath: dir + "/s.json"))
        try Data(#"{"text": "t", "label": "yes", "labels": ["yes", "no"]}"#.utf8).write(to: URL(fileURLWithPath: dir + "/d.jsonl"))
        let extra: [String] = switch command {
        case "bench": ["--prompt-tokens", "8", "--gen-tokens", "2", "--repetitions", "1"]
        case "classify": ["--labels", "yes,no", "--text", "t"]
        case "extract": ["--schema", dir + "/s.json", "--text", "t"]
        case "rewrite": ["--instruction", "i", "--text", "t"]
        default: ["--task", "classify", "--data", dir + "/d.jsonl"]
        }
        let base = [command, "--model", model, "--threads", "1"] + extra
        let (ok, _, okErr) = try runEdgeLM(base + ["--profile", "phone-low"], environment: isolated(dir))
        #expect(ok == 0, "\(okErr)")
        let (status, _, err) = try runEdgeLM(base + ["--profile", "phone-low", "--memory-cap", "64KiB"], environment: isolated(dir))
        #expect(status != 0)
        #expect(err.contains("memory cap is 64.0 KiB") || err.contains("memory cap is 64 KiB"), "\(err)")
    }

    /// `models channel show` and `models update`: eligibility, install of the eligible version, offline and
    /// unverifiable releases keep the active model.
    @Test func channelShowAndUpdate() throws {
        try requireBinary()
        let dir = temporaryDirectory("cli-channel")
        defer { cleanup(dir) }
        let signer = Signer()
        let v1 = dir + "/v1.gguf", v2 = dir + "/v2.gguf", v3 = dir + "/v3.gguf"
        try RunnableTinyModel.write(to: v1, seed: 1)
        try RunnableTinyModel.write(to: v2, seed: 2)
        try RunnableTinyModel.write(to: v3, seed: 3)
        let m1 = try signer.manifestFile(for: v1, version: "1.0.0", in: dir)
        _ = try signer.manifestFile(for: v2, version: "1.1.0", in: dir)
        _ = try Signer().manifestFile(for: v3, version: "1.2.0", in: dir)   // signed with another key
        let pub = dir + "/key.pub"
        try Data(signer.publicKey.rawRepresentation.base64EncodedString().utf8).write(to: URL(fileURLWithPath: pub))
        let store = dir + "/store"
        let env = isolated(dir)
        var (status, out, err) = try runEdgeLM(["models", "install", m1, "--file", v1, "--public-key", pub, "--store", store,
                                                "--quiet"], environment: env)
        #expect(status == 0, "\(err)")

        func channel(_ releases: String) throws -> String {
            let path = dir + "/channel-\(UInt32.random(in: 0...UInt32.max)).json"
            try Data(#"{"channel": "stable", "modelID": "tiny", "releases": [\#(releases)]}"#.utf8).write(to: URL(fileURLWithPath: path))
            return path
        }
        let good = try channel(#"""
            {"version": "1.0.0", "stage": "100%"},
            {"version": "1.1.0", "stage": "100%", "manifest": "tiny@1.1.0.json", "model": "v2.gguf"},
            {"version": "1.3.0", "stage": "canary", "percentage": 0}
            """#)
        (status, out, err) = try runEdgeLM(["models", "channel", "show", good, "--device-id", "device-42", "--store", store,
                                            "--json"], environment: env)
        #expect(status == 0, "\(err)")
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any])
        #expect(doc["target"] as? String == "tiny@1.1.0")
        #expect(doc["active"] as? String == "tiny@1.0.0")
        let releases = try #require(doc["releases"] as? [[String: Any]])
        #expect(releases.map { $0["included"] as? Bool } == [true, true, false])
        let bucket = RolloutChannel.bucket(deviceID: "device-42", modelID: "tiny", version: try SemVer(parsing: "1.3.0"))
        #expect(abs((releases[2]["bucket"] as? Double ?? -1) - bucket) < 1e-9)

        let update = ["models", "update", "--device-id", "device-42", "--public-key", pub, "--store", store, "--channel"]
        (status, out, err) = try runEdgeLM(update + [good], environment: env)
        #expect(status == 0, "\(err)")
        #expect(out.contains("updated: tiny@1.0.0 → tiny@1.1.0"), "\(out)")
        (status, out, _) = try runEdgeLM(update + [good], environment: env)
        #expect(status == 0 && out.contains("up to date: tiny@1.1.0"), "\(out)")
        // Offline: the channel cannot be read.
        (status, out, err) = try runEdgeLM(update + [dir + "/missing.json"], environment: env)
        #expect(status == 0 && out.contains("offline: kept tiny@1.1.0"), "\(out) \(err)")
        // Unverifiable: 1.2.0 is signed with another key.
        let bad = try channel(#"{"version": "1.2.0", "stage": "100%", "manifest": "tiny@1.2.0.json", "model": "v3.gguf"}"#)
        (status, out, err) = try runEdgeLM(update + [bad], environment: env)
        #expect(status != 0)
        #expect(out.contains("kept tiny@1.1.0") && err.contains("bad signature"), "\(out) \(err)")
        #expect(try ModelStore(path: store).active == "tiny@1.1.0")
    }
}
