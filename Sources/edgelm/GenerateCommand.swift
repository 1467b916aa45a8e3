import ArgumentParser
import EdgeLM
import EdgeLMCommandSupport
import EdgeLMEssentials

struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Generate text from a prompt (streams to stdout).")

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var memoryOptions: MemoryOptions
    @OptionGroup var telemetryOptions: TelemetryOptions
    @Option(name: .long, help: "The prompt. Special tokens in it are parsed.") var prompt: String
    @Option(name: .long, help: "Maximum tokens to generate.") var maxTokens = 128
    @Option(name: .long, help: "Sampling temperature; 0 is greedy.") var temperature: Float = 0.8
    @Option(name: .long, help: "Top-k (0 = off).") var topK = 40
    @Option(name: .long, help: "Top-p (1 = off).") var topP: Float = 0.95
    @Option(name: .long, help: "Min-p (0 = off).") var minP: Float = 0.05
    @Option(name: .long, help: "Repetition penalty (1 = off).") var repeatPenalty: Float = 1.0
    @Option(name: .long, help: "RNG seed (same seed, same text).") var seed: UInt64 = 0
    @Option(name: .long, help: "Stop when this string appears (repeatable).") var stop: [String] = []
    @Option(name: .long, help: "Context length of the session (default: the model's, at most 4096).") var ctx: Int?
    @Flag(name: .long, help: "Wrap the prompt in the model's chat template as a user turn.") var chat = false
    @Flag(name: .long, help: "Print one JSON object instead of streaming text.") var json = false

    func validate() throws {
        try checkRange("--max-tokens", maxTokens, 0...1_000_000)
        try checkRange("--temperature", temperature, 0...100)
        try checkRange("--top-k", topK, 0...ModelConfig.Limits.maxVocabularySize)
        guard topP > 0, topP <= 1 else { throw ValidationError("--top-p must be in (0, 1], got \(topP)") }
        try checkRange("--min-p", minP, 0...1)
        guard repeatPenalty > 0, repeatPenalty <= 100 else {
            throw ValidationError("--repeat-penalty must be in (0, 100], got \(repeatPenalty)")
        }
        if let ctx { try checkRange("--ctx", ctx, 1...maxContextOption) }
    }

    func run() throws {
        let recorder = TelemetryRecorder(telemetryOptions, storeDirectory: modelOptions.store)
        try recorder.guarded(.generate) { try run(recorder) }
    }

    private func run(_ recorder: TelemetryRecorder) throws {
        let loaded = try modelOptions.load()
        recorder.modelKey = loaded.key
        let model = loaded.model
        try checkContext(ctx, model: model)
        let options = try memoryOptions.sessionOptions(model: model, ctx: ctx, threads: modelOptions.threads)
        let session = try Session(model: model, options: options)
        let maxTokens = try memoryOptions.resolvedProfile().map { min(self.maxTokens, $0.maxOutputTokens) } ?? self.maxTokens
        let sampling = SamplingParameters(temperature: temperature, topK: topK, topP: topP, minP: minP,
                                          repeatPenalty: repeatPenalty, seed: seed)
        let request = GenerationRequest(prompt: prompt, maxTokens: maxTokens, sampling: sampling,
                                        stopStrings: stop, chat: chat)
        let start = DispatchTime.now().uptimeNanoseconds
        let result = try session.generate(request, onText: json ? nil : { chunk in writeStdout(chunk); return true })
        recorder.record(TelemetryEvent(task: .generate, latencyMs: TelemetryRecorder.elapsedMs(since: start),
                                       tokens: result.promptTokens.count + result.tokens.count))
        if json {
            try printJSON([
                "text": result.text,
                "tokens": result.tokens.map { Int($0) },
                "prompt_tokens": result.promptTokens.count,
                "generated_tokens": result.tokens.count,
                "stop_reason": result.stopReason.rawValue,
                "timings": [
                    "load_ms": model.loadSeconds * 1000,
                    "prefill_tok_s": result.prefillTokensPerSecond,
                    "decode_tok_s": result.decodeTokensPerSecond,
                ],
            ])
        } else {
            writeStdout("\n")
            StandardStream.error.write(String(
                printf: "[%d prompt tokens, %d generated, %.1f tok/s prefill, %.1f tok/s decode, stop: %@]\n",
                result.promptTokens.count, result.tokens.count, result.prefillTokensPerSecond,
                result.decodeTokensPerSecond, result.stopReason.rawValue))
        }
    }
}
