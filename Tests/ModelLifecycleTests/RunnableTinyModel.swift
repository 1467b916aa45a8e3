// A tiny Llama-shaped GGUF that Inference can actually run (f32 weights, byte-level BPE vocabulary with ChatML
// specials and a chat template), so tasks, generation and CLI loads work on it without the real weights.

import Foundation
import GGUF

enum RunnableTinyModel {
    static let heads = 4, kvHeads = 2, layers = 2
    static let specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]

    /// GPT-2's byte → printable-unicode mapping: the token text of each single-byte token.
    static func byteToken(_ b: Int) -> String {
        var bs = Array(33...126) + Array(161...172) + Array(174...255)
        var cs = bs
        var n = 0
        for x in 0..<256 where !bs.contains(x) { bs.append(x); cs.append(256 + n); n += 1 }
        return String(Unicode.Scalar(UInt32(cs[bs.firstIndex(of: b)!]))!)
    }

    /// Writes the model to `path`. Different seeds give different weights (and SHA-256) with the same tokenizer.
    static func write(to path: String, seed: UInt64 = 7, context: Int = 512, dim: Int = 32, ffn: Int = 48) throws {
        var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        func next() -> Float {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int64(bitPattern: state >> 11) % 2_000_001 - 1_000_000) / 1_000_000
        }
        let arch = "llama"
        var w = try GGUFWriter()
        try w.add(GGUFKey.architecture, .string(arch))
        try w.add(GGUFKey.name, .string("tiny-runnable"))
        try w.add(GGUFKey.contextLength(arch), .uint32(UInt32(context)))
        try w.add(GGUFKey.embeddingLength(arch), .uint32(UInt32(dim)))
        try w.add(GGUFKey.blockCount(arch), .uint32(UInt32(layers)))
        try w.add(GGUFKey.feedForwardLength(arch), .uint32(UInt32(ffn)))
        try w.add(GGUFKey.headCount(arch), .uint32(UInt32(heads)))
        try w.add(GGUFKey.headCountKV(arch), .uint32(UInt32(kvHeads)))
        try w.add("\(arch).rope.freq_base", .float32(10_000))
        try w.add("\(arch).attention.layer_norm_rms_epsilon", .float32(1e-5))
        try w.add("\(arch).rope.dimension_count", .uint32(UInt32(dim / heads)))
        try w.add(GGUFKey.tokenizerModel, .string("gpt2"))
        try w.add("tokenizer.ggml.pre", .string("smollm"))
        let tokens = (0..<256).map(byteToken) + ["ab"] + specials
        try w.add(GGUFKey.tokens, .array(GGUFArray(strings: tokens)))
        try w.add("tokenizer.ggml.token_type", .array(GGUFArray(int32s: Array(repeating: 1, count: 257) + [3, 3, 3])))
        try w.add(GGUFKey.merges, .array(GGUFArray(strings: ["a b"])))
        try w.add("tokenizer.ggml.bos_token_id", .uint32(257))
        try w.add("tokenizer.ggml.eos_token_id", .uint32(259))
        try w.add("tokenizer.ggml.add_bos_token", .bool(false))
        try w.add("tokenizer.chat_template", .string(
            "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"))
        func tensor(_ name: String, rows: Int, cols: Int, scale: Float) throws {
            let f = (0..<(rows * cols)).map { _ in next() * scale }
            try w.addTensor(name: name, shape: rows == 1 ? [cols] : [cols, rows], floats: f)
        }
        let kvDim = kvHeads * (dim / heads)
        try tensor("token_embd.weight", rows: tokens.count, cols: dim, scale: 1)
        for l in 0..<layers {
            let p = "blk.\(l)."
            try tensor(p + "attn_norm.weight", rows: 1, cols: dim, scale: 1)
            try tensor(p + "attn_q.weight", rows: dim, cols: dim, scale: 0.3)
            try tensor(p + "attn_k.weight", rows: kvDim, cols: dim, scale: 0.3)
            try tensor(p + "attn_v.weight", rows: kvDim, cols: dim, scale: 0.3)
            try tensor(p + "attn_output.weight", rows: dim, cols: dim, scale: 0.3)
            try tensor(p + "ffn_norm.weight", rows: 1, cols: dim, scale: 1)
            try tensor(p + "ffn_gate.weight", rows: ffn, cols: dim, scale: 0.3)
            try tensor(p + "ffn_up.weight", rows: ffn, cols: dim, scale: 0.3)
            try tensor(p + "ffn_down.weight", rows: dim, cols: ffn, scale: 0.3)
        }
        try tensor("output_norm.weight", rows: 1, cols: dim, scale: 1)
        try w.write(to: path)
    }
}
