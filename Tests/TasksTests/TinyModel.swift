import Foundation
import GGUF
import Kernels

/// Builds tiny random Llama-architecture GGUF files for tests (no real weights needed): 256 byte tokens plus
/// ChatML specials, so the real byte-level BPE tokenizer and chat template work on them.
struct TinyModel {
    var dim = 64
    var heads = 4
    var kvHeads = 2
    var ffn = 96
    var layers = 2
    var context = 512
    var ropeBase: Float = 10_000
    var matrixType: GGMLType = .q4_1
    var embeddingType: GGMLType = .q8_0
    var architecture = "llama"
    var omitTensor: String? = nil
    var seed: UInt64 = 42

    static let specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    /// One merged token ("ab") so the BPE tokenizer has a merge list.
    static let merged = ["ab"]
    static var vocabularySize: Int { 256 + merged.count + specials.count }

    var headDim: Int { dim / heads }

    /// GPT-2's byte → printable-unicode mapping (token text of each single-byte token).
    static func byteToken(_ b: Int) -> String {
        var bs = Array(33...126) + Array(161...172) + Array(174...255)
        var cs = bs
        var n = 0
        for x in 0..<256 where !bs.contains(x) { bs.append(x); cs.append(256 + n); n += 1 }
        let i = bs.firstIndex(of: b)!
        return String(Unicode.Scalar(UInt32(cs[i]))!)
    }

    /// Deterministic pseudo-random floats in [-scale, scale].
    struct RNG {
        var state: UInt64
        mutating func next() -> Float {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int64(bitPattern: state >> 11) % 2_000_001 - 1_000_000) / 1_000_000
        }
    }

    /// Writes the model to a temporary file and returns its path, plus the f32 values of every tensor
    /// (after quantization round trip, i.e. what the engine sees) for reference computations.
    func write() throws -> (path: String, weights: [String: [Float]]) {
        var rng = RNG(state: seed)
        var w = try GGUFWriter()
        let arch = architecture
        try w.add("general.architecture", .string(arch))
        try w.add("\(arch).context_length", .uint32(UInt32(context)))
        try w.add("\(arch).embedding_length", .uint32(UInt32(dim)))
        try w.add("\(arch).block_count", .uint32(UInt32(layers)))
        try w.add("\(arch).feed_forward_length", .uint32(UInt32(ffn)))
        try w.add("\(arch).attention.head_count", .uint32(UInt32(heads)))
        try w.add("\(arch).attention.head_count_kv", .uint32(UInt32(kvHeads)))
        try w.add("\(arch).rope.freq_base", .float32(ropeBase))
        try w.add("\(arch).attention.layer_norm_rms_epsilon", .float32(1e-5))
        try w.add("\(arch).rope.dimension_count", .uint32(UInt32(headDim)))
        try w.add("tokenizer.ggml.model", .string("gpt2"))
        try w.add("tokenizer.ggml.pre", .string("smollm"))
        let tokens = (0..<256).map(Self.byteToken) + Self.merged + Self.specials
        try w.add("tokenizer.ggml.tokens", .array(GGUFArray(strings: tokens)))
        try w.add("tokenizer.ggml.token_type", .array(GGUFArray(int32s: Array(repeating: 1, count: 257) + [3, 3, 3])))
        try w.add("tokenizer.ggml.merges", .array(GGUFArray(strings: ["a b"])))
        try w.add("tokenizer.ggml.bos_token_id", .uint32(257))
        try w.add("tokenizer.ggml.eos_token_id", .uint32(259))
        try w.add("tokenizer.ggml.add_bos_token", .bool(false))
        try w.add("tokenizer.chat_template", .string("{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"))

        var values: [String: [Float]] = [:]
        func tensor(_ name: String, rows: Int, cols: Int, type: GGMLType, scale: Float) throws {
            if name == omitTensor { return }
            var f = (0..<(rows * cols)).map { _ in rng.next() * scale }
            let rowBytes = type.rowBytes(cols)!
            var bytes = Data(count: rows * rowBytes)
            bytes.withUnsafeMutableBytes { raw in
                for r in 0..<rows {
                    f.withUnsafeBufferPointer { src in
                        let x = src.baseAddress! + r * cols
                        let y = raw.baseAddress! + r * rowBytes
                        switch type {
                        case .q4_1: Quantize.q4_1(x, y, count: cols)
                        case .q4_0: Quantize.q4_0(x, y, count: cols)
                        case .q8_0: Quantize.q8_0(x, y, count: cols)
                        case .f32: y.copyMemory(from: x, byteCount: cols * 4)
                        default: fatalError("TinyModel: no quantizer for \(type)")
                        }
                    }
                    f.withUnsafeMutableBufferPointer { dst in
                        Dequantize.row(type, UnsafeRawPointer(raw.baseAddress! + r * rowBytes), dst.baseAddress! + r * cols, count: cols)
                    }
                }
            }
            values[name] = f
            try w.addTensor(name: name, type: type, shape: rows == 1 ? [cols] : [cols, rows], bytes: bytes)
        }
        let kvDim = kvHeads * headDim
        try tensor("token_embd.weight", rows: Self.vocabularySize, cols: dim, type: embeddingType, scale: 1)
        for l in 0..<layers {
            let p = "blk.\(l)."
            try tensor(p + "attn_norm.weight", rows: 1, cols: dim, type: .f32, scale: 1)
            try tensor(p + "attn_q.weight", rows: dim, cols: dim, type: matrixType, scale: 0.3)
            try tensor(p + "attn_k.weight", rows: kvDim, cols: dim, type: matrixType, scale: 0.3)
            try tensor(p + "attn_v.weight", rows: kvDim, cols: dim, type: matrixType, scale: 0.3)
            try tensor(p + "attn_output.weight", rows: dim, cols: dim, type: matrixType, scale: 0.3)
            try tensor(p + "ffn_norm.weight", rows: 1, cols: dim, type: .f32, scale: 1)
            try tensor(p + "ffn_gate.weight", rows: ffn, cols: dim, type: matrixType, scale: 0.3)
            try tensor(p + "ffn_up.weight", rows: ffn, cols: dim, type: matrixType, scale: 0.3)
            try tensor(p + "ffn_down.weight", rows: dim, cols: ffn, type: matrixType, scale: 0.3)
        }
        try tensor("output_norm.weight", rows: 1, cols: dim, type: .f32, scale: 1)

        let path = FileManager.default.temporaryDirectory
            .appendingPathComponent("edgelm-tiny-\(UUID().uuidString).gguf").path
        try w.write(to: path)
        return (path, values)
    }
}
