// `edgelm inspect`: what a GGUF model is and what it needs to run, without touching tensor pages.

import ArgumentParser
import EdgeLM
import Foundation

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show a GGUF model's architecture, hyperparameters, tokenizer, tensors and memory needs.",
        discussion: """
            Memory is estimated at the model's default context length: weights (sum of tensor bytes) + an f16 KV \
            cache + activation scratch for a 512-token batch. Reads only the header; tensor data is not touched.
            """
    )

    @Argument(help: "Path to a .gguf file (default: $EDGELM_MODEL or weights/smollm2-135m-instruct-q4_1.gguf).")
    var path: String?

    @Option(name: .long, help: "Path to a .gguf file (same as PATH).")
    var model: String?

    @Flag(name: .long, help: "Print one JSON document instead of text.")
    var json = false

    func validate() throws {
        if let path, let model, path != model {
            throw ValidationError("give the model either as PATH or as --model, not both")
        }
    }

    func run() throws {
        let resolved = path ?? model ?? ProcessInfo.processInfo.environment["EDGELM_MODEL"]
            ?? "weights/smollm2-135m-instruct-q4_1.gguf"
        // A GGUFError reaches the entry point, which prints it as every command does (`Error: …; hint: …`).
        let summary = try ModelSummary(file: GGUFFile(path: resolved))
        print(json ? try summary.jsonString() : summary.text())
    }
}

/// Everything `inspect` reports, computed from the header and tensor table only.
struct ModelSummary {
    let path: String
    let version: UInt32
    let fileBytes: Int
    let architecture: String?
    let name: String?
    let parameters: Int
    let tensorCount: Int
    let tensorTypes: [String: Int]  // ggml type name → tensor count
    let contextLength: Int?
    let embeddingLength: Int?
    let blockCount: Int?
    let feedForwardLength: Int?
    let headCount: Int?
    let headCountKV: Int?
    let keyLength: Int?  // per-head K width (attention.key_length, else embedding / heads)
    let valueLength: Int?  // per-head V width (attention.value_length, else keyLength)
    let ropeFreqBase: Float?
    let rmsEpsilon: Float?
    let tokenizerModel: String?
    let tokenizerPre: String?
    let vocabSize: Int?
    let weightBytes: Int
    let kvCacheBytes: Int?
    let scratchBytes: Int?

    /// Prefill batch the scratch estimate assumes (llama.cpp's default n_ubatch).
    static let scratchBatch = 512

