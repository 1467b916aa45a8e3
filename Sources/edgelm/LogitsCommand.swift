import ArgumentParser
import EdgeLM
import EdgeLMCommandSupport
import EdgeLMEssentials

struct LogitsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logits",
        abstract: "Print the highest raw logits at the last prompt position.")

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var memoryOptions: MemoryOptions
    @Option(name: .long, help: "The prompt. Special tokens in it are parsed; BOS added when the model asks.") var prompt: String
    @Option(name: .long, help: "How many logits to print.") var top = 20
    @Flag(name: .long, help: "Print one JSON object.") var json = false
    @Option(name: .long, help: .hidden) var dumpDir: String?
    @Option(name: .long, help: .hidden) var thenDecode: Int32?

    func validate() throws {
        try checkRange("--top", top, 1...ModelConfig.Limits.maxVocabularySize)
    }

    func run() throws {
        let model = try modelOptions.loadModel()
        let session = try Session(model: model, options: memoryOptions.sessionOptions(model: model, ctx: nil, threads: modelOptions.threads))
        if let dumpDir {
            session._debugTap = { name, values in
                FileManager.default.createFile(atPath: "\(dumpDir)/\(name).f32", contents: Data(buffer: values))
            }
        }
        let ids = try session.promptTokens(for: GenerationRequest(prompt: prompt))
        var logits = try session.prefill(ids)
        if let thenDecode { logits = try session.decode(thenDecode) }
        let best = withExtendedLifetime(session) { topLogits(logits, count: min(top, logits.count)) }
        if json {
            let top: [[String: Any]] = best.map { ["id": Int($0.id), "logit": Double($0.logit)] }
            try printJSON(["prompt_tokens": ids.map { Int($0) }, "top": top] as [String: Any])
        } else {
            for (id, logit) in best {
                let piece = String(decoding: model.tokenizer.tokenPiece(id), as: UTF8.self)
                print("\(id)\t\(logit)\t\(piece.debugDescription)")
            }
        }
    }
}

/// The `count` highest logits, highest first.
func topLogits(_ logits: UnsafeBufferPointer<Float>, count: Int) -> [(id: Int32, logit: Float)] {
    var best: [(id: Int32, logit: Float)] = []
    best.reserveCapacity(count + 1)
    for (i, l) in logits.enumerated() where best.count < count || l > best[best.count - 1].logit {
        let at = best.firstIndex { l > $0.logit } ?? best.count
        best.insert((Int32(i), l), at: at)
        if best.count > count { best.removeLast() }
    }
    return best
}
