// The weights of the shared blocks (attention, feed-forward) that every architecture's graph is composed of,
// what the runtime needs of any architecture's weights, and the tensor lookup the loaders share.
import GGUF
import Kernels

/// Zero-copy views of one self-attention sub-layer's projections (pointers into the model's mapping).
struct AttentionWeights: @unchecked Sendable {
    var wq: WeightMatrix                        // (qDim, dim)
    var wk: WeightMatrix                        // (kvDim, dim)
    var wv: WeightMatrix                        // (kvDim, dim)
    var wo: WeightMatrix                        // (dim, qDim)
    /// Per-head RMSNorm weights of Q and K (Gemma 3, Qwen 3, OLMo 2 …), nil when the architecture has none.
    var qNorm: UnsafePointer<Float>? = nil      // (headDim)
    var kNorm: UnsafePointer<Float>? = nil      // (headDim)

    var matrices: [WeightMatrix] { [wq, wk, wv, wo] }

    /// Reads `blk.{layer}.attn_{q,k,v,output}.weight` (and, with `qkNorm`, `attn_{q,k}_norm.weight`).
    init(_ w: TensorLookup, layer: Int, config c: ModelConfig, qkNorm: Bool = false) throws {
        let p = "blk.\(layer)."
        wq = try w.matrix(p + "attn_q.weight", rows: c.qDim, cols: c.embeddingLength)
        wk = try w.matrix(p + "attn_k.weight", rows: c.kvDim, cols: c.embeddingLength)
        wv = try w.matrix(p + "attn_v.weight", rows: c.kvDim, cols: c.embeddingLength)
        wo = try w.matrix(p + "attn_output.weight", rows: c.embeddingLength, cols: c.qDim)
        if qkNorm {
            qNorm = try w.vector(p + "attn_q_norm.weight", count: c.headDim)
            kNorm = try w.vector(p + "attn_k_norm.weight", count: c.headDim)
        }
    }
}

/// Zero-copy views of one gated feed-forward sub-layer: `down(act(gate · x) ⊙ (up · x))`.
struct FeedForwardWeights: @unchecked Sendable {
    var gate: WeightMatrix                      // (ffn, dim)
    var up: WeightMatrix                        // (ffn, dim)
    var down: WeightMatrix                      // (dim, ffn)

    var matrices: [WeightMatrix] { [gate, up, down] }

    /// Reads `blk.{layer}.ffn_{gate,up,down}.weight`.
    init(_ w: TensorLookup, layer: Int, config c: ModelConfig) throws {
        let p = "blk.\(layer)."
        gate = try w.matrix(p + "ffn_gate.weight", rows: c.feedForwardLength, cols: c.embeddingLength)
        up = try w.matrix(p + "ffn_up.weight", rows: c.feedForwardLength, cols: c.embeddingLength)
        down = try w.matrix(p + "ffn_down.weight", rows: c.embeddingLength, cols: c.feedForwardLength)
    }
}

/// The gate activation of a gated feed-forward block.
enum GatedActivation: Sendable {
    /// SwiGLU: silu(gate) · up (Llama).
    case silu
    /// GeGLU: gelu(gate) · up, llama.cpp's fp16-table GELU (Gemma).
    case gelu
}

/// What the runtime needs of any architecture's weights, whatever its graph: the token embedding (lookups),
/// the output head, and every layer's matrices (scratch sizing, streamed residency).
struct SharedWeights: @unchecked Sendable {
    var tokenEmbedding: GGUFTensor              // (vocab, dim) in its file type; rows dequantized on lookup
    var outputNorm: UnsafePointer<Float>        // (dim)
    var output: WeightMatrix                    // (vocab, dim); the token embedding when tied
    var layerMatrices: [[WeightMatrix]]         // (layers) every matrix of each block

    /// Every matrix the forward pass multiplies by, output head included.
    var allMatrices: [WeightMatrix] { layerMatrices.flatMap { $0 } + [output] }
}

/// Helpers shared by the architecture loaders: tensors by name, checked against the expected shape and type.
struct TensorLookup {
    let file: GGUFFile

    func tensor(_ name: String, shape: [Int]) throws -> GGUFTensor {
        guard let t = file.tensor(named: name) else { throw InferenceError.missingTensor(name) }
        guard t.shape == shape else { throw InferenceError.tensorShapeMismatch(name: name, expected: shape, found: t.shape) }
        return t
    }

    /// An F32 vector of `count` elements (norm weights).
    func vector(_ name: String, count: Int) throws -> UnsafePointer<Float> {
        let t = try tensor(name, shape: [count])
        guard t.type == .f32 else { throw InferenceError.unsupportedTensorType(name: name, type: t.type.name) }
        return t.data.assumingMemoryBound(to: Float.self)
    }

    /// A weight matrix with GGUF shape [cols, rows].
    func matrix(_ name: String, rows: Int, cols: Int) throws -> WeightMatrix {
        let t = try tensor(name, shape: [cols, rows])
        return try matrix(t, rows: rows, cols: cols)
    }

    func matrix(_ t: GGUFTensor, rows: Int, cols: Int) throws -> WeightMatrix {
        do {
            return try WeightMatrix(type: t.type, rows: rows, cols: cols, data: t.data)
        } catch {
            throw InferenceError.unsupportedTensorType(name: t.name, type: t.type.name)
        }
    }

    /// `output.weight` when the file has one, else the token embedding (a tied head).
    func outputHead(tokenEmbedding embd: GGUFTensor, config c: ModelConfig) throws -> WeightMatrix {
        if file.tensor(named: "output.weight") != nil {
            return try matrix("output.weight", rows: c.vocabularySize, cols: c.embeddingLength)      // (vocab, dim)
        }
        return try matrix(embd, rows: c.vocabularySize, cols: c.embeddingLength)                     // tied
    }
}