    init(file: GGUFFile) throws {
        let m = file.metadata
        // Absent keys are reported as unknown; a key with the wrong value type is an error.
        let arch = try m.optionalString(GGUFKey.architecture)
        func archInt(_ key: (String) -> String) throws -> Int? { try arch.flatMap { try m.optionalInt(key($0)) } }
        func archFloat(_ key: (String) -> String) throws -> Float? { try arch.flatMap { try m.optionalFloat(key($0)) } }

        path = file.path
        version = file.version
        fileBytes = file.fileSize
        architecture = arch
        name = try m.optionalString(GGUFKey.name)
        parameters = file.parameterCount
        tensorCount = file.tensors.count
        var types: [String: Int] = [:]
        for t in file.tensors { types[t.type.name, default: 0] += 1 }
        tensorTypes = types
        contextLength = try archInt(GGUFKey.contextLength)
        embeddingLength = try archInt(GGUFKey.embeddingLength)
        blockCount = try archInt(GGUFKey.blockCount)
        feedForwardLength = try archInt(GGUFKey.feedForwardLength)
        headCount = try archInt(GGUFKey.headCount)
        headCountKV = try archInt(GGUFKey.headCountKV) ?? headCount
        var k = try archInt(GGUFKey.keyLength)
        if k == nil, let e = embeddingLength, let h = headCount, h > 0 { k = e / h }
        keyLength = k
        valueLength = try archInt(GGUFKey.valueLength) ?? k
        ropeFreqBase = try archFloat(GGUFKey.ropeFreqBase)
        rmsEpsilon = try archFloat(GGUFKey.layerNormRMSEpsilon)
        tokenizerModel = try m.optionalString(GGUFKey.tokenizerModel)
        tokenizerPre = try m.optionalString(GGUFKey.tokenizerPre)
        vocabSize = m.contains(GGUFKey.tokens) ? try m.arrayCount(GGUFKey.tokens) : try archInt(GGUFKey.vocabSize)
        weightBytes = file.tensorBytes

        // KV cache, f16 K and V for every layer at the full default context:
        //   n_layer × ctx × n_kv_heads × (key_length + value_length) × 2 bytes
        // (= 2 × n_layer × ctx × n_kv_heads × head_dim × 2 when K and V widths agree). Sliding-window layers
        // are counted at full context: an upper bound.
        if let l = blockCount, let c = contextLength, let kv = headCountKV, let kd = keyLength, let vd = valueLength {
            kvCacheBytes = ModelSummary.sum([kd, vd]).flatMap { ModelSummary.product([l, c, kv, $0, 2]) }
        } else {
            kvCacheBytes = nil
        }
        // Scratch: f32 activations for a prefill batch B = 512 tokens plus one row of attention scores per head
        // over the whole context and one row of logits:
        //   4 × (B × (3·n_embd + n_head·k_dim + n_kv·(k_dim + v_dim) + 2·n_ff) + n_head·ctx + n_vocab)
        // (x, residual and norm buffers; Q, K, V; FFN gate and up). Quantized activation copies are smaller
        // than these f32 buffers and reuse them, so they are not added.
        if let e = embeddingLength, let h = headCount, let kv = headCountKV, let kd = keyLength, let vd = valueLength,
            let ff = feedForwardLength, let c = contextLength
        {
            // Every term is file-derived: overflow-checked (a hostile header must not trap `inspect`).
            let perToken = ModelSummary.sum([ModelSummary.product([3, e]), ModelSummary.product([h, kd]),
                                             ModelSummary.sum([kd, vd]).flatMap { ModelSummary.product([kv, $0]) },
                                             ModelSummary.product([2, ff])])
            let vocab = vocabSize ?? 0
            if let perToken, let batch = ModelSummary.product([ModelSummary.scratchBatch, perToken]),
                let scores = ModelSummary.product([h, c]), let all = ModelSummary.sum([batch, scores, vocab])
            {
                scratchBytes = ModelSummary.product([all, 4])
            } else {
                scratchBytes = nil
            }
        } else {
            scratchBytes = nil
        }
    }

    /// Sum of non-negative terms, nil on overflow or when a term is nil or negative.
    static func sum(_ terms: [Int?]) -> Int? {
        var s = 0
        for t in terms {
            guard let t, t >= 0 else { return nil }
            let (r, o) = s.addingReportingOverflow(t)
            if o { return nil }
            s = r
        }
        return s
    }

    /// Product of non-negative factors, nil on overflow (values come from an untrusted file).
    static func product(_ factors: [Int]) -> Int? {
        var p = 1
        for f in factors {
            guard f >= 0 else { return nil }
            let (m, o) = p.multipliedReportingOverflow(by: f)
            if o { return nil }
            p = m
        }
        return p
    }

    var totalBytes: Int? {
        guard let kv = kvCacheBytes, let s = scratchBytes else { return nil }
        let (a, o1) = weightBytes.addingReportingOverflow(kv)
        let (b, o2) = a.addingReportingOverflow(s)
        return o1 || o2 ? nil : b
    }

    private static func json(_ v: Int?) -> Any { v.map { NSNumber(value: $0) } ?? NSNull() }
    private static func json(_ v: String?) -> Any { v ?? NSNull() }
    private static func json(_ v: Float?) -> Any { v.map { NSNumber(value: Double("\($0)") ?? Double($0)) } ?? NSNull() }

