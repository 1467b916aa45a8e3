import GGUF

/// Attention settings of one layer.
public struct AttentionLayerConfig: Codable, Sendable, Equatable {
    /// Sliding-window size (a position sees itself and the `window − 1` before it); nil = global attention.
    public var window: Int?
    /// RoPE base frequency of this layer.
    public var ropeFreqBase: Float

    public init(window: Int?, ropeFreqBase: Float) { self.window = window; self.ropeFreqBase = ropeFreqBase }

    /// The first position a token at `position` attends to: 0 on a global layer, `position − window + 1` (at
    /// least 0) on a sliding-window layer.
    @inline(__always)
    public func firstVisible(from position: Int) -> Int { window.map { max(0, position - $0 + 1) } ?? 0 }
}

/// Hyperparameters of a decoder-only transformer, read from GGUF metadata by its architecture
/// (`Architectures/<Arch>.swift`), which sets what the common keys do not say (per-layer attention, RoPE
/// ordering).
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
    /// RoPE pairs dimensions (i, i + ropeDim/2) (GPT-NeoX ordering) instead of (2i, 2i + 1).
    public var ropeNeoX: Bool
    /// Each layer's attention (blockCount entries): its sliding window and RoPE base.
    public var attentionLayers: [AttentionLayerConfig]

    /// Width of the K (and V) rows of one token in one layer: `headCountKV * headDim`.
    public var kvDim: Int { headCountKV * headDim }
    /// Width of the concatenated query heads: `headCount * headDim`.
    public var qDim: Int { headCount * headDim }
    /// Each layer's sliding window (nil = global).
    public var slidingWindows: [Int?] { attentionLayers.map(\.window) }

    /// Bytes of the KV cache a session with this context, prefill batch and KV type reserves: every global
    /// layer keeps the context, every sliding-window layer a ring of its window plus one batch (the figure
    /// ``Session/memoryRequirement(model:options:)`` counts; one formula, ``KVCache/bytes(type:kvDim:capacities:)``).
    public func kvCacheBytes(contextLength ctx: Int, batch: Int, type: KVCacheType = .f16) -> Int {
        KVCache.bytes(type: type, kvDim: kvDim, capacities: Self.kvCapacities(windows: slidingWindows, contextLength: ctx, batch: batch))
    }

    /// Positions the KV cache keeps over all layers with these per-layer `windows` (nil = global): the context
    /// padded to 32 on a global layer, a ring of window + batch in whole pages on a sliding-window layer.
    public static func kvPositions(windows: [Int?], contextLength ctx: Int, batch: Int) -> Int {
        kvCapacities(windows: windows, contextLength: ctx, batch: batch).reduce(0, +)
    }

    /// Positions of each layer (``kvPositions(windows:contextLength:batch:)``).
    static func kvCapacities(windows: [Int?], contextLength ctx: Int, batch: Int) -> [Int] {
        KVCache.capacities(windows: windows, batch: max(1, min(batch, ctx)), ctxPad: KVCache.paddedContext(ctx))
    }

    /// Reads the hyperparameters of a file of a supported architecture (its `{arch}.*` keys, as
    /// ``Model/init(path:)`` does) without loading the model.
    /// - Throws: ``InferenceError/unsupportedArchitecture(_:)``, ``InferenceError/invalidHyperparameter(_:)``.
    public init(file: GGUFFile) throws {
        self = try ArchitectureRegistry.resolve(file).config
    }

    /// Reads the keys every architecture shares for `architecture` from `metadata`; every layer is global
    /// with `rope.freq_base` and normal RoPE ordering until the architecture says otherwise.
    /// - Throws: ``InferenceError/invalidHyperparameter(_:)`` when a value is missing or inconsistent.
    public init(metadata: GGUFMetadata, architecture arch: String, vocabularySize: Int, defaultEpsilon: Float = 1e-5) throws {
        func int(_ key: (String) -> String) throws -> Int {
            guard let v = try? metadata.int(key(arch)) else { throw InferenceError.invalidHyperparameter("'\(key(arch))' is missing") }
            return v
        }
        func optionalInt(_ key: (String) -> String) -> Int? { try? metadata.int(key(arch)) }
        self.architecture = arch
        self.vocabularySize = vocabularySize
        contextLength = try int(GGUFKey.contextLength)
        embeddingLength = try int(GGUFKey.embeddingLength)
        blockCount = try int(GGUFKey.blockCount)
        feedForwardLength = try int(GGUFKey.feedForwardLength)
        headCount = try int(GGUFKey.headCount)
        headCountKV = optionalInt(GGUFKey.headCountKV) ?? headCount
        guard headCount > 0, headCountKV > 0, headCount % headCountKV == 0 else {
            throw InferenceError.invalidHyperparameter("head_count \(headCount) must be a positive multiple of head_count_kv \(headCountKV)")
        }
        headDim = optionalInt(GGUFKey.keyLength) ?? (embeddingLength / headCount)
        valueDim = optionalInt(GGUFKey.valueLength) ?? headDim
        ropeDimensionCount = optionalInt(GGUFKey.ropeDimensionCount) ?? headDim
        ropeFreqBase = (try? metadata.float(GGUFKey.ropeFreqBase(arch))) ?? 10_000
        rmsNormEpsilon = (try? metadata.float(GGUFKey.layerNormRMSEpsilon(arch))) ?? defaultEpsilon
        ropeNeoX = false
        for (name, v) in [("context_length", contextLength), ("embedding_length", embeddingLength),
                          ("block_count", blockCount), ("feed_forward_length", feedForwardLength),
                          ("key_length", headDim), ("vocab_size", vocabularySize)] where v <= 0 {
            throw InferenceError.invalidHyperparameter("\(arch).\(name) is \(v)")
        }
        // Per-layer tables are sized from block_count: bound it before anything allocates from it.
        guard blockCount <= ModelConfig.Limits.maxBlockCount else {
            throw InferenceError.invalidHyperparameter("\(arch).block_count is \(blockCount) (at most \(ModelConfig.Limits.maxBlockCount))")
        }
        guard valueDim == headDim else {
            throw InferenceError.invalidHyperparameter("value_length \(valueDim) != key_length \(headDim) is not supported")
        }
        guard ropeDimensionCount <= headDim, ropeDimensionCount % 2 == 0 else {
            throw InferenceError.invalidHyperparameter("rope.dimension_count \(ropeDimensionCount) must be even and ≤ head dim \(headDim)")
        }
        attentionLayers = Array(repeating: AttentionLayerConfig(window: nil, ropeFreqBase: ropeFreqBase), count: blockCount)
    }
}
