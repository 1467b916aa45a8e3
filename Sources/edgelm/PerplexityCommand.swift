import ArgumentParser
import EdgeLM
import Foundation

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
        guard ctx >= 4 else { throw ValidationError("--ctx must be ≥ 4") }
        if let maxTokens, maxTokens < 1 { throw ValidationError("--max-tokens must be ≥ 1") }
    }

    func run() throws {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw CLIError("cannot read \(file)", hint: "check the path given to --file")
        }
        let text = String(decoding: data, as: UTF8.self)
        let model = try modelOptions.loadModel()
        let session = try Session(model: model, options: memoryOptions.sessionOptions(model: model, ctx: ctx, threads: modelOptions.threads))
        let r = try session.perplexity(text: text, ctx: ctx, maxTokens: maxTokens)
        if json {
            try printJSON(["ppl": r.perplexity, "scored_tokens": r.scoredTokens, "windows": r.windows])
        } else {
            print(String(format: "perplexity %.4f over %d scored tokens (%d windows of %d)", r.perplexity, r.scoredTokens, r.windows, ctx))
        }
    }
}
