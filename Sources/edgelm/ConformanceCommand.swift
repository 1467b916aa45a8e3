import ArgumentParser
import EdgeLM
import Foundation

/// `edgelm conformance`: the checks a device team runs before shipping a model to a class of devices.
struct ConformanceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "conformance",
        abstract: "Check that a model runs within a device profile (memory cap, fidelity, determinism, latency).",
        discussion: "Peak memory is measured in a child process (VmHWM) through a generation that fills the context. Exit code 0 only if every check passes.")

    @OptionGroup var modelOptions: ModelOptions
    @Option(name: .long, help: "Device profile: a built-in name or a JSON profile file.") var profile: String
    @Option(name: .customLong("memory-cap"), help: "Override the profile's memory cap (bytes, MiB, GiB).",
            transform: MemoryOptions.parseCap) var memoryCap: Int?
    @Flag(name: .long, help: "Print one JSON object instead of a table.") var json = false

    struct Check { var name: String; var passed: Bool; var detail: String }

    static let referencePrompts = ["The capital of France is", "Once upon a time", "def fibonacci(n):"]

    func run() throws {
        var p: DeviceProfile
        do { p = try DeviceProfile.resolve(profile) } catch { throw CLIError("\(error)") }
        if let memoryCap { p.memoryCap = memoryCap }
        let model = try modelOptions.loadModel()
        let options = MemoryOptions.sessionOptions(profile: p, model: model)
        var checks: [Check] = []
        var peak: Int? = nil

        // 1. Fits, or is refused with the typed error.
        let need = try Session.memoryRequirement(model: model, options: options)
        do {
            try MemoryBudget(cap: p.memoryCap).check(model: model, options: options)
            checks.append(Check(name: "fits", passed: true, detail: "\(need) ≤ cap \(ByteCount.format(p.memoryCap))"))
        } catch let e as MemoryBudgetError {
            checks.append(Check(name: "fits", passed: false, detail: "refused: \(e)"))
            return try finish(p, checks, peak: nil, refused: true)
        }

        // 2. Peak RSS through a context-filling generation, in a child process.
        let child = try runChild(profile: p, model: modelOptions.modelPath)
        if let c = child {
            peak = c.peak
            checks.append(Check(name: "peak_rss", passed: c.peak <= p.memoryCap,
                                detail: "VmHWM \(ByteCount.format(c.peak)) (\(c.peak) B) vs cap \(ByteCount.format(p.memoryCap)) after \(c.tokens) tokens (context \(options.contextLength ?? 0))"))
            checks.append(Check(name: "context_full", passed: c.tokens == options.contextLength && c.overflowRefused,
                                detail: "filled \(c.tokens)/\(options.contextLength ?? 0) tokens; KV policy refuse: next token \(c.overflowRefused ? "refused with InferenceError.contextOverflow" : "NOT refused")"))
            checks.append(Check(name: "latency", passed: c.p50 > 0 && c.p95 >= c.p50,
                                detail: String(format: "per-token decode p50 %.2f ms, p95 %.2f ms (%.1f tok/s)", c.p50, c.p95, 1000 / c.p50)))
        } else {
            checks.append(Check(name: "peak_rss", passed: false, detail: "the child workload failed (see stderr)"))
        }

        // 3. Greedy output equals the unconstrained run (resident, default threads and context).
        let constrained = try Session(model: model, options: options)
        let free = try Session(model: model, options: SessionOptions(contextLength: options.contextLength))
        var mismatches: [String] = []
        for prompt in Self.referencePrompts {
            let r = GenerationRequest(prompt: prompt, maxTokens: 16, sampling: .greedy)
            constrained.reset(); free.reset()
            let a = try constrained.generate(r), b = try free.generate(r)
            if a.tokens != b.tokens { mismatches.append(prompt) }
        }
        checks.append(Check(name: "greedy_matches_unconstrained", passed: mismatches.isEmpty,
                            detail: mismatches.isEmpty ? "\(Self.referencePrompts.count) prompts × 16 tokens identical"
                                                       : "differs on: \(mismatches.joined(separator: " | "))"))

        // 4. Deterministic with a seed.
        let sampled = GenerationRequest(prompt: Self.referencePrompts[1], maxTokens: 24,
                                        sampling: SamplingParameters(temperature: 0.9, seed: 1234))
        constrained.reset()
        let s1 = try constrained.generate(sampled).tokens
        constrained.reset()
        let s2 = try constrained.generate(sampled).tokens
        checks.append(Check(name: "deterministic_seed", passed: s1 == s2 && !s1.isEmpty,
                            detail: s1 == s2 ? "seed 1234: two runs, \(s1.count) identical tokens" : "seed 1234: runs differ"))
        try finish(p, checks, peak: peak, refused: false)
    }

    private func finish(_ p: DeviceProfile, _ checks: [Check], peak: Int?, refused: Bool) throws {
        let passed = checks.allSatisfy(\.passed)
        if json {
            var o: [String: Any] = [
                "profile": p.name, "passed": passed, "refused": refused, "cap_bytes": p.memoryCap,
                "checks": checks.map { ["name": $0.name, "passed": $0.passed, "detail": $0.detail] as [String: Any] },
            ]
            o["peak_rss_bytes"] = peak ?? NSNull()
            try printJSON(o)
        } else {
            writeStdout("conformance: profile \(p.name), cap \(ByteCount.format(p.memoryCap)), \(p.residency.rawValue) weights\n")
            for c in checks { writeStdout("  [\(c.passed ? "PASS" : "FAIL")] \(c.name): \(c.detail)\n") }
            writeStdout(passed ? "PASSED\n" : "FAILED\n")
        }
        if !passed { throw ExitCode(1) }
    }

    struct ChildResult { var peak: Int; var tokens: Int; var overflowRefused: Bool; var p50: Double; var p95: Double }

    /// Re-executes this binary with the hidden workload subcommand; nil when it fails.
    private func runChild(profile p: DeviceProfile, model: String) throws -> ChildResult? {
        let profileFile = FileManager.default.temporaryDirectory.appendingPathComponent("edgelm-profile-\(getpid()).json")
        try p.jsonData().write(to: profileFile)
        defer { try? FileManager.default.removeItem(at: profileFile) }
        let proc = Process()
        proc.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        proc.arguments = ["_conformance-workload", "--model", model, "--profile", profileFile.path]
        let out = Pipe()
        proc.standardOutput = out
        try proc.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        proc.waitUntilExit()
        guard proc.terminationStatus == 0,
              let o = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let peak = o["vmhwm_bytes"] as? Int, let tokens = o["tokens"] as? Int,
              let refused = o["overflow_refused"] as? Bool, let p50 = o["p50_ms"] as? Double, let p95 = o["p95_ms"] as? Double
        else { return nil }
        return ChildResult(peak: peak, tokens: tokens, overflowRefused: refused, p50: p50, p95: p95)
    }
}