    /// One JSON document with sorted keys.
    func jsonString() throws -> String {
        let object: [String: Any] = [
            "path": path,
            "gguf_version": Int(version),
            "file_bytes": fileBytes,
            "architecture": Self.json(architecture),
            "name": Self.json(name),
            "parameters": parameters,
            "tensor_count": tensorCount,
            "tensor_types": tensorTypes,
            "context_length": Self.json(contextLength),
            "embedding_length": Self.json(embeddingLength),
            "block_count": Self.json(blockCount),
            "feed_forward_length": Self.json(feedForwardLength),
            "head_count": Self.json(headCount),
            "head_count_kv": Self.json(headCountKV),
            "key_length": Self.json(keyLength),
            "value_length": Self.json(valueLength),
            "rope_freq_base": Self.json(ropeFreqBase),
            "rms_epsilon": Self.json(rmsEpsilon),
            "tokenizer_model": Self.json(tokenizerModel),
            "tokenizer_pre": Self.json(tokenizerPre),
            "vocab_size": Self.json(vocabSize),
            "memory_bytes": [
                "weights": weightBytes,
                "kv_cache": Self.json(kvCacheBytes),
                "scratch": Self.json(scratchBytes),
                "total": Self.json(totalBytes),
            ] as [String: Any],
        ]
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes])
        return String(decoding: data, as: UTF8.self)
    }

    private static func bytes(_ n: Int?) -> String {
        guard let n else { return "unknown" }
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var v = Double(n)
        var u = 0
        while v >= 1024, u < units.count - 1 {
            v /= 1024
            u += 1
        }
        return u == 0 ? "\(n) B" : String(format: "%.1f", v) + " \(units[u]) (\(n) bytes)"
    }

    private static func show(_ v: Int?) -> String { v.map(String.init) ?? "unknown" }
    private static func show(_ v: Float?) -> String { v.map { "\($0)" } ?? "unknown" }

    /// Human-readable report.
    func text() -> String {
        let params = parameters >= 1_000_000
            ? String(format: "%.2f", Double(parameters) / 1e6) + " M (\(parameters))" : String(parameters)
        let types = tensorTypes.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        // File-derived strings are quoted (control bytes escaped, length capped) before reaching the terminal.
        func q(_ s: String?, _ fallback: String) -> String { s.map { SafeText.quote($0, limit: 128) } ?? fallback }
        var tokenizer = q(tokenizerModel, "none")
        if let pre = tokenizerPre { tokenizer += " (pre: \(q(pre, "")))" }
        let ctx = contextLength.map(String.init) ?? "?"
        return """
            file          \(q(path, "")) — \(Self.bytes(fileBytes)), GGUF v\(version)
            architecture  \(q(architecture, "unknown"))
            name          \(q(name, "unknown"))
            parameters    \(params)
            hyperparameters
              context length       \(Self.show(contextLength))
              embedding length     \(Self.show(embeddingLength))
              blocks               \(Self.show(blockCount))
              feed-forward length  \(Self.show(feedForwardLength))
              heads                \(Self.show(headCount)) (KV heads \(Self.show(headCountKV)), \
            head dim K \(Self.show(keyLength)) / V \(Self.show(valueLength)))
              rope freq base       \(Self.show(ropeFreqBase))
              rms norm epsilon     \(Self.show(rmsEpsilon))
            tokenizer     \(tokenizer), vocabulary \(Self.show(vocabSize))
            tensors       \(tensorCount): \(types)
            memory at context \(ctx)
              weights   \(Self.bytes(weightBytes))
              KV cache  \(Self.bytes(kvCacheBytes))  (f16 K and V, every layer at full context)
              scratch   \(Self.bytes(scratchBytes))  (f32 activations, \(Self.scratchBatch)-token batch)
              total     \(Self.bytes(totalBytes))
            """
    }
}
