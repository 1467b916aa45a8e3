import GGUF
import Kernels

/// Zero-copy views of one transformer block's weights (pointers into the model's mapping).
struct LayerWeights: @unchecked Sendable {
    var attnNorm: UnsafePointer<Float>          // (dim)
    var wq: WeightMatrix                        // (qDim, dim)
    var wk: WeightMatrix                        // (kvDim, dim)
    var wv: WeightMatrix                        // (kvDim, dim)
    var wo: WeightMatrix                        // (dim, qDim)
    var ffnNorm: UnsafePointer<Float>           // (dim)
    var gate: WeightMatrix                      // (ffn, dim)
    var up: WeightMatrix                        // (ffn, dim)
    var down: WeightMatrix                      // (dim, ffn)
    // Gemma 3 extras (nil for Llama).
    var qNorm: UnsafePointer<Float>? = nil      // (headDim)
    var kNorm: UnsafePointer<Float>? = nil      // (headDim)
    var postAttnNorm: UnsafePointer<Float>? = nil  // (dim)
    var postFFNNorm: UnsafePointer<Float>? = nil   // (dim)
    /// Sliding-window size for this layer's attention (nil = global).
    var slidingWindow: Int? = nil
    /// RoPE base frequency for this layer.
    var ropeBase: Float
}

/// Everything a forward pass reads, independent of the architecture that loaded it.
struct TransformerWeights: @unchecked Sendable {
    var tokenEmbedding: GGUFTensor              // (vocab, dim) in its file type; rows dequantized on lookup
    var layers: [LayerWeights]
    var outputNorm: UnsafePointer<Float>        // (dim)
    var output: WeightMatrix                    // (vocab, dim); the token embedding when tied
    /// Multiply embeddings by this (Gemma: sqrt(dim)); 1 for Llama.
    var embeddingScale: Float = 1
    /// FFN activation.
    var activation: Activation = .silu
    /// RoPE pairing.
    var ropeNeoX: Bool = false

    enum Activation: Sendable { case silu, gelu }
}

/// Helpers shared by the architecture loaders.
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

    func optionalVector(_ name: String, count: Int) throws -> UnsafePointer<Float>? {
        file.tensor(named: name) == nil ? nil : try vector(name, count: count)
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
}
