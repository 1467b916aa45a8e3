// Built-in device profiles (memory caps) and the memory formula the lifecycle uses. The table itself lives in
// DeviceProfiles (DeviceProfile.builtIns, shared with Inference's MemoryBudget); this file only projects it.

import DeviceProfiles
import GGUF
import Inference

/// A built-in device class: a memory cap plus the context and prefill batch a model is sized for on it.
public struct DeviceMemoryProfile: Sendable, Hashable, Codable {
    /// Stable name used in manifests (`minimumMemory` keys) and on the command line.
    public let name: String
    /// Bytes the engine may use on this device class.
    public let memoryCap: Int
    /// Context length the KV cache is sized for (capped by the model's own context length).
    public let contextLength: Int
    /// Prefill batch the scratch buffers are sized for.
    public let batch: Int
    /// Where the weights live: all resident, or streamed layer by layer (only a window stays resident).
    public let residency: WeightResidency

    public init(name: String, memoryCap: Int, contextLength: Int, batch: Int, residency: WeightResidency = .resident) {
        self.name = name
        self.memoryCap = memoryCap
        self.contextLength = contextLength
        self.batch = batch
        self.residency = residency
    }

    /// The cap, context, batch and weight residency of a ``DeviceProfile``.
    public init(_ p: DeviceProfile) {
        self.init(name: p.name, memoryCap: p.memoryCap, contextLength: p.contextLength, batch: p.batch,
                  residency: p.residency)
    }

    public static let wearable = DeviceMemoryProfile(.wearable)
    public static let phoneLow = DeviceMemoryProfile(.phoneLow)
    public static let phone = DeviceMemoryProfile(.phone)
    public static let laptop = DeviceMemoryProfile(.laptop)
    public static let edgeServer = DeviceMemoryProfile(.edgeServer)

    /// Every built-in profile, smallest first.
    public static let all: [DeviceMemoryProfile] = [wearable, phoneLow, phone, laptop, edgeServer]

    /// The built-in profile called `name`, or nil.
    public static func named(_ name: String) -> DeviceMemoryProfile? { all.first { $0.name == name } }
}

/// The model shape numbers the memory formula needs (read from GGUF metadata).
public struct ModelShape: Sendable, Equatable {
    public var weightBytes: Int
    public var layers: Int
    public var contextLength: Int
    public var embedding: Int
    public var feedForward: Int
    public var heads: Int
    public var kvHeads: Int
    public var keyLength: Int
    public var valueLength: Int
    public var vocabulary: Int
    /// Bytes of the largest `blk.N.*` layer.
    public var largestLayerBytes: Int
    /// Rows and bytes per row of the output head (`output.weight`, or the tied `token_embd.weight`).
    public var outputRows: Int
    public var outputRowBytes: Int
    /// Bytes per row of the token embedding.
    public var embeddingRowBytes: Int
    /// Each layer's sliding window (nil = global), from the architecture's own hyperparameter reader; all
    /// empty when the architecture is not one EdgeLM runs (every layer then counts as global: an upper bound).
    public var slidingWindows: [Int?]

    /// Reads the shape of an architecture-`arch` model; missing hyperparameters count as 0 (the estimate is
    /// then weights-dominated, still a lower bound).
    /// - Throws: ``LifecycleError/unreadableModel(_:)`` when a key has the wrong type.
    public init(file: GGUFFile) throws {
        let m = file.metadata
        do {
            let arch = try m.string(GGUFKey.architecture)
            func int(_ key: (String) -> String) throws -> Int? { try m.optionalInt(key(arch)) }
            weightBytes = file.tensorBytes
            layers = try int(GGUFKey.blockCount) ?? 0
            contextLength = try int(GGUFKey.contextLength) ?? 0
            embedding = try int(GGUFKey.embeddingLength) ?? 0
            feedForward = try int(GGUFKey.feedForwardLength) ?? 0
            heads = try int(GGUFKey.headCount) ?? 0
            kvHeads = try int(GGUFKey.headCountKV) ?? heads
            keyLength = try int(GGUFKey.keyLength) ?? (heads > 0 ? embedding / heads : 0)
            valueLength = try int(GGUFKey.valueLength) ?? keyLength
            vocabulary = m.contains(GGUFKey.tokens) ? try m.arrayCount(GGUFKey.tokens) : (try int(GGUFKey.vocabSize) ?? 0)
        } catch {
            throw LifecycleError.unreadableModel("\(error)")
        }
        var layerBytes: [Int: Int] = [:]
        for t in file.tensors where t.name.hasPrefix("blk.") {
            if let l = Int(t.name.dropFirst(4).prefix { $0 != "." }) { layerBytes[l, default: 0] += t.byteCount }
        }
        largestLayerBytes = layerBytes.values.max() ?? 0
        slidingWindows = (try? ModelConfig(file: file))?.slidingWindows ?? []
        let embedding = file.tensors.first { $0.name == "token_embd.weight" }
        let head = file.tensors.first { $0.name == "output.weight" } ?? embedding
        outputRows = head?.rows ?? 0
        outputRowBytes = head.map { $0.rows > 0 ? $0.byteCount / $0.rows : 0 } ?? 0
        embeddingRowBytes = embedding.map { $0.rows > 0 ? $0.byteCount / $0.rows : 0 } ?? 0
    }

