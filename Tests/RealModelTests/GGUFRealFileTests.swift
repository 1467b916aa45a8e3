// GGUF reader on the real model files in weights/ (weights/fetch.sh). Skipped with a message when absent.
// Expected numbers were read independently with gguf-python (gguf.GGUFReader).

import EdgeLM
import Foundation
import Testing

private func modelPath(_ fileName: String) -> String? { RealModel.path(fileName) }

private let smolLM = RealModel.smolLM
private let gemma = RealModel.gemma

private func typeCounts(_ file: GGUFFile) -> [String: Int] {
    var counts: [String: Int] = [:]
    for t in file.tensors { counts[t.type.name, default: 0] += 1 }
    return counts
}

/// Checks every tensor lies in the data section, aligned, in bounds and without overlap.
private func checkTensorLayout(_ file: GGUFFile) {
    var previousEnd = file.dataOffset
    for t in file.tensors.sorted(by: { $0.fileOffset < $1.fileOffset }) {
        #expect(t.fileOffset >= previousEnd, "\(t.name) overlaps")
        #expect((t.fileOffset - file.dataOffset) % file.alignment == 0, "\(t.name) misaligned")
        #expect(t.byteCount == t.type.rowBytes(t.cols).map { $0 * t.rows }, "\(t.name) byte count")
        previousEnd = t.fileOffset + t.byteCount
    }
    #expect(previousEnd <= file.fileSize)
}

