// `edgelm inspect`: what a GGUF model is and what it needs to run, without touching tensor pages.

import ArgumentParser
import EdgeLM
import EdgeLMCommandSupport
import EdgeLMEssentials

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show a GGUF model's architecture, hyperparameters, tokenizer, tensors and memory needs.",
        discussion: """
            Memory is what a session with the default options needs (context min(trained, 4096), f16 KV cache, \
            64-token prefill batch, all cores): Session.memoryRequirement, the figure budgets and profiles enforce \
            (sliding-window layers count their ring, not the context). Reads the header, metadata and tokenizer; \
            tensor data is not touched. Files EdgeLM cannot load report their metadata and no memory figure.
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
    /// What a default session needs (nil when the file cannot be loaded as a model; `memoryNote` says why).
    let memory: MemoryBreakdown?
    let memoryOptions: SessionOptions
    let memoryNote: String?
    let slidingWindowLayers: Int

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

        // The memory figure is the one sessions enforce, on the model as the engine loads it.
        memoryOptions = SessionOptions(contextLength: contextLength.map { min($0, 4096) })
        do {
            let model = try Model(path: file.path)
            memory = try Session.memoryRequirement(model: model, options: memoryOptions)
            memoryNote = nil
            slidingWindowLayers = model.config.slidingWindows.filter { $0 != nil }.count
        } catch {
            memory = nil
            memoryNote = "\(error)"
            slidingWindowLayers = 0
        }
    }

    private static func json(_ v: Int?) -> Any { v.map { $0 as Any } ?? JSONValue.null }
    private static func json(_ v: String?) -> Any { v ?? JSONValue.null }
    private static func json(_ v: Float?) -> Any { v.map { $0 as Any } ?? JSONValue.null }

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
            "tensor_bytes": weightBytes,
            "memory_context": Self.json(memory == nil ? nil : memoryOptions.contextLength),
            "memory_bytes": memory.map { m -> Any in
                ["weights": m.weights, "kv_cache": m.kvCache, "scratch": m.scratch, "tokenizer": m.tokenizer,
                 "threads": m.threadStacks, "runtime": m.runtime, "total": m.total] as [String: Any]
            } ?? JSONValue.null,
            "memory_note": Self.json(memoryNote),
        ]
        return JSONValue(document: object).prettyText
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
        return u == 0 ? "\(n) B" : String(printf: "%.1f", v) + " \(units[u]) (\(n) bytes)"
    }

    private static func show(_ v: Int?) -> String { v.map(String.init) ?? "unknown" }
    private static func show(_ v: Float?) -> String { v.map { "\($0)" } ?? "unknown" }

    /// Human-readable report.
    func text() -> String {
        let params = parameters >= 1_000_000
            ? String(printf: "%.2f", Double(parameters) / 1e6) + " M (\(parameters))" : String(parameters)
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
            \(memoryText(trainedContext: ctx))
            """
    }

    /// The memory section: a default session's requirement, or why there is none.
    private func memoryText(trainedContext: String) -> String {
        guard let m = memory else {
            return "memory        unknown: \(memoryNote ?? "the model cannot be loaded")\n  tensor data \(Self.bytes(weightBytes))"
        }
        let ctx = memoryOptions.contextLength.map(String.init) ?? "?"
        let kvNote = slidingWindowLayers > 0
            ? "f16 K and V; \(slidingWindowLayers) sliding-window layers keep only their window"
            : "f16 K and V, every layer at the full context"
        return """
            memory of a default session (context \(ctx) of \(trainedContext), \(memoryOptions.threads) threads; what budgets enforce)
              weights    \(Self.bytes(m.weights))
              KV cache   \(Self.bytes(m.kvCache))  (\(kvNote))
              scratch    \(Self.bytes(m.scratch))  (activations, \(memoryOptions.batchSize)-token batch)
              tokenizer  \(Self.bytes(m.tokenizer))
              threads    \(Self.bytes(m.threadStacks))
              runtime    \(Self.bytes(m.runtime))
              total      \(Self.bytes(m.total))
            """
    }
}