    /// Weight bytes resident at the peak of a streamed forward pass. Mirrors Inference's `WeightStreamer.window`
    /// (ModelLifecycle does not depend on Inference, and manifests are also made for files it cannot load):
    ///
    ///     min(all weights, max(largest layer, output-head chunk) + 2 × 2 MiB)
    ///
    /// with head chunks of `max(4, min(2 MiB / row bytes, ⌈rows / 16⌉ · 4))` rows, multiples of 4. The 2 × 2 MiB
    /// are the page-cache folios a read fault can map whole past either end of a range (Linux ≥ 6.18).
    public var streamedWeightBytes: Int {
        var chunkRows = 0
        if outputRowBytes > 0 {
            let byBytes = (2 << 20) / outputRowBytes / 4 * 4
            let byCount = (outputRows + 15) / 16 * 4
            chunkRows = max(4, min(byBytes, byCount))
        }
        let largest = max(largestLayerBytes, mul([chunkRows, outputRowBytes]))
        return min(weightBytes, add([largest, 2 * ModelShape.streamingFolioBytes]))
    }

    /// The largest block a read fault maps at once on a file mapping: a 2 MiB page-cache folio.
    public static let streamingFolioBytes = 2 << 20

    /// Minimum bytes to run this model on `profile`:
    ///
    ///     weights      all tensor bytes (resident), or ``streamedWeightBytes`` (streamed profiles)
    ///     + KV cache   Σ_layers positions × n_kv × (k_dim + v_dim) × 2     (f16 K and V; positions = ctx
    ///                  padded to 32 on global layers, window + batch in whole pages on sliding-window layers,
    ///                  as Inference's `ModelConfig.kvCacheBytes`)
    ///     + scratch    4 × (B × (3·n_embd + n_head·k_dim + n_kv·(k_dim+v_dim) + 2·n_ff) + n_head·ctx + n_vocab)
    ///
    /// with `ctx = min(profile.contextLength, model context)` and `B = profile.batch` (the same scratch
    /// formula as `edgelm inspect`). Saturates at `Int.max` instead of overflowing.
    public func minimumMemory(on profile: DeviceMemoryProfile) -> Int {
        let ctx = contextLength > 0 ? min(profile.contextLength, contextLength) : profile.contextLength
        let kv = mul([kvPositions(contextLength: ctx, batch: profile.batch), kvHeads, keyLength + valueLength, 2])
        let perToken = 3 * embedding + heads * keyLength + kvHeads * (keyLength + valueLength) + 2 * feedForward
        let scratch = mul([4, add([mul([profile.batch, perToken]), mul([heads, ctx]), vocabulary])])
        let weights = profile.residency == .streamed ? streamedWeightBytes : weightBytes
        return add([weights, kv, scratch, Self.processBaselineBytes])
    }

    /// Positions the KV cache keeps over all layers for a context and prefill batch (Inference's per-layer
    /// capacities: the padded context, or a sliding window's ring).
    public func kvPositions(contextLength ctx: Int, batch: Int) -> Int {
        guard slidingWindows.count == layers, slidingWindows.contains(where: { $0 != nil }) else {
            return mul([layers, (ctx + 31) / 32 * 32])
        }
        return ModelConfig.kvPositions(windows: slidingWindows, contextLength: ctx, batch: batch)
    }

    /// The process's own resident baseline (Swift runtime, Foundation, code pages), counted like
    /// `MemoryBudget.defaultRuntimeBytes` in Inference (this module does not depend on Inference), so a manifest
    /// written through this API states the same minimum as `edgelm manifest create`.
    public static let processBaselineBytes = 28 << 20

    private func mul(_ xs: [Int]) -> Int {
        xs.reduce(1) { a, b in let (r, o) = a.multipliedReportingOverflow(by: b); return o ? Int.max : r }
    }
    private func add(_ xs: [Int]) -> Int {
        xs.reduce(0) { a, b in let (r, o) = a.addingReportingOverflow(b); return o ? Int.max : r }
    }
}

/// What this engine can run: the architectures and tensor types of the compatibility check.
public enum Compatibility {
    /// Architectures with a forward pass in Inference (its ``ArchitectureRegistry``).
    public static var supportedArchitectures: Set<String> { Set(ArchitectureRegistry.names) }
    /// Tensor types with kernels in Kernels.
    public static let supportedTensorTypes: Set<GGMLType> = [
        .f32, .f16, .bf16, .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q2_K, .q3_K, .q4_K, .q5_K, .q6_K,
    ]
    /// `supportedTensorTypes` by ggml name (`"Q4_1"`).
    public static var supportedTypeNames: Set<String> { Set(supportedTensorTypes.map(\.name)) }
}