@Suite("GGUF real files")
struct GGUFRealFileTests {
    @Test(
        "SmolLM2-135M Q4_1: 272 tensors, llama, 30 blocks, 49152-token vocabulary",
        .enabled(if: modelPath(smolLM) != nil, "weights/\(smolLM) not found: run weights/fetch.sh or set EDGELM_MODEL"))
    func smolLM2() throws {
        let file = try GGUFFile(path: try #require(modelPath(smolLM)))
        #expect(file.version == 3 && file.alignment == 32 && file.dataOffset == 1_785_664)
        #expect(file.fileSize == 98_362_432)
        #expect(file.tensors.count == 272)
        #expect(typeCounts(file) == ["Q4_1": 210, "F32": 61, "Q8_0": 1])
        #expect(file.parameterCount == 134_515_008 && file.tensorBytes == 96_576_768)
        let m = file.metadata
        let arch = try m.string(GGUFKey.architecture)
        #expect(arch == "llama")
        #expect(try m.int(GGUFKey.blockCount(arch)) == 30)
        #expect(try m.int(GGUFKey.contextLength(arch)) == 8192)
        #expect(try m.int(GGUFKey.embeddingLength(arch)) == 576)
        #expect(try m.int(GGUFKey.feedForwardLength(arch)) == 1536)
        #expect(try m.int(GGUFKey.headCount(arch)) == 9)
        #expect(try m.int(GGUFKey.headCountKV(arch)) == 3)
        #expect(try m.int(GGUFKey.ropeDimensionCount(arch)) == 64)
        #expect(try m.int(GGUFKey.vocabSize(arch)) == 49152)
        #expect(try m.float(GGUFKey.ropeFreqBase(arch)) == 100_000)
        #expect(try m.float(GGUFKey.layerNormRMSEpsilon(arch)) == 1e-5)
        #expect(try m.optionalInt(GGUFKey.keyLength(arch)) == nil)
        #expect(try m.string(GGUFKey.tokenizerModel) == "gpt2" && m.string(GGUFKey.tokenizerPre) == "smollm")
        #expect(try m.int(GGUFKey.bosTokenID) == 1 && m.int(GGUFKey.eosTokenID) == 2)
        #expect(try m.bool(GGUFKey.addBOSToken) == false)
        #expect(try m.string(GGUFKey.chatTemplate).contains("<|im_start|>"))
        let tokens = try m.stringArray(GGUFKey.tokens)
        #expect(tokens.count == 49152 && tokens[0] == "<|endoftext|>" && tokens[1] == "<|im_start|>")
        let merges = try m.stringArray(GGUFKey.merges)
        #expect(merges.count == 48900 && merges[0] == "Ġ t")
        #expect(try m.intArray(GGUFKey.tokenType).count == 49152)

        let embd = try file.requireTensor("token_embd.weight")
        #expect(embd.type == .q8_0 && embd.shape == [576, 49152] && embd.rows == 49152 && embd.cols == 576)
        #expect(embd.fileOffset == 1_785_664 && embd.byteCount == 30_081_024)
        let norm = try file.requireTensor("output_norm.weight")
        #expect(norm.type == .f32 && norm.fileOffset == 98_360_128)
        let gamma = UnsafeBufferPointer(start: norm.data.assumingMemoryBound(to: Float.self), count: 576)
        #expect(gamma.allSatisfy { $0.isFinite } && gamma.contains { $0 != 0 })
        checkTensorLayout(file)
    }

    @Test(
        "Gemma-3-270M Q4_K_M: 236 tensors, gemma3, 18 blocks, 262144-token vocabulary",
        .enabled(if: modelPath(gemma) != nil, "weights/\(gemma) not found: run weights/fetch.sh or set EDGELM_MODEL"))
    func gemma3() throws {
        let file = try GGUFFile(path: try #require(modelPath(gemma)))
        #expect(file.tensors.count == 236 && file.dataOffset == 6_525_120)
        #expect(typeCounts(file) == ["F32": 109, "Q5_0": 81, "Q4_K": 27, "Q8_0": 10, "Q6_K": 9])
        #expect(file.parameterCount == 268_098_176 && file.tensorBytes == 246_587_904)
        let m = file.metadata
        #expect(try m.string(GGUFKey.architecture) == "gemma3")
        #expect(try m.int(GGUFKey.blockCount("gemma3")) == 18)
        #expect(try m.int(GGUFKey.keyLength("gemma3")) == 256 && m.int(GGUFKey.valueLength("gemma3")) == 256)
        #expect(try m.int(GGUFKey.slidingWindow("gemma3")) == 512)
        #expect(try m.int(GGUFKey.headCountKV("gemma3")) == 1)
        #expect(try m.float(GGUFKey.ropeFreqBase("gemma3")) == 1_000_000)
        #expect(try m.string(GGUFKey.tokenizerModel) == "llama")
        #expect(try m.stringArray(GGUFKey.tokens).count == 262_144)
        #expect(try m.floatArray(GGUFKey.scores).count == 262_144)
        #expect(try m.bool(GGUFKey.addBOSToken) == true)
        #expect(try m.optionalStringArray(GGUFKey.merges) == nil)
        let embd = try file.requireTensor("token_embd.weight")
        #expect(embd.type == .q8_0 && embd.shape == [640, 262_144] && embd.fileOffset == 6_527_680)
        checkTensorLayout(file)
    }

    @Test(
        "EDGELM_MODEL parses and its tensors are laid out consistently",
        .enabled(if: ProcessInfo.processInfo.environment["EDGELM_MODEL"] != nil, "set EDGELM_MODEL to check a model"))
    func environmentModel() throws {
        let file = try GGUFFile(path: try #require(ProcessInfo.processInfo.environment["EDGELM_MODEL"]))
        #expect(!file.tensors.isEmpty)
        _ = try file.metadata.string(GGUFKey.architecture)
        checkTensorLayout(file)
    }
}

// MARK: - `edgelm inspect` (runs the built binary)

/// The built `edgelm` executable next to the test bundle, if present.
private func edgelmBinary() -> URL? { RealModel.edgelmBinary() }

/// Runs edgelm with `arguments`; returns (exit status, stdout, stderr).
private func runEdgeLM(_ arguments: [String]) throws -> (Int32, String, String) {
    let binary: URL = try #require(edgelmBinary())
    let process = Process()
    process.executableURL = binary
    process.arguments = arguments
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    let stderr = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: stdout, as: UTF8.self), String(decoding: stderr, as: UTF8.self))
}

@Suite("edgelm inspect")
struct InspectCommandTests {
    @Test(
        "--json on a tiny fixture reports counts and the memory formula",
        .enabled(if: edgelmBinary() != nil, "edgelm binary not built next to the tests"))
    func jsonOnFixture() throws {
        var w = try GGUFWriter()
        try w.add(GGUFKey.architecture, .string("llama"))
        try w.add(GGUFKey.name, .string("tiny"))
        try w.add(GGUFKey.contextLength("llama"), .uint32(128))
        try w.add(GGUFKey.embeddingLength("llama"), .uint32(64))
        try w.add(GGUFKey.blockCount("llama"), .uint32(2))
        try w.add(GGUFKey.feedForwardLength("llama"), .uint32(96))
        try w.add(GGUFKey.headCount("llama"), .uint32(4))
        try w.add(GGUFKey.headCountKV("llama"), .uint32(2))
        try w.add(GGUFKey.tokenizerModel, .string("gpt2"))
        try w.add(GGUFKey.tokens, .array(GGUFArray(strings: ["a", "b", "c"])))
        try w.addTensor(name: "a", shape: [64], floats: [Float](repeating: 1, count: 64))
        try w.addTensor(name: "b", type: .q8_0, shape: [64, 3], bytes: Data(count: 34 * 2 * 3))
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("edgelm-inspect-\(getpid()).gguf").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try w.write(to: path)

        let (status, stdout, stderr) = try runEdgeLM(["inspect", path, "--json"])
        #expect(status == 0, "\(stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(stdout.utf8)) as? [String: Any])
        #expect(json["architecture"] as? String == "llama")
        #expect(json["parameters"] as? Int == 64 + 192)
        #expect(json["tensor_count"] as? Int == 2)
        #expect(json["tensor_types"] as? [String: Int] == ["F32": 1, "Q8_0": 1])
        #expect(json["vocab_size"] as? Int == 3)
        #expect(json["context_length"] as? Int == 128 && json["block_count"] as? Int == 2)
        #expect(json["head_count"] as? Int == 4 && json["head_count_kv"] as? Int == 2)
        #expect(json["file_bytes"] as? Int == (try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int))
        // Not a loadable model (no tokenizer, no llama tensors): metadata only, no memory figure, and why.
        #expect(json["tensor_bytes"] as? Int == 64 * 4 + 34 * 2 * 3)
        #expect(json["memory_bytes"] is NSNull)
        #expect((json["memory_note"] as? String)?.isEmpty == false)
    }

