import Foundation
import GGUF
import Kernels

/// Builds tiny random Llama-architecture GGUF files for tests (no real weights needed): 256 byte tokens, the merges,
/// ChatML specials, so the real byte-level BPE tokenizer and chat template work. Shared by InferenceTests, TasksTests and
/// MemoryBudgetTests through the `InferenceTestSupport` target (`package` access: visible to this package only).
package struct TinyModel {
    /// Every field can be set here, like the memberwise initialiser (which would be internal to this module).
    package init(dim: Int = 64, heads: Int = 4, kvHeads: Int = 2, ffn: Int = 96, layers: Int = 2, context: Int = 64,
                 ropeBase: Float = 10_000, matrixType: GGMLType = .q4_1, embeddingType: GGMLType = .q8_0,
                 architecture: String = "llama", omitTensor: String? = nil, seed: UInt64 = 42,
                 merges: [String] = ["h e", "\u{120} t"]) {
        self.dim = dim; self.heads = heads; self.kvHeads = kvHeads; self.ffn = ffn; self.layers = layers
        self.context = context; self.ropeBase = ropeBase; self.matrixType = matrixType
        self.embeddingType = embeddingType; self.architecture = architecture; self.omitTensor = omitTensor
        self.seed = seed
        self.merges = merges
    }

    package var dim = 64
    package var heads = 4
    package var kvHeads = 2
    package var ffn = 96
    package var layers = 2
    package var context = 64
    package var ropeBase: Float = 10_000
    package var matrixType: GGMLType = .q4_1
    package var embeddingType: GGMLType = .q8_0
    package var architecture = "llama"
    package var omitTensor: String? = nil
    package var seed: UInt64 = 42

    /// BPE merges ("left right"); each adds the joined token after the 256 byte tokens. The default gives
    /// "he" and "Ġt"; TasksTests uses `["a b"]` (ChatML specials follow either way).
    package var merges: [String]
    package var merged: [String] { merges.map { $0.replacingOccurrences(of: " ", with: "") } }
    package static let specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    package var vocabularySize: Int { 256 + merged.count + Self.specials.count }

    package var headDim: Int { dim / heads }

    /// GPT-2's byte → printable-unicode mapping (token text of each single-byte token).
    package static func byteToken(_ b: Int) -> String {
        var bs = Array(33...126) + Array(161...172) + Array(174...255)
        var cs = bs
        var n = 0
        for x in 0..<256 where !bs.contains(x) { bs.append(x); cs.append(256 + n); n += 1 }
        let i = bs.firstIndex(of: b)!
        return String(Unicode.Scalar(UInt32(cs[i]))!)
    }

    /// Deterministic pseudo-random floats in [-scale, scale].
    package struct RNG {
        package var state: UInt64
        package init(state: UInt64) { self.state = state }
        package mutating func next() -> Float {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int64(bitPattern: state >> 11) % 2_000_001 - 1_000_000) / 1_000_000
        }
    }

    /// Writes the model to a temporary file and returns its path, plus the f32 values of every tensor
    /// (after quantization round trip, i.e. what the engine sees) for reference computations.
    package func write() throws -> (path: String, weights: [String: [Float]]) {
        let path = FileManager.default.temporaryDirectory
            .appendingPathComponent("edgelm-tiny-\(UUID().uuidString).gguf").path
        return (path, try write(to: path))
    }

    /// Writes the model to `path`; returns the f32 values of every tensor as the engine sees them.
    @discardableResult
    package func write(to path: String) throws -> [String: [Float]] {
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
        let tokens = (0..<256).map(Self.byteToken) + merged + Self.specials
        try w.add("tokenizer.ggml.tokens", .array(GGUFArray(strings: tokens)))
        try w.add("tokenizer.ggml.token_type", .array(GGUFArray(int32s: Array(repeating: 1, count: 256 + merged.count) + [3, 3, 3])))
        try w.add("tokenizer.ggml.merges", .array(GGUFArray(strings: merges)))
        try w.add("tokenizer.ggml.bos_token_id", .uint32(UInt32(256 + merged.count)))       // <|endoftext|>
        try w.add("tokenizer.ggml.eos_token_id", .uint32(UInt32(256 + merged.count + 2)))   // <|im_end|>
        try w.add("tokenizer.ggml.add_bos_token", .bool(false))
        try w.add("tokenizer.chat_template", .string("{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"))

        var values: [String: [Float]] = [:]
        func tensor(_ name: String, rows: Int, cols: Int, type: GGMLType, scale: Float) throws {
            if name == omitTensor { return }
            values[name] = try Self.addTensor(&w, name: name, rows: rows, cols: cols, type: type,
                                              values: (0..<(rows * cols)).map { _ in rng.next() * scale })
        }
        let kvDim = kvHeads * headDim
        try tensor("token_embd.weight", rows: vocabularySize, cols: dim, type: embeddingType, scale: 1)
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
        try w.write(to: path)
        return values
    }

    /// Quantizes `f` (rows, cols) to `type` row by row, adds it to `w` as tensor `name` (GGUF shape [cols, rows],
    /// or [cols] for one row) and returns the values after the quantization round trip (what the engine sees).
    /// Shared by the tiny models of this module.
    package static func addTensor(_ w: inout GGUFWriter, name: String, rows: Int, cols: Int, type: GGMLType,
                                  values f: [Float]) throws -> [Float] {
        var f = f
        guard let rowBytes = type.rowBytes(cols) else {
            fatalError("tiny model: \(name) has \(cols) columns, not a whole number of \(type) blocks")
        }
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
                    default: fatalError("tiny model: no quantizer for \(type)")
                    }
                }
                f.withUnsafeMutableBufferPointer { dst in
                    Dequantize.row(type, UnsafeRawPointer(raw.baseAddress! + r * rowBytes), dst.baseAddress! + r * cols, count: cols)
                }
            }
        }
        try w.addTensor(name: name, type: type, shape: rows == 1 ? [cols] : [cols, rows], bytes: bytes)
        return f
    }

    /// A straightforward double-precision forward pass over `ids` (f32 activations, f32 attention) returning
    /// the logits of the last token. The reference the engine's Session is compared against.
    package func referenceLogits(_ ids: [Int32], weights W: [String: [Float]]) -> [Double] {
        let hd = headDim, kvDim = kvHeads * hd, group = heads / kvHeads
        func rms(_ x: [Double], _ w: [Float]) -> [Double] {
            let ms = x.reduce(0) { $0 + $1 * $1 } / Double(x.count)
            let s = 1 / (ms + 1e-5).squareRoot()
            return x.indices.map { x[$0] * s * Double(w[$0]) }
        }
        func matvec(_ name: String, _ x: [Double], rows: Int) -> [Double] {
            let m = W[name]!, cols = x.count
            return (0..<rows).map { r in (0..<cols).reduce(0.0) { $0 + Double(m[r * cols + $1]) * x[$1] } }
        }
        func rope(_ v: inout [Double], headsN: Int, pos: Int) {
            for h in 0..<headsN {
                for i in stride(from: 0, to: hd, by: 2) {
                    let theta = Double(pos) * pow(Double(ropeBase), -Double(i) / Double(hd))
                    let a = v[h * hd + i], b = v[h * hd + i + 1]
                    v[h * hd + i] = a * cos(theta) - b * sin(theta)
                    v[h * hd + i + 1] = a * sin(theta) + b * cos(theta)
                }
            }
        }
        let emb = W["token_embd.weight"]!
        var xs = ids.map { id in (0..<dim).map { Double(emb[Int(id) * dim + $0]) } }
        for l in 0..<layers {
            let p = "blk.\(l)."
            var ks: [[Double]] = [], vs: [[Double]] = []
            var outs: [[Double]] = []
            for (t, x) in xs.enumerated() {
                let h = rms(x, W[p + "attn_norm.weight"]!)
                var q = matvec(p + "attn_q.weight", h, rows: dim)
                var k = matvec(p + "attn_k.weight", h, rows: kvDim)
                let v = matvec(p + "attn_v.weight", h, rows: kvDim)
                rope(&q, headsN: heads, pos: t); rope(&k, headsN: kvHeads, pos: t)
                ks.append(k); vs.append(v)
                var att = [Double](repeating: 0, count: dim)
                for hh in 0..<heads {
                    let kvh = hh / group
                    let scores = (0...t).map { j in (0..<hd).reduce(0.0) { $0 + q[hh * hd + $1] * ks[j][kvh * hd + $1] } / Double(hd).squareRoot() }
                    let m = scores.max()!
                    let e = scores.map { exp($0 - m) }
                    let s = e.reduce(0, +)
                    for j in 0...t { for i in 0..<hd { att[hh * hd + i] += e[j] / s * vs[j][kvh * hd + i] } }
                }
                outs.append(att)
            }
            for t in xs.indices {
                let o = matvec(p + "attn_output.weight", outs[t], rows: dim)
                for i in 0..<dim { xs[t][i] += o[i] }
                let h = rms(xs[t], W[p + "ffn_norm.weight"]!)
                let g = matvec(p + "ffn_gate.weight", h, rows: ffn), u = matvec(p + "ffn_up.weight", h, rows: ffn)
                let a = (0..<ffn).map { g[$0] / (1 + exp(-g[$0])) * u[$0] }
                let d = matvec(p + "ffn_down.weight", a, rows: dim)
                for i in 0..<dim { xs[t][i] += d[i] }
            }
        }
        let h = rms(xs[xs.count - 1], W["output_norm.weight"]!)
        return (0..<vocabularySize).map { r in (0..<dim).reduce(0.0) { $0 + Double(emb[r * dim + $1]) * h[$1] } }
    }
}
