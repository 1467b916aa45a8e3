// Llama family (Llama 2/3, SmolLM2, TinyLlama …): RMSNorm, RoPE (normal ordering), grouped-query attention,
// SwiGLU FFN, output head tied to the token embedding when `output.weight` is absent.
// Tensor names are llama.cpp's (src/llama-arch.cpp, LLM_ARCH_LLAMA).
import GGUF
import Kernels

enum LlamaArchitecture {
    static let name = "llama"

    static func loadWeights(file: GGUFFile, config c: ModelConfig) throws -> TransformerWeights {
        let w = TensorLookup(file: file)
        let dim = c.embeddingLength
        let embd = try w.tensor("token_embd.weight", shape: [dim, c.vocabularySize])        // (vocab, dim)
        var layers: [LayerWeights] = []
        layers.reserveCapacity(c.blockCount)
        for i in 0..<c.blockCount {
            let p = "blk.\(i)."
            layers.append(LayerWeights(
                attnNorm: try w.vector(p + "attn_norm.weight", count: dim),                 // (dim)
                wq: try w.matrix(p + "attn_q.weight", rows: c.qDim, cols: dim),
                wk: try w.matrix(p + "attn_k.weight", rows: c.kvDim, cols: dim),
                wv: try w.matrix(p + "attn_v.weight", rows: c.kvDim, cols: dim),
                wo: try w.matrix(p + "attn_output.weight", rows: dim, cols: c.qDim),
                ffnNorm: try w.vector(p + "ffn_norm.weight", count: dim),
                gate: try w.matrix(p + "ffn_gate.weight", rows: c.feedForwardLength, cols: dim),
                up: try w.matrix(p + "ffn_up.weight", rows: c.feedForwardLength, cols: dim),
                down: try w.matrix(p + "ffn_down.weight", rows: dim, cols: c.feedForwardLength),
                ropeBase: c.ropeFreqBase
            ))
        }
        let output: WeightMatrix
        if file.tensor(named: "output.weight") != nil {
            output = try w.matrix("output.weight", rows: c.vocabularySize, cols: dim)        // (vocab, dim)
        } else {
            output = try w.matrix(embd, rows: c.vocabularySize, cols: dim)                  // tied
        }
        return TransformerWeights(
            tokenEmbedding: embd,
            layers: layers,
            outputNorm: try w.vector("output_norm.weight", count: dim),
            output: output
        )
    }
}