    @Test(
        "errors: one `Error:` line with a hint on stderr and a non-zero exit (the convention of every command)",
        .enabled(if: edgelmBinary() != nil, "edgelm binary not built next to the tests"))
    func errors() throws {
        let (status, stdout, stderr) = try runEdgeLM(["inspect", "--model", "/nonexistent/model.gguf"])
        #expect(status != 0 && stdout.isEmpty)
        #expect(stderr.hasPrefix("Error: ") && stderr.contains("hint:"))
        #expect(stderr.split(separator: "\n").count == 1)
        let bad = FileManager.default.temporaryDirectory.appendingPathComponent("edgelm-bad-\(getpid()).gguf").path
        defer { try? FileManager.default.removeItem(atPath: bad) }
        try Data("GGUF\u{3}\0\0\0 truncated".utf8).write(to: URL(fileURLWithPath: bad))
        let (status2, _, stderr2) = try runEdgeLM(["inspect", bad])
        #expect(status2 != 0 && stderr2.hasPrefix("Error: truncated header"))
    }

    @Test(
        "SmolLM2 report",
        .enabled(if: edgelmBinary() != nil && modelPath(smolLM) != nil, "needs the edgelm binary and weights/\(smolLM)"))
    func smolLM2() throws {
        let (status, stdout, stderr) = try runEdgeLM(["inspect", try #require(modelPath(smolLM)), "--json"])
        #expect(status == 0, "\(stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(stdout.utf8)) as? [String: Any])
        #expect(json["tensor_count"] as? Int == 272 && json["vocab_size"] as? Int == 49152)
        #expect(json["parameters"] as? Int == 134_515_008)
        // The figure Session.memoryRequirement enforces for a default session (context min(8192, 4096)).
        let memory = try #require(json["memory_bytes"] as? [String: Int])
        #expect(json["memory_context"] as? Int == 4096)
        #expect(memory["kv_cache"] == 2 * 30 * 4096 * 3 * 64 * 2)
        let model = try Model(path: try #require(modelPath(smolLM)))
        let options = SessionOptions(contextLength: 4096)
        #expect(memory["total"] == (try Session.memoryRequirement(model: model, options: options)).total)
        let (textStatus, text, _) = try runEdgeLM(["inspect", try #require(modelPath(smolLM))])
        #expect(textStatus == 0 && text.contains("architecture  llama") && text.contains("Q4_1 210"))
    }

    @Test(
        "Gemma 3 report: sliding-window layers count their ring, not the context",
        .enabled(if: edgelmBinary() != nil && modelPath(gemma) != nil, "needs the edgelm binary and weights/\(gemma)"))
    func gemma3Report() throws {
        let (status, stdout, stderr) = try runEdgeLM(["inspect", try #require(modelPath(gemma)), "--json"])
        #expect(status == 0, "\(stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(stdout.utf8)) as? [String: Any])
        let memory = try #require(json["memory_bytes"] as? [String: Int])
        // 3 global layers × 4096 positions + 15 sliding layers × (512 + 64 rounded up to 256-position pages)
        // × 256 (one KV head of 256) × 2 (K, V) × 2 bytes.
        #expect(memory["kv_cache"] == (3 * 4096 + 15 * 768) * 256 * 2 * 2)
        let model = try Model(path: try #require(modelPath(gemma)))
        #expect(model.config.kvCacheBytes(contextLength: 32768, batch: 64) == (3 * 32768 + 15 * 768) * 256 * 2 * 2)
        #expect(memory["total"] == (try Session.memoryRequirement(model: model, options: SessionOptions(contextLength: 4096))).total)
    }
}
