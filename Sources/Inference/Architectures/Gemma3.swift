// Gemma 3 (text): token embedding scaled by √dim, RMSNorm before and after attention and the FFN, per-head
// RMSNorm on Q and K, NeoX RoPE, GeGLU FFN, output head tied to the embedding; sliding-window attention on
// 5 of every 6 layers (RoPE base 10 000 there, `rope.freq_base` on the global ones), queries scaled by
// 1/√query_pre_attn_scalar before attention. Tensor names and graph are llama.cpp's (src/llama-arch.cpp
// LLM_ARCH_GEMMA3, src/models/gemma3.cpp; hyperparameters in src/llama-model.cpp).
import GGUF
import Kernels

struct Gemma3: Architecture {
    static let name = "gemma3"
    /// Every `slidingWindowPattern`-th layer is global, the others use the sliding window (llama.cpp's
    /// `set_swa_pattern(6)`: layer l slides iff `l % 6 < 5`).
    static let slidingWindowPattern = 6
    /// RoPE base of the sliding-window layers (llama.cpp: `rope_freq_base_train_swa = 10000`).
    static let slidingRopeFreqBase: Float = 10_000

    /// One transformer block.
    struct Layer: @unchecked Sendable {
        var attnNorm: UnsafePointer<Float>      // (dim)  blk.N.attn_norm.weight
        var attention: AttentionWeights         //        blk.N.attn_{q,k,v,output}.weight, attn_{q,k}_norm.weight (headDim)
        var postAttnNorm: UnsafePointer<Float>  // (dim)  blk.N.post_attention_norm.weight
        var ffnNorm: UnsafePointer<Float>       // (dim)  blk.N.ffn_norm.weight
        var ffn: FeedForwardWeights             //        blk.N.ffn_{gate,up,down}.weight
        var postFFNNorm: UnsafePointer<Float>   // (dim)  blk.N.post_ffw_norm.weight
    }

    let shared: SharedWeights                   // token_embd.weight (also the tied head), output_norm.weight
    let layers: [Layer]
    /// √dim, as f32 (llama.cpp: `ggml_scale(inpL, sqrtf(n_embd))`).
    let embeddingScale: Float
    /// Applied to Q after RoPE: 1/√head_dim (llama.cpp's `f_attention_scale`; the 27B model's
    /// query_pre_attn_scalar differs and is not supported here).
    let queryScale: Float

    /// `gemma3.*` keys. Required beyond the common ones: `attention.sliding_window`. Defaults: rms epsilon
    /// 1e-6, the layer pattern above. RoPE scaling (the 4B+ models' linear factor 8) is refused.
    static func config(metadata m: GGUFMetadata, vocabularySize: Int) throws -> ModelConfig {
        var c = try ModelConfig(metadata: m, architecture: name, vocabularySize: vocabularySize, defaultEpsilon: 1e-6)
        let windowKey = GGUFKey.slidingWindow(name)
        guard let window = try? m.int(windowKey) else {
            throw InferenceError.invalidHyperparameter("'\(windowKey)' is missing (Gemma 3 needs its sliding-window size)")
        }
        guard window > 0 else { throw InferenceError.invalidHyperparameter("'\(windowKey)' is \(window)") }
        if let factor = try? m.float(GGUFKey.ropeScalingFactor(name)), factor != 1 {
            throw InferenceError.invalidHyperparameter("'\(GGUFKey.ropeScalingFactor(name))' is \(factor): RoPE scaling is not supported (Gemma 3 270M/1B have none)")
        }
        c.ropeNeoX = true
        c.attentionLayers = (0..<c.blockCount).map { l in
            l % slidingWindowPattern < slidingWindowPattern - 1
                ? AttentionLayerConfig(window: window, ropeFreqBase: slidingRopeFreqBase)
                : AttentionLayerConfig(window: nil, ropeFreqBase: c.ropeFreqBase)
        }
        return c
    }

    init(file: GGUFFile, config c: ModelConfig) throws {
        let w = TensorLookup(file: file)
        let dim = c.embeddingLength
        let embd = try w.tensor("token_embd.weight", shape: [dim, c.vocabularySize])
        var layers: [Layer] = []
        for i in 0..<c.blockCount {
            let p = "blk.\(i)."
            layers.append(Layer(attnNorm: try w.vector(p + "attn_norm.weight", count: dim),
                                attention: try AttentionWeights(w, layer: i, config: c, qkNorm: true),
                                postAttnNorm: try w.vector(p + "post_attention_norm.weight", count: dim),
                                ffnNorm: try w.vector(p + "ffn_norm.weight", count: dim),
                                ffn: try FeedForwardWeights(w, layer: i, config: c),
                                postFFNNorm: try w.vector(p + "post_ffw_norm.weight", count: dim)))
        }
        self.layers = layers
        shared = SharedWeights(tokenEmbedding: embd, outputNorm: try w.vector("output_norm.weight", count: dim),
                               output: try w.outputHead(tokenEmbedding: embd, config: c),
                               layerMatrices: layers.map { $0.attention.matrices + $0.ffn.matrices })
        embeddingScale = Float(dim).squareRoot()
        queryScale = 1 / Float(c.headDim).squareRoot()
    }

    func forward(_ g: ForwardPass) {
        let n = g.rows
        var rows = n
        g.embed(scale: embeddingScale)
        for (l, L) in layers.enumerated() {
            g.norm(g.x, L.attnNorm, into: g.xn, rows: n, tap: "attn_norm-\(l)")
            g.selfAttention(layer: l, L.attention, queryScale: queryScale, kqScale: 1)
            if l == layers.count - 1 { rows = g.keepOutputRows() }
            g.norm(g.proj, L.postAttnNorm, into: g.proj, rows: rows, tap: "attn_post_norm-\(l)")
            g.addResidual(rows: rows)
            g.tap("ffn_inp-\(l)", g.x, rows * g.c.embeddingLength)
            g.norm(g.x, L.ffnNorm, into: g.xn, rows: rows, tap: "ffn_norm-\(l)")
            if rows > 0 { g.feedForward(layer: l, L.ffn, .gelu, rows: rows) }
            g.norm(g.proj, L.postFFNNorm, into: g.proj, rows: rows, tap: "ffn_post_norm-\(l)")
            g.addResidual(rows: rows)
            g.endLayer(l, rows: rows)
        }
        g.outputHead(rows: rows)
    }
}