/// Hidden: the conformance workload, run in a fresh process so its peak RSS is the engine's alone. Fills the
/// context (prompt, then greedy decoding ignoring end-of-text), tries one token past it, prints JSON.
struct ConformanceWorkloadCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "_conformance-workload", shouldDisplay: false)

    @Option(name: .long) var model: String
    @Option(name: .long) var profile: String

    func run() throws {
        let p = try DeviceProfile.load(path: profile)
        let m = try Model(path: model)
        let options = MemoryOptions.sessionOptions(profile: p, model: m)
        let session = try Session(model: m, options: options)
        let prompt = try session.promptTokens(for: GenerationRequest(prompt: ConformanceCommand.referencePrompts[1]))
        var logits = try session.prefill(prompt)
        var latencies: [Double] = []
        while session.position < session.contextLength {
            var best = 0
            for i in 1..<logits.count where logits[i] > logits[best] { best = i }
            let t0 = DispatchTime.now().uptimeNanoseconds
            logits = try session.decode(Int32(best))
            latencies.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
        }
        var refused = false
        do { _ = try session.decode(0) } catch InferenceError.contextOverflow { refused = true }
        latencies.sort()
        func pct(_ q: Double) -> Double { latencies.isEmpty ? 0 : latencies[min(latencies.count - 1, Int(q * Double(latencies.count)))] }
        try withExtendedLifetime(session) {
            try printJSON(["vmhwm_bytes": MemoryStatus.peakResidentBytes() ?? -1, "tokens": session.position,
                           "overflow_refused": refused, "p50_ms": pct(0.5), "p95_ms": pct(0.95)])
        }
    }
}

/// Peak resident set of this process from the OS.
enum MemoryStatus {
    /// `VmHWM` of /proc/self/status in bytes (nil where unavailable).
    static func peakResidentBytes() -> Int? {
        guard let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
        for line in s.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            let kb = line.split(separator: " ").compactMap { Int($0) }.first
            return kb.map { $0 * 1024 }
        }
        return nil
    }
}
