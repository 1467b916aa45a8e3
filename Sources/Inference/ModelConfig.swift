import GGUF

/// Hyperparameters of a decoder-only transformer, read from GGUF metadata.
///
/// Field names follow the GGUF keys (`{arch}.embedding_length` → ``embeddingLength`` …).
public struct ModelConfig: Codable, Sendable, Equatable {
    public var architecture: String
    public var vocabularySize: Int
    public var contextLength: Int
    public var embeddingLength: Int          // dim
    public var blockCount: Int               // layers
    public var feedForwardLength: Int        // hidden dim of the FFN
    public var headCount: Int
    public var headCountKV: Int
    public var headDim: Int                  // key_length (defaults to dim / heads)
    public var valueDim: Int                 // value_length (defaults to headDim)
    public var ropeDimensionCount: Int
    public var ropeFreqBase: Float
    public var rmsNormEpsilon: Float

    /// Width of the K (and V) rows of one token in one layer: `headCountKV * headDim`.
    public var kvDim: Int { headCountKV * headDim }
    /// Width of the concatenated query heads: `headCount * headDim`.
    public var qDim: Int { headCount * headDim }

    /// Reads the configuration for `architecture` from `metadata`.
    /// - Throws: ``InferenceError/invalidHyperparameter(_:)`` when a value is missing or inconsistent.
    public init(metadata: GGUFMetadata, architecture arch: String, vocabularySize: Int) throws {
        func int(_ key: String) throws -> Int {
            guard let v = try? metadata.int(key) else { throw InferenceError.invalidHyperparameter("'\(key)' is missing") }
            return v
        }
        self.architecture = arch
        self.vocabularySize = vocabularySize
        contextLength = try int("\(arch).context_length")
        embeddingLength = try int("\(arch).embedding_length")
        blockCount = try int("\(arch).block_count")
        feedForwardLength = try int("\(arch).feed_forward_length")
        headCount = try int("\(arch).attention.head_count")
        headCountKV = (try? metadata.int("\(arch).attention.head_count_kv")) ?? headCount
        guard headCount > 0, headCountKV > 0, headCount % headCountKV == 0 else {
            throw InferenceError.invalidHyperparameter("head_count \(headCount) must be a positive multiple of head_count_kv \(headCountKV)")
        }
        headDim = (try? metadata.int("\(arch).attention.key_length")) ?? (embeddingLength / headCount)
        valueDim = (try? metadata.int("\(arch).attention.value_length")) ?? headDim
        ropeDimensionCount = (try? metadata.int("\(arch).rope.dimension_count")) ?? headDim
        ropeFreqBase = (try? metadata.float("\(arch).rope.freq_base")) ?? 10_000
        rmsNormEpsilon = (try? metadata.float("\(arch).attention.layer_norm_rms_epsilon")) ?? 1e-5
        for (name, v) in [("context_length", contextLength), ("embedding_length", embeddingLength),
                          ("block_count", blockCount), ("feed_forward_length", feedForwardLength),
                          ("key_length", headDim), ("vocab_size", vocabularySize)] where v <= 0 {
            throw InferenceError.invalidHyperparameter("\(arch).\(name) is \(v)")
        }
        guard valueDim == headDim else {
            throw InferenceError.invalidHyperparameter("value_length \(valueDim) != key_length \(headDim) is not supported")
        }
        guard ropeDimensionCount <= headDim, ropeDimensionCount % 2 == 0 else {
            throw InferenceError.invalidHyperparameter("rope.dimension_count \(ropeDimensionCount) must be even and ≤ head dim \(headDim)")
        }
    }
}
