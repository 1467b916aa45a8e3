import ArgumentParser
import EdgeLM
import EdgeLMCommandSupport

struct TokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "Print the token ids of a text (no BOS added), as llama.cpp's llama_tokenize does.")

    @OptionGroup var modelOptions: ModelOptions
    @Option(name: .long, help: "The text to tokenize.") var text: String
    @Flag(name: .long, help: "Parse special-token text such as <|im_start|> into their ids.") var parseSpecial = false
    @Flag(name: .long, help: "Print a JSON array of ids.") var json = false

    func run() throws {
        let model = try modelOptions.loadModel()
        let ids = model.tokenizer.encode(text, parseSpecial: parseSpecial)
        if json {
            try printJSON(ids.map { Int($0) })
        } else {
            for id in ids {
                let piece = String(decoding: model.tokenizer.tokenPiece(id), as: UTF8.self)
                print("\(id)\t\(piece.debugDescription)")
            }
        }
    }
}
