// GGUF reader on the real model files in weights/ (weights/fetch.sh). Skipped with a message when absent.
// Expected numbers were read independently with gguf-python (gguf.GGUFReader).

import EdgeLM
import Foundation
import Testing

/// The repository's weights/ directory: the first ancestor of this file (or of the working directory) with one.
private func weightsDirectory(from file: String = #filePath) -> URL? {
    let starts = [URL(fileURLWithPath: file).resolvingSymlinksInPath().deletingLastPathComponent(),
                  URL(fileURLWithPath: FileManager.default.currentDirectoryPath)]
    for start in starts {
        var dir = start
        while dir.path != "/" {
            let weights = dir.appendingPathComponent("weights")
            if FileManager.default.fileExists(atPath: weights.appendingPathComponent("fetch.sh").path) {
                return weights
            }
            dir = dir.deletingLastPathComponent()
        }
    }
    return nil
}

/// The model named `fileName`: EDGELM_MODEL when it names that file, else weights/fileName; nil when missing.
private func modelPath(_ fileName: String) -> String? {
    if let env = ProcessInfo.processInfo.environment["EDGELM_MODEL"], env.hasSuffix(fileName),
        FileManager.default.fileExists(atPath: env)
    {
        return env
    }
    guard let path = weightsDirectory()?.appendingPathComponent(fileName).path,
        FileManager.default.fileExists(atPath: path)
    else { return nil }
    return path
}

private let smolLM = "smollm2-135m-instruct-q4_1.gguf"
private let gemma = "gemma-3-270m-q4_k_m.gguf"

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
