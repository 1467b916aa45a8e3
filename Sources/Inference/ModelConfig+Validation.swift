// ModelConfig+Validation: hyperparameters checked against sane limits and against the file's tensor table,
// before anything is allocated from them (a hostile `block_count` must not size an allocation).

import GGUF

extension ModelConfig {
    /// Upper bounds on hyperparameters. Generous (10× beyond current open models) but small enough that
    /// no table sized from them can exhaust memory before the tensors are checked.
    public enum Limits {
        /// Layers (`block_count`). Largest open models have ~128.
        public static let maxBlockCount = 4096
        /// `embedding_length`, `feed_forward_length`, `key_length`, q/kv widths.
        public static let maxDimension = 1 << 20
        /// `head_count`, `head_count_kv`.
        public static let maxHeadCount = 1 << 14
        /// Vocabulary entries.
        public static let maxVocabularySize = 1 << 24
        /// Trained context (`context_length`).
        public static let maxContextLength = 1 << 24
    }

    /// Checks every hyperparameter against ``Limits`` and against `file`:
    ///
    /// - every dimension positive and within ``Limits`` (q and kv widths included);
    /// - `block_count` equals the number of distinct `blk.N.` indices in the tensor table, and those are
    ///   exactly `0..<block_count` (a file claiming 8 of its 30 layers, or 2^31, is refused);
    /// - `layer_norm_rms_epsilon` and `rope.freq_base` finite and > 0; `rope.scaling.factor`, when present,
    ///   finite and ≥ 1.
    ///
    /// Call it right after ``init(metadata:architecture:vocabularySize:)`` and before any weight table is
    /// built. - Complexity: O(tensor count); allocates only a set of layer indices bounded by the table.
    /// - Throws: ``InferenceError/invalidHyperparameter(_:)`` naming the key, its value and the limit.
    public func validate(file: GGUFFile) throws {
        let arch = SafeText.quote(architecture)
        func check(_ name: String, _ v: Int, _ limit: Int) throws {
            guard v >= 1, v <= limit else {
                throw InferenceError.invalidHyperparameter("\(arch).\(name) is \(v), must be in 1...\(limit)")
            }
        }
        try check("block_count", blockCount, Limits.maxBlockCount)
        try check("context_length", contextLength, Limits.maxContextLength)
        try check("embedding_length", embeddingLength, Limits.maxDimension)
        try check("feed_forward_length", feedForwardLength, Limits.maxDimension)
        try check("attention.head_count", headCount, Limits.maxHeadCount)
        try check("attention.head_count_kv", headCountKV, Limits.maxHeadCount)
        try check("attention.key_length", headDim, Limits.maxDimension)
        try check("attention.value_length", valueDim, Limits.maxDimension)
        try check("vocab_size", vocabularySize, Limits.maxVocabularySize)
        // Products stay far from overflow: ≤ 2^14 · 2^20 each.
        try check("head_count × key_length", qDim, Limits.maxDimension)
        try check("head_count_kv × key_length", kvDim, Limits.maxDimension)
        guard ropeDimensionCount >= 0 else {
            throw InferenceError.invalidHyperparameter("\(arch).rope.dimension_count is \(ropeDimensionCount), must be ≥ 0")
        }
        guard rmsNormEpsilon.isFinite, rmsNormEpsilon > 0 else {
            throw InferenceError.invalidHyperparameter(
                "\(arch).attention.layer_norm_rms_epsilon is \(rmsNormEpsilon), must be finite and > 0")
        }
        guard ropeFreqBase.isFinite, ropeFreqBase > 0 else {
            throw InferenceError.invalidHyperparameter("\(arch).rope.freq_base is \(ropeFreqBase), must be finite and > 0")
        }
        if let factor = try? file.metadata.float(GGUFKey.ropeScalingFactor(architecture)) {
            guard factor.isFinite, factor >= 1 else {
                throw InferenceError.invalidHyperparameter("\(arch).rope.scaling.factor is \(factor), must be finite and ≥ 1")
            }
        }
        try Self.checkLayers(file: file, blockCount: blockCount, arch: arch)
    }

    /// The layer indices named by `blk.N.` tensors must be exactly `0..<blockCount`.
    static func checkLayers(file: GGUFFile, blockCount: Int, arch: String) throws {
        var seen = Set<Int>()
        for t in file.tensors {
            guard let i = layerIndex(t.name) else { continue }
            guard i < blockCount else {
                throw InferenceError.invalidHyperparameter(
                    "tensor '\(SafeText.quote(t.name))' is layer \(i) but \(arch).block_count is \(blockCount)")
            }
            seen.insert(i)
        }
        guard seen.count == blockCount else {
            let missing = (0..<blockCount).first { !seen.contains($0) } ?? 0
            throw InferenceError.invalidHyperparameter(
                "\(arch).block_count is \(blockCount) but the tensor table has \(seen.count) layer(s)"
                    + " (no tensors for layer \(missing)); the file is corrupted or its metadata was edited")
        }
    }

    /// N of a `blk.N.…` tensor name (decimal, at most 9 digits), or nil for other names.
    static func layerIndex(_ name: String) -> Int? {
        let u = Array(name.utf8.prefix(24))
        guard u.count > 4, u[0] == UInt8(ascii: "b"), u[1] == UInt8(ascii: "l"), u[2] == UInt8(ascii: "k"),
            u[3] == UInt8(ascii: ".")
        else { return nil }
        var i = 4, n = 0
        while i < u.count, i < 13, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(u[i]) {
            n = n * 10 + Int(u[i] - UInt8(ascii: "0"))
            i += 1
        }
        // Any other `blk.` name (no digits, too many digits, no dot) is reported as an impossible layer.
        guard i > 4, i < u.count, u[i] == UInt8(ascii: ".") else { return Int.max }
        return n
    }

    /// The longest context a session may use with this model: the trained `context_length`, times
    /// `rope.scaling.factor` when the file declares a RoPE scaling type other than `none` (capped by
    /// ``Limits/maxContextLength``).
    public func maximumContextLength(file: GGUFFile) -> Int {
        let type = (try? file.metadata.string(GGUFKey.ropeScalingType(architecture))) ?? "none"
        guard type != "none", let f = try? file.metadata.float(GGUFKey.ropeScalingFactor(architecture)),
            f.isFinite, f > 1
        else { return contextLength }
        let scaled = Double(contextLength) * Double(f)
        return scaled >= Double(Limits.maxContextLength) ? Limits.maxContextLength : Int(scaled)
    }
}
