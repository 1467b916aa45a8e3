// Llama family (Llama 2/3, SmolLM2, TinyLlama …): RMSNorm, RoPE (normal ordering), grouped-query attention,
// SwiGLU FFN, output head tied to the token embedding when `output.weight` is absent.
// Tensor names and graph are llama.cpp's (src/llama-arch.cpp LLM_ARCH_LLAMA, src/models/llama.cpp).
import GGUF
import Kernels

struct Llama: Architecture {
    static let name = "llama"

    /// One transformer block.
    struct Layer: @unchecked Sendable {
        var attnNorm: UnsafePointer<Float>      // (dim)  blk.N.attn_norm.weight
        var attention: AttentionWeights         //        blk.N.attn_{q,k,v,output}.weight
        var ffnNorm: UnsafePointer<Float>       // (dim)  blk.N.ffn_norm.weight
        var ffn: FeedForwardWeights             //        blk.N.ffn_{gate,up,down}.weight
    }

    let shared: SharedWeights                   // token_embd.weight, output_norm.weight, output.weight (or tied)
    let layers: [Layer]
    let kqScale: Float

    /// `llama.*` keys; defaults: head_count_kv = head_count, key_length = dim / heads, rope.freq_base 10 000,
    /// rms epsilon 1e-5, every layer global.
    static func config(metadata: GGUFMetadata, vocabularySize: Int) throws -> ModelConfig {
        try ModelConfig(metadata: metadata, architecture: name, vocabularySize: vocabularySize)
    }

    init(file: GGUFFile, config c: ModelConfig) throws {
        let w = TensorLookup(file: file)
        let dim = c.embeddingLength
        let embd = try w.tensor("token_embd.weight", shape: [dim, c.vocabularySize])
        var layers: [Layer] = []
        for i in 0..<c.blockCount {
            let p = "blk.\(i)."
            layers.append(Layer(attnNorm: try w.vector(p + "attn_norm.weight", count: dim),
                                attention: try AttentionWeights(w, layer: i, config: c),
                                ffnNorm: try w.vector(p + "ffn_norm.weight", count: dim),
                                ffn: try FeedForwardWeights(w, layer: i, config: c)))
        }
        self.layers = layers
        shared = SharedWeights(tokenEmbedding: embd, outputNorm: try w.vector("output_norm.weight", count: dim),
                               output: try w.outputHead(tokenEmbedding: embd, config: c),
                               layerMatrices: layers.map { $0.attention.matrices + $0.ffn.matrices })
        kqScale = 1 / Float(c.headDim).squareRoot()
    }

    func forward(_ g: ForwardPass) {
        let n = g.rows
        var rows = n
        g.embed(scale: 1)
        for (l, L) in layers.enumerated() {
            g.norm(g.x, L.attnNorm, into: g.xn, rows: n, tap: "attn_norm-\(l)")
            g.selfAttention(layer: l, L.attention, kqScale: kqScale)
            if l == layers.count - 1 { rows = g.keepOutputRows() }
            g.addResidual(rows: rows)
            g.tap("ffn_inp-\(l)", g.x, rows * g.c.embeddingLength)
            g.norm(g.x, L.ffnNorm, into: g.xn, rows: rows, tap: "ffn_norm-\(l)")
            if rows > 0 { g.feedForward(layer: l, L.ffn, .silu, rows: rows) }
            g.addResidual(rows: rows)
            g.endLayer(l, rows: rows)
        }
        g.outputHead(rows: rows)
    }
}
