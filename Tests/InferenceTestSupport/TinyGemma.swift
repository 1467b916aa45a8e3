import Foundation
import GGUF
import Kernels

/// Builds tiny random Gemma-3-architecture GGUF files (`general.architecture = "gemma3"`) for tests, with a
/// double-precision reference forward pass that follows llama.cpp's graph (src/models/gemma3.cpp) step by step.
///
/// The shape is deliberately awkward: the head dimension is explicit (`attention.key_length`) and differs from
/// `dim / heads`, and the query width `heads · headDim` differs from `dim`, so code that derives one from the
/// other fails. With the default 7 layers both layer kinds exist: layer `l` uses sliding-window attention iff
/// `l % 6 < 5` (llama.cpp `set_swa_pattern(6)`: layers 5, 11, 17 … are global).
///
/// The vocabulary is a SentencePiece one (`tokenizer.ggml.model = "llama"`) laid out like Gemma's: `<pad>` 0,
/// `<eos>` 1, `<bos>` 2, `<unk>` 3, the 256 byte tokens `<0x00>`…`<0xFF>` (ids 4…259), then ``pieces``.
/// There is no chat template (a base model). The output head is tied to `token_embd.weight`.
package struct TinyGemma {
    /// Every field can be set here, like the memberwise initialiser (which would be internal to this module).
    /// Quantized `matrixType`/`embeddingType` (q4_0, q4_1, q8_0) need `dim`, `qDim` and `ffn` to be multiples of 32.
    package init(dim: Int = 96, heads: Int = 2, kvHeads: Int = 1, headDim: Int = 32, ffn: Int = 128, layers: Int = 7,
                 context: Int = 64, slidingWindow: Int = 8, ropeBase: Float = 1_000_000, epsilon: Float = 1e-6,
                 matrixType: GGMLType = .f32, embeddingType: GGMLType = .f32,
                 omitTensor: String? = nil, omitKey: String? = nil, seed: UInt64 = 3) {
        self.dim = dim; self.heads = heads; self.kvHeads = kvHeads; self.headDim = headDim; self.ffn = ffn
        self.layers = layers; self.context = context; self.slidingWindow = slidingWindow; self.ropeBase = ropeBase
        self.epsilon = epsilon; self.matrixType = matrixType; self.embeddingType = embeddingType
        self.omitTensor = omitTensor; self.omitKey = omitKey; self.seed = seed
    }

    package static let architecture = "gemma3"

    package var dim = 96
    package var heads = 2
    package var kvHeads = 1
    /// `gemma3.attention.key_length` (= value_length); not `dim / heads`.
    package var headDim = 32
    package var ffn = 128
    package var layers = 7
    /// `gemma3.context_length`.
    package var context = 64
    /// `gemma3.attention.sliding_window`: a sliding-window layer at position t sees positions j with t − j < window.
    package var slidingWindow = 8
    /// `gemma3.rope.freq_base`: the base of the global layers (sliding-window layers use ``slidingRopeBase``).
    package var ropeBase: Float = 1_000_000
    /// `gemma3.attention.layer_norm_rms_epsilon`.
    package var epsilon: Float = 1e-6
    package var matrixType: GGMLType = .f32
    package var embeddingType: GGMLType = .f32
    /// A tensor name left out of the file (missing-tensor tests).
    package var omitTensor: String? = nil
    /// A metadata key left out of the file (missing-key tests), e.g. `GGUFKey.slidingWindow("gemma3")`.
    package var omitKey: String? = nil
    package var seed: UInt64 = 3

    /// RoPE base of the sliding-window layers (llama.cpp hard-codes `rope_freq_base_train_swa = 10000` for Gemma 3).
    package static let slidingRopeBase: Double = 10_000
    /// llama.cpp's Gemma 3 layer pattern: every 6th layer (index 5, 11, …) is global.
    package static let slidingWindowPattern = 6

    /// Width of the concatenated query heads: `heads · headDim`.
    package var qDim: Int { heads * headDim }
    /// Width of the K (and V) rows of one token: `kvHeads · headDim`.
    package var kvDim: Int { kvHeads * headDim }

    /// Whether layer `l` uses sliding-window attention (`l % 6 < 5`).
    package func isSlidingWindow(layer l: Int) -> Bool { l % Self.slidingWindowPattern < Self.slidingWindowPattern - 1 }

    // MARK: vocabulary

    package static let paddingID: Int32 = 0
    package static let eosID: Int32 = 1
    package static let bosID: Int32 = 2
    package static let unknownID: Int32 = 3
    /// The special tokens, in id order, with their `tokenizer.ggml.token_type` (3 control, 2 unknown).
    package static let specials: [(text: String, type: Int32)] = [("<pad>", 3), ("<eos>", 3), ("<bos>", 3), ("<unk>", 2)]
    /// Normal pieces (type 1) after the byte tokens, with their SentencePiece scores (higher merges first).
    /// "the hello" encodes as `the ▁ he ll o`.
    package static let pieces: [(text: String, score: Float)] = [
        ("▁", -1), ("▁the", -2), ("he", -3), ("ll", -4), ("o", -5), ("the", -6),
    ]
    /// Id of byte token `<0xXX>`.
    package static func byteTokenID(_ byte: UInt8) -> Int32 { Int32(specials.count) + Int32(byte) }
    /// Id of the normal piece `text` (nil when it is not one of ``pieces``).
    package static func pieceID(_ text: String) -> Int32? {
        pieces.firstIndex { $0.text == text }.map { Int32(specials.count + 256 + $0) }
    }
    package static var vocabularySize: Int { specials.count + 256 + pieces.count }
    package var vocabularySize: Int { Self.vocabularySize }

    /// All token texts in id order.
    package static var tokenTexts: [String] {
        specials.map(\.text) + (0..<256).map { String(format: "<0x%02X>", $0) } + pieces.map(\.text)
    }

    // MARK: writing

    /// Writes the model to a temporary file and returns its path, plus the f32 values of every tensor
    /// (after the quantization round trip, i.e. what the engine sees) for reference computations.
    package func write() throws -> (path: String, weights: [String: [Float]]) {
        let path = FileManager.default.temporaryDirectory
            .appendingPathComponent("edgelm-tinygemma-\(UUID().uuidString).gguf").path
        return (path, try write(to: path))
    }

    /// Writes the model to `path`; returns the f32 values of every tensor as the engine sees them.
    @discardableResult
    package func write(to path: String) throws -> [String: [Float]] {
        var rng = TinyModel.RNG(state: seed)
        var w = try GGUFWriter()
        func add(_ key: String, _ value: GGUFValue) throws {
            if key != omitKey { try w.add(key, value) }
        }
        let arch = Self.architecture
        try add(GGUFKey.architecture, .string(arch))
        try add(GGUFKey.contextLength(arch), .uint32(UInt32(context)))
        try add(GGUFKey.embeddingLength(arch), .uint32(UInt32(dim)))
        try add(GGUFKey.blockCount(arch), .uint32(UInt32(layers)))
        try add(GGUFKey.feedForwardLength(arch), .uint32(UInt32(ffn)))
        try add(GGUFKey.headCount(arch), .uint32(UInt32(heads)))
        try add(GGUFKey.headCountKV(arch), .uint32(UInt32(kvHeads)))
        try add(GGUFKey.keyLength(arch), .uint32(UInt32(headDim)))
        try add(GGUFKey.valueLength(arch), .uint32(UInt32(headDim)))
        try add(GGUFKey.layerNormRMSEpsilon(arch), .float32(epsilon))
        try add(GGUFKey.ropeFreqBase(arch), .float32(ropeBase))
        try add(GGUFKey.slidingWindow(arch), .uint32(UInt32(slidingWindow)))
        // No rope.dimension_count (defaults to the head dim), no final_logit_softcapping, no chat template.

        let tokens = Self.tokenTexts
        let types = Self.specials.map(\.type) + [Int32](repeating: 6, count: 256)
            + [Int32](repeating: 1, count: Self.pieces.count)
        let scores = [Float](repeating: 0, count: Self.specials.count + 256) + Self.pieces.map(\.score)
        try add(GGUFKey.tokenizerModel, .string("llama"))
        try add(GGUFKey.tokenizerPre, .string("default"))
        try add(GGUFKey.tokens, .array(GGUFArray(strings: tokens)))
        try add(GGUFKey.scores, .array(GGUFArray(float32s: scores)))
        try add(GGUFKey.tokenType, .array(GGUFArray(int32s: types)))
        try add(GGUFKey.bosTokenID, .uint32(UInt32(Self.bosID)))
        try add(GGUFKey.eosTokenID, .uint32(UInt32(Self.eosID)))
        try add(GGUFKey.unknownTokenID, .uint32(UInt32(Self.unknownID)))
        try add(GGUFKey.paddingTokenID, .uint32(UInt32(Self.paddingID)))
        try add(GGUFKey.addBOSToken, .bool(true))
        try add(GGUFKey.addEOSToken, .bool(false))
        try add(GGUFKey.addSpacePrefix, .bool(false))

        var values: [String: [Float]] = [:]
        /// A (rows, cols) tensor — GGUF shape [cols, rows], or [cols] for a vector — of `offset + scale · rng`.
        func tensor(_ name: String, rows: Int, cols: Int, type: GGMLType, scale: Float, offset: Float = 0) throws {
            if name == omitTensor { return }
            values[name] = try TinyModel.addTensor(&w, name: name, rows: rows, cols: cols, type: type,
                                                   values: (0..<(rows * cols)).map { _ in offset + rng.next() * scale })
        }
        /// Norm weights around 1 (llama.cpp's converter already folded Gemma's `1 + w` into the file).
        func norm(_ name: String, _ count: Int) throws {
            try tensor(name, rows: 1, cols: count, type: .f32, scale: 0.3, offset: 1)
        }
        // Embedding values in ±2/√dim: the scaled input (·√dim) has rms ≈ 1.15, like the normalized layer outputs
        // added to it, so the logits are not dominated by the input token's own (tied) embedding.
        try tensor("token_embd.weight", rows: vocabularySize, cols: dim, type: embeddingType,
                   scale: 2 / Float(dim).squareRoot())  // (vocab, dim)
        for l in 0..<layers {
            let p = "blk.\(l)."
            try norm(p + "attn_norm.weight", dim)
            try tensor(p + "attn_q.weight", rows: qDim, cols: dim, type: matrixType, scale: 0.3)     // (qDim, dim)
            try tensor(p + "attn_k.weight", rows: kvDim, cols: dim, type: matrixType, scale: 0.3)    // (kvDim, dim)
            try tensor(p + "attn_v.weight", rows: kvDim, cols: dim, type: matrixType, scale: 0.3)    // (kvDim, dim)
            try norm(p + "attn_q_norm.weight", headDim)
            try norm(p + "attn_k_norm.weight", headDim)
            try tensor(p + "attn_output.weight", rows: dim, cols: qDim, type: matrixType, scale: 0.3) // (dim, qDim)
            try norm(p + "post_attention_norm.weight", dim)
            try norm(p + "ffn_norm.weight", dim)
            try tensor(p + "ffn_gate.weight", rows: ffn, cols: dim, type: matrixType, scale: 0.3)    // (ffn, dim)
            try tensor(p + "ffn_up.weight", rows: ffn, cols: dim, type: matrixType, scale: 0.3)      // (ffn, dim)
            try tensor(p + "ffn_down.weight", rows: dim, cols: ffn, type: matrixType, scale: 0.3)    // (dim, ffn)
            try norm(p + "post_ffw_norm.weight", dim)
        }
        try norm("output_norm.weight", dim)
        try w.write(to: path)
        return values
    }

    // MARK: reference forward pass

    /// The logits of the last token of `ids` from a straightforward double-precision forward pass (see
    /// ``referenceLogitsAll(_:weights:engineRounding:)``). The reference the engine's Session is compared against.
    package func referenceLogits(_ ids: [Int32], weights W: [String: [Float]], engineRounding: Bool = false) -> [Double] {
        let x = referenceHidden(ids, weights: W, engineRounding: engineRounding)
        return head(x[x.count - 1], weights: W)
    }

    /// The logits after every token of `ids` (row t: the prediction for position t + 1), for perplexity-style
    /// checks against `Session.evaluateAll`.
    ///
    /// The graph is llama.cpp's Gemma 3 (`llm_build_gemma3_iswa`), in Double throughout:
    /// `x = embd[id]·√dim`; per layer `h = rms(x)·attn_norm`; q/k/v projections; per-head `rms·attn_q_norm` /
    /// `rms·attn_k_norm`; NeoX RoPE (pairs (i, i + headDim/2), θ = pos·base^(−2i/headDim), base 10 000 on
    /// sliding-window layers, `ropeBase` on global ones); `q·1/√headDim`; causal softmax(q·k) (sliding-window
    /// layers: only t − j < window) over grouped-query heads; `x += rms(Wo·attn)·post_attention_norm`;
    /// `x += rms(Wdown·(gelu_tanh(Wgate·h')⊙Wup·h'))·post_ffw_norm` with `h' = rms(x)·ffn_norm`;
    /// logits = `token_embd · rms(x)·output_norm` (tied head, no softcapping).
    ///
    /// - Parameter engineRounding: round like llama.cpp's CPU backend (and EdgeLM's default f16 KV cache): the
    ///   scaled Q, K, V and the softmax weights to f16, and GELU through fp16 (`gelu(fp16(x))` rounded to fp16,
    ///   0 for x ≤ −10, x for x ≥ 10). Off: exact math (the default).
    package func referenceLogitsAll(_ ids: [Int32], weights W: [String: [Float]], engineRounding: Bool = false) -> [[Double]] {
        referenceHidden(ids, weights: W, engineRounding: engineRounding).map { head($0, weights: W) }
    }

    /// Tied output head: `token_embd · (rms(x)·output_norm)`. (vocab)
    private func head(_ x: [Double], weights W: [String: [Float]]) -> [Double] {
        let h = rms(x, W["output_norm.weight"]!)
        let emb = W["token_embd.weight"]!
        return (0..<vocabularySize).map { r in
            var s = 0.0
            for i in 0..<dim { s += Double(emb[r * dim + i]) * h[i] }
            return s
        }
    }

    /// `x / √(mean(x²) + ε) · w`.
    private func rms(_ x: ArraySlice<Double>, _ w: [Float]) -> [Double] {
        var ss = 0.0
        for v in x { ss += v * v }
        let s = 1 / (ss / Double(x.count) + Double(epsilon)).squareRoot()
        return zip(x, w).map { $0 * s * Double($1) }
    }

    private func rms(_ x: [Double], _ w: [Float]) -> [Double] { rms(x[...], w) }

    /// y (rows) = m (rows, cols) · x (cols).
    private func matvec(_ m: [Float], _ x: [Double], rows: Int) -> [Double] {
        let cols = x.count
        precondition(m.count == rows * cols, "TinyGemma: matrix of \(m.count) values is not \(rows)×\(cols)")
        return (0..<rows).map { r in
            var s = 0.0
            let base = r * cols
            for c in 0..<cols { s += Double(m[base + c]) * x[c] }
            return s
        }
    }

    /// gelu_tanh(x) = 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
    private static func gelu(_ x: Double) -> Double {
        0.5 * x * (1 + tanh((2 / Double.pi).squareRoot() * (x + 0.044715 * x * x * x)))
    }

    /// llama.cpp's CPU GELU (GGML_GELU_FP16): 0 for x ≤ −10, x for x ≥ 10, else fp16(gelu(fp16(x))).
    private static func geluF16(_ x: Double) -> Double {
        if x <= -10 { return 0 }
        if x >= 10 { return x }
        return f16(gelu(f16(x)))
    }

    private static func f16(_ x: Double) -> Double { Double(Float(Float16(Float(x)))) }

    /// The residual stream after the last layer at every position. (tokens, dim)
    private func referenceHidden(_ ids: [Int32], weights W: [String: [Float]], engineRounding: Bool) -> [[Double]] {
        let hd = headDim, half = headDim / 2, group = heads / kvHeads
        let round: (Double) -> Double = engineRounding ? { Self.f16($0) } : { $0 }
        let act: (Double) -> Double = engineRounding ? { Self.geluF16($0) } : { Self.gelu($0) }
        let emb = W["token_embd.weight"]!
        let embScale = Double(Float(dim).squareRoot())  // ggml_scale(inp, sqrtf(n_embd))
        var xs = ids.map { id in (0..<dim).map { Double(emb[Int(id) * dim + $0]) * embScale } }
        let T = ids.count

        /// NeoX RoPE of each `headDim` slice of `v` at position `pos`.
        func rope(_ v: inout [Double], headsN: Int, pos: Int, base: Double) {
            for h in 0..<headsN {
                for i in 0..<half {
                    let theta = Double(pos) * pow(base, -2 * Double(i) / Double(hd))
                    let a = v[h * hd + i], b = v[h * hd + i + half]
                    v[h * hd + i] = a * cos(theta) - b * sin(theta)
                    v[h * hd + i + half] = a * sin(theta) + b * cos(theta)
                }
            }
        }
        /// Per-head RMS norm of each `headDim` slice.
        func headNorm(_ v: [Double], headsN: Int, _ w: [Float]) -> [Double] {
            (0..<headsN).flatMap { h in rms(v[(h * hd)..<((h + 1) * hd)], w) }
        }

        for l in 0..<layers {
            let p = "blk.\(l)."
            let swa = isSlidingWindow(layer: l)
            let base = swa ? Self.slidingRopeBase : Double(ropeBase)
            let wq = W[p + "attn_q.weight"]!, wk = W[p + "attn_k.weight"]!, wv = W[p + "attn_v.weight"]!
            let qNorm = W[p + "attn_q_norm.weight"]!, kNorm = W[p + "attn_k_norm.weight"]!
            let qScale = 1 / Double(hd).squareRoot()  // f_attention_scale = 1/√n_embd_head_k; kq_scale 1
            // Queries, keys and values of every position (keys/values as the cache holds them).
            var qs: [[Double]] = [], ks: [[Double]] = [], vs: [[Double]] = []
            for t in 0..<T {
                let h = rms(xs[t], W[p + "attn_norm.weight"]!)
                var q = headNorm(matvec(wq, h, rows: qDim), headsN: heads, qNorm)     // (qDim)
                var k = headNorm(matvec(wk, h, rows: kvDim), headsN: kvHeads, kNorm)  // (kvDim)
                let v = matvec(wv, h, rows: kvDim)                                    // (kvDim)
                rope(&q, headsN: heads, pos: t, base: base)
                rope(&k, headsN: kvHeads, pos: t, base: base)
                qs.append(q.map { round($0 * qScale) })
                ks.append(k.map(round))
                vs.append(v.map(round))
            }
            for t in 0..<T {
                let first = swa ? max(0, t - slidingWindow + 1) : 0  // visible: first…t
                var att = [Double](repeating: 0, count: qDim)        // (qDim)
                for hh in 0..<heads {
                    let kvh = hh / group
                    let scores = (first...t).map { j in
                        var s = 0.0
                        for i in 0..<hd { s += qs[t][hh * hd + i] * ks[j][kvh * hd + i] }
                        return s
                    }
                    let m = scores.max()!
                    let e = scores.map { exp($0 - m) }
                    let sum = e.reduce(0, +)
                    for (n, j) in (first...t).enumerated() {
                        let pj = round(e[n] / sum)
                        for i in 0..<hd { att[hh * hd + i] += pj * vs[j][kvh * hd + i] }
                    }
                }
                let o = rms(matvec(W[p + "attn_output.weight"]!, att, rows: dim), W[p + "post_attention_norm.weight"]!)
                for i in 0..<dim { xs[t][i] += o[i] }

                let h = rms(xs[t], W[p + "ffn_norm.weight"]!)
                let g = matvec(W[p + "ffn_gate.weight"]!, h, rows: ffn), u = matvec(W[p + "ffn_up.weight"]!, h, rows: ffn)
                let a = (0..<ffn).map { act(g[$0]) * u[$0] }                          // (ffn)
                let d = rms(matvec(W[p + "ffn_down.weight"]!, a, rows: dim), W[p + "post_ffw_norm.weight"]!)
                for i in 0..<dim { xs[t][i] += d[i] }
            }
        }
        return xs
    }
}
