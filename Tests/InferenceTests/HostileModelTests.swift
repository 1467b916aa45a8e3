// Issue 17, item 1: hyperparameters are checked against limits and the tensor table before anything is
// allocated from them. Each case failed before `ModelConfig.validate(file:)` (a trap, or a model that ran).

import Foundation
import GGUF
import Inference
import InferenceTestSupport
import Testing

/// Rewrites a GGUF file with some metadata values replaced (tensors copied as they are).
func rewriteGGUF(_ path: String, to out: String, overrides: [String: GGUFValue]) throws {
    let file = try GGUFFile(path: path)
    var w = try GGUFWriter()
    for (k, v) in file.metadata.entries { try w.add(k, overrides[k] ?? v) }
    for (k, v) in overrides where !file.metadata.contains(k) { try w.add(k, v) }
    for t in file.tensors { try w.addTensor(name: t.name, type: t.type, shape: t.shape, bytes: Data(t.bytes)) }
    try w.write(to: out)
}

@Suite("Hostile hyperparameters are refused before allocation")
struct HostileModelTests {
    static func variant(_ overrides: [String: GGUFValue]) throws -> String {
        let (path, _) = try TinyModel(matrixType: .f32, embeddingType: .f32).write()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let out = path + ".variant.gguf"
        try rewriteGGUF(path, to: out, overrides: overrides)
        return out
    }

    static func expectRefused(_ overrides: [String: GGUFValue], mentioning fragment: String) throws {
        let path = try variant(overrides)
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            _ = try Model(path: path)
            Issue.record("accepted \(overrides)")
        } catch let e as InferenceError {
            guard case .invalidHyperparameter = e else { Issue.record("wrong error \(e)"); return }
            #expect("\(e)".contains(fragment), "\(e)")
        }
    }

    @Test("block_count 2^31-1 throws instead of allocating a 738 GB layer table")
    func hugeBlockCount() throws {
        try Self.expectRefused(["llama.block_count": .uint32(2_147_483_647)], mentioning: "block_count")
    }

    @Test("block_count smaller or larger than the layers in the tensor table is refused")
    func blockCountMismatch() throws {
        try Self.expectRefused(["llama.block_count": .uint32(1)], mentioning: "layer 1 but")
        try Self.expectRefused(["llama.block_count": .uint32(3)], mentioning: "has 2 layer(s)")
    }

    @Test("rms_norm_epsilon NaN, ±inf, 0 and negative are refused", arguments: [Float.nan, .infinity, -.infinity, 0, -1e-5])
    func badEpsilon(_ eps: Float) throws {
        try Self.expectRefused(["llama.attention.layer_norm_rms_epsilon": .float32(eps)], mentioning: "layer_norm_rms_epsilon")
    }

    @Test("rope.freq_base NaN, -1, 0 and inf are refused", arguments: [Float.nan, -1, 0, .infinity])
    func badRopeBase(_ base: Float) throws {
        try Self.expectRefused(["llama.rope.freq_base": .float32(base)], mentioning: "rope.freq_base")
    }

    @Test("dimensions beyond the limits are refused")
    func hugeDimensions() throws {
        try Self.expectRefused(["llama.context_length": .uint64(1 << 40)], mentioning: "context_length")
        try Self.expectRefused(["llama.feed_forward_length": .uint32(UInt32.max)], mentioning: "feed_forward_length")
        try Self.expectRefused(["llama.attention.key_length": .uint32(1 << 30)], mentioning: "key_length")
    }

    @Test("blk.N. parsing: indices, other names, hostile names")
    func layerIndexParsing() throws {
        let good = try TinyModel(matrixType: .f32, embeddingType: .f32).write()
        defer { try? FileManager.default.removeItem(atPath: good.path) }
        let model = try Model(path: good.path)  // the unmodified tiny model still loads
        #expect(model.config.blockCount == 2)
        #expect(model.config.maximumContextLength(file: model.file) == model.config.contextLength)
    }

    @Test("item 13: a quantized norm weight is told to be F32, not to be requantized to Q8_0")
    func normTypeHint() {
        let text = "\(InferenceError.unsupportedTensorType(name: "output_norm.weight", type: "q8_0"))"
        #expect(text.contains("must be F32") && !text.contains("Q8_0"), "\(text)")
    }

    @Test("RoPE scaling raises the context limit by its factor")
    func ropeScalingLimit() throws {
        let path = try Self.variant(["llama.rope.scaling.type": .string("linear"), "llama.rope.scaling.factor": .float32(4)])
        defer { try? FileManager.default.removeItem(atPath: path) }
        let model = try Model(path: path)
        #expect(model.config.maximumContextLength(file: model.file) == 4 * model.config.contextLength)
        try Self.expectRefused(["llama.rope.scaling.factor": .float32(.nan)], mentioning: "rope.scaling.factor")
    }
}
