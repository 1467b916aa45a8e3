import ArgumentParser
import EdgeLM
import EdgeLMCommandSupport
import EdgeLMEssentials

/// `edgelm bench`: prefill and decode speed, time to first token, load time and peak memory on one model.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure prefill/decode tokens per second, time to first token, load time and peak RSS.",
        discussion: "Runs one warm-up, then --repetitions measured runs; reports medians.")

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var memoryOptions: MemoryOptions
    @Option(name: .long, help: "Prompt tokens per run.") var promptTokens = 128
    @Option(name: .long, help: "Generated tokens per run (greedy).") var genTokens = 64
    @Option(name: .long, help: "Measured runs (after one warm-up).") var repetitions = 3
    @Option(name: .long, help: "Sequences run together (batched steps on one execution context).") var sequences = 1
    @Flag(name: .long, help: "Print one JSON object.") var json = false

    func validate() throws {
        try checkRange("--prompt-tokens", promptTokens, 1...maxContextOption)
        try checkRange("--gen-tokens", genTokens, 1...maxContextOption)
        try checkRange("--repetitions", repetitions, 1...10_000)
        try checkRange("--sequences", sequences, 1...256)
    }

    func run() throws {
        let t0 = DispatchTime.now().uptimeNanoseconds
        let model = try modelOptions.loadModel()
        let loadMs = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6
        // The profile (if any) sets threads, batch, residency and the cap; its max output tokens cap
        // --gen-tokens; the context is what the run needs.
        let profile = try memoryOptions.resolvedProfile()
        let genTokens = profile.map { min(self.genTokens, max(1, $0.maxOutputTokens)) } ?? self.genTokens
        var options = try memoryOptions.sessionOptions(model: model, ctx: promptTokens + genTokens + 1,
                                                       threads: modelOptions.threads)
        if profile == nil { options.batchSize = min(promptTokens, 512) }
        let session = try Session(model: model, options: options)   // MemoryBudgetError when over the cap
        // A deterministic prompt of exactly promptTokens ids: a real text, repeated as needed.
        let base = model.tokenizer.encode(Self.text, parseSpecial: false)
        var prompt: [Int32] = []
        while prompt.count < promptTokens { prompt += base }
        prompt = Array(prompt.prefix(promptTokens))
        let sampler = try Sampler(parameters: .greedy, vocabularySize: model.config.vocabularySize)

        var prefill: [Double] = [], decode: [Double] = [], ttft: [Double] = []
        var prefillCPU: [Double] = [], decodeCPU: [Double] = []   // process CPU ms per token
        for run in 0...repetitions {
            session.reset()
            let a = DispatchTime.now().uptimeNanoseconds, cpuA = Self.processCPUms()
            var logits = try session.prefill(prompt)
            var next = sampler.sample(logits)
            let b = DispatchTime.now().uptimeNanoseconds, cpuB = Self.processCPUms()
            for _ in 1..<genTokens {
                logits = try session.decode(next)
                next = sampler.sample(logits)
            }
            let c = DispatchTime.now().uptimeNanoseconds, cpuC = Self.processCPUms()
            if run == 0 { continue }   // warm-up
            prefill.append(Double(promptTokens) / (Double(b - a) / 1e9))
            ttft.append(Double(b - a) / 1e6)
            prefillCPU.append((cpuB - cpuA) / Double(promptTokens))
            if genTokens > 1 {
                decode.append(Double(genTokens - 1) / (Double(c - b) / 1e9))
                decodeCPU.append((cpuC - cpuB) / Double(genTokens - 1))
            }
        }
        withExtendedLifetime(session) {}
        // N sequences together (for N = 1 the figures above are the same-run single-sequence baseline).
        let together = sequences > 1
            ? try measureSequences(model: model, options: options, prompt: prompt, genTokens: genTokens, sequences: sequences)
            : SequenceRun(ttftMs: ttft, decodeTokS: decode, aggregateDecodeTokS: Self.median(decode),
                          aggregateDecodeCPUms: Self.median(decodeCPU))
        let rss = Self.peakRSSBytes()
        var result: [String: Any] = [
            "model": URL(fileURLWithPath: modelOptions.modelPath).lastPathComponent,
            "threads": options.threads,
            "residency": options.residency.rawValue,
            "profile": profile?.name as Any? ?? JSONValue.null,
            "prompt_tokens": promptTokens,
            "gen_tokens": genTokens,
            "repetitions": repetitions,
            "prefill_tok_s": Self.median(prefill),
            "decode_tok_s": Self.median(decode),
            "ttft_ms": Self.median(ttft),
            "cpu_ms_per_token": Self.median(decodeCPU),
            "prefill_cpu_ms_per_token": Self.median(prefillCPU),
            "load_ms": loadMs,
            "peak_rss_bytes": rss,
        ]
        result["sequences"] = sequences
        result["aggregate_decode_tok_s"] = together.aggregateDecodeTokS
        result["per_sequence_decode_tok_s"] = Self.median(together.decodeTokS)
        result["ttft_ms_p50"] = Self.percentile(together.ttftMs, 50)
        result["ttft_ms_p99"] = Self.percentile(together.ttftMs, 99)
        result["aggregate_decode_cpu_ms_per_token"] = together.aggregateDecodeCPUms
        result["sequences_per_step"] = together.sequencesPerStep
        if json {
            try printJSON(result)
        } else {
            print(String(printf: "%@  threads %d  pp%d %.1f tok/s (%.2f CPU ms/tok)  tg%d %.1f tok/s (%.2f CPU ms/tok)  "
                         + "ttft %.1f ms  load %.1f ms  peak RSS %.1f MB",
                         result["model"] as! String, options.threads, promptTokens, Self.median(prefill),
                         Self.median(prefillCPU), genTokens, Self.median(decode), Self.median(decodeCPU),
                         Self.median(ttft), loadMs, Double(rss) / 1e6))
            if sequences > 1 {
                print(String(printf: "  %d sequences: aggregate decode %.1f tok/s (%.2f× one sequence), per sequence %.1f tok/s, TTFT p50 %.1f ms p99 %.1f ms, %.2f sequences per step",
                             sequences, together.aggregateDecodeTokS, together.aggregateDecodeTokS / max(Self.median(decode), 1e-9),
                             Self.median(together.decodeTokS), Self.percentile(together.ttftMs, 50), Self.percentile(together.ttftMs, 99),
                             together.sequencesPerStep))
            }
        }
    }

    static func median(_ v: [Double]) -> Double {
        guard !v.isEmpty else { return 0 }
        let s = v.sorted()
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }

    /// User + system CPU time of the whole process so far (all threads, `getrusage(RUSAGE_SELF)`), in ms:
    /// what a token costs on battery, where spinning workers count and descheduled time does not.
    static func processCPUms() -> Double {
        var usage = rusage()
        getrusage(Int32(RUSAGE_SELF.rawValue), &usage)
        let us = (Int(usage.ru_utime.tv_sec) + Int(usage.ru_stime.tv_sec)) * 1_000_000
            + Int(usage.ru_utime.tv_usec) + Int(usage.ru_stime.tv_usec)
        return Double(us) / 1000
    }

    /// Peak resident set size of this process (VmHWM from /proc/self/status; getrusage elsewhere).
    static func peakRSSBytes() -> Int {
        if let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) {
            for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
                let kb = line.split(separator: " ").compactMap { Int($0) }.first ?? 0
                return kb * 1024
            }
        }
        var usage = rusage()
        getrusage(Int32(RUSAGE_SELF.rawValue), &usage)
        return Int(usage.ru_maxrss) * 1024
    }

    static let text = """
        Licensed under the Apache License, Version 2.0 (the "License"); you may not use this file except in \
        compliance with the License. You may obtain a copy of the License at the project's website. Unless \
        required by applicable law or agreed to in writing, software distributed under the License is \
        distributed on an "AS IS" BASIS, WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. \
        See the License for the specific language governing permissions and limitations under the License.
        """
}
