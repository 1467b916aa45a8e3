// A tiny Llama-shaped GGUF that Inference can actually run, for the lifecycle tests: the shared `TinyModel`
// (byte-level BPE vocabulary with ChatML specials and a chat template) with f32 weights and the merge "a b",
// written to a path of the test's choosing, so tasks, generation and CLI loads work without the real weights.

import InferenceTestSupport

enum RunnableTinyModel {
    static let layers = 2
    static let specials = TinyModel.specials

    /// GPT-2's byte → printable-unicode mapping: the token text of each single-byte token.
    static func byteToken(_ b: Int) -> String { TinyModel.byteToken(b) }

    /// Writes the model to `path`. Different seeds give different weights (and SHA-256) with the same tokenizer.
    static func write(to path: String, seed: UInt64 = 7, context: Int = 512, dim: Int = 32, ffn: Int = 48) throws {
        try TinyModel(dim: dim, ffn: ffn, layers: layers, context: context, matrixType: .f32, embeddingType: .f32,
                      seed: seed, merges: ["a b"]).write(to: path)
    }
}
