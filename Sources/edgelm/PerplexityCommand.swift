import ArgumentParser
import EdgeLM
import EdgeLMCommandSupport
import EdgeLMEssentials

struct PerplexityCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "perplexity",
        abstract: "Perplexity of a text file, computed as llama.cpp's perplexity tool does.")

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var memoryOptions: MemoryOptions
    @Option(name: .long, help: "The text file.") var file: String
    @Option(name: .long, help: "Window size in tokens.") var ctx = 512
    @Option(name: .long, help: "Use at most this many tokens of the file.") var maxTokens: Int?
    @Flag(name: .long, help: "Print one JSON object.") var json = false

    func validate() throws {
        try checkRange("--ctx", ctx, 4...maxContextOption)
        if let maxTokens { try checkRange("--max-tokens", maxTokens, 1...Int.max) }
    }

    func run() throws {
        var isDir = false
        guard FileManager.default.fileExists(atPath: file, isDirectory: &isDir), !isDir else {
            throw CLIError("cannot read \(file): no such file", hint: "check the path given to --file")
        }
        // Character devices read too (/dev/null is empty, not "unreadable").
        let data: [UInt8]
        do { data = try readFileBytes(file) } catch {
            throw CLIError("cannot read \(file): \(error.reason)", hint: "check the file's permissions")
        }
        guard !data.isEmpty else {
            throw CLIError("\(file) is empty: perplexity needs at least 2 tokens of text", hint: "pass a non-empty text file with --file")
        }
        let text = String(decoding: data, as: UTF8.self)
        let model = try modelOptions.loadModel()
        try checkContext(ctx, model: model)
        let session = try Session(model: model, options: memoryOptions.sessionOptions(model: model, ctx: ctx, threads: modelOptions.threads))
        let r = try session.perplexity(text: text, ctx: ctx, maxTokens: maxTokens)
        if json {
            try printJSON(["ppl": r.perplexity, "scored_tokens": r.scoredTokens, "windows": r.windows])
        } else {
            print(String(printf: "perplexity %.4f over %d scored tokens (%d windows of %d)", r.perplexity, r.scoredTokens, r.windows, ctx))
        }
    }
}
