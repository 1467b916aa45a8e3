// Memory budgets: what a session keeps resident (MemoryBreakdown), the cap it must fit (MemoryBudget), the
// typed refusal with the cheapest fix (MemoryBudgetError), and the page releaser of streamed weights.

import EdgeLMEssentials
import GGUF
import Kernels
@_exported import DeviceProfiles

/// Bytes a session keeps resident, by owner. `kvCache` and `scratch` are exact (``Session/Layout``);
/// the rest are estimates documented on each field.
public struct MemoryBreakdown: Sendable, Equatable, CustomStringConvertible {
    /// Resident weight pages: all tensor bytes (resident), or the streaming window (largest layer or
    /// output-head chunk, plus fault-around slack) when streamed.
    public var weights: Int
    /// K and V caches, `2 · layers · ctxPad · rowBytes(kvDim)` bytes (f16: `kvDim · 2`, q8_0: `kvDim/32 · 34`,
    /// q4_0: `kvDim/32 · 18`). The most the paged cache can keep resident; it grows to it with use.
    public var kvCache: Int
    /// Activations, quantized activations, attention scores, logits, RoPE cache.
    public var scratch: Int
    /// Tokenizer tables (estimate from vocabulary and merge counts) plus the GGUF header/metadata pages
    /// read at load.
    public var tokenizer: Int
    /// Resident part of the worker threads' stacks (estimate).
    public var threadStacks: Int
    /// The process's own baseline (Swift runtime, Foundation, code pages), measured on Linux x86_64.
    public var runtime: Int
    /// The session's share of a ``PrefixCache`` (``SessionOptions/prefixCacheBytes``), exact: the cache never
    /// holds more.
    public var prefixCache: Int

    public init(weights: Int, kvCache: Int, scratch: Int, tokenizer: Int, threadStacks: Int, runtime: Int,
                prefixCache: Int = 0) {
        self.weights = weights; self.kvCache = kvCache; self.scratch = scratch
        self.tokenizer = tokenizer; self.threadStacks = threadStacks; self.runtime = runtime
        self.prefixCache = prefixCache
    }

    /// The sum of every part.
    public var total: Int { weights + kvCache + scratch + tokenizer + threadStacks + runtime + prefixCache }

    /// The bytes each additional concurrent session adds (KV cache, scratch, its threads' stacks): sessions
    /// share the weights, the tokenizer and the process.
    public var perSession: Int { kvCache + scratch + threadStacks }

    /// The total for `n` concurrent sessions of this shape (one prefix cache shared by all).
    public func total(sessions n: Int) -> Int { total + max(0, n - 1) * perSession }

    public var description: String {
        let f = ByteCount.format
        return "total \(f(total)) = weights \(f(weights)) + KV \(f(kvCache)) + scratch \(f(scratch)) + tokenizer \(f(tokenizer)) + threads \(f(threadStacks)) + runtime \(f(runtime))" + (prefixCache > 0 ? " + prefix cache \(f(prefixCache))" : "")
    }

    /// Tokenizer tables: ~96 B per vocabulary entry (string, id maps, score, type) and ~80 B per merge
    /// (pair key and rank), plus the header/metadata bytes of the file (parsed at load, stays mapped).
    static func tokenizerEstimate(model: Model) -> Int {
        let merges = (try? model.file.metadata.arrayCount(GGUFKey.merges)) ?? 0
        return model.config.vocabularySize * 96 + merges * 80 + model.file.dataOffset
    }

    /// Worker stacks: the pool starts `threads - 1` pthreads; ~128 KiB of each stack gets touched. Plus the
    /// per-thread tile scratch every participating thread (the caller too) keeps for packed operands
    /// (`MatMul.threadScratchBytes`, for the widest matrix at the prefill batch).
    static func threadEstimate(model: Model, threads: Int, batch: Int) -> Int {
        let tile = model.file.tensors.reduce(0) {
            max($0, MatMul.threadScratchBytes(type: $1.type, cols: $1.cols, tokens: max(batch, 2)))
        }
        return max(0, threads - 1) * 128 * 1024 + max(1, threads) * tile
    }
}

/// A cap on the bytes a session may keep resident.
public struct MemoryBudget: Sendable, Equatable {
    /// The cap, in bytes.
    public var cap: Int
    /// The process baseline counted against the cap (see ``defaultRuntimeBytes``).
    public var runtimeBytes: Int

    /// Peak RSS of the `edgelm` process before a model is opened (Swift runtime, Foundation, libc, code pages),
    /// measured with VmHWM on Linux x86_64 (docs/memory.md), rounded up.
    public static let defaultRuntimeBytes = 28 << 20

    public init(cap: Int, runtimeBytes: Int = MemoryBudget.defaultRuntimeBytes) {
        self.cap = cap
        self.runtimeBytes = runtimeBytes
    }

    /// Throws unless a session with `options` on `model` fits the cap.
    /// - Throws: ``MemoryBudgetError/exceeds(needed:cap:suggestion:)`` with the cheapest fix.
    /// - Complexity: O(layers · log(context)) (a binary search over the context for the suggestion).
    public func check(model: Model, options: SessionOptions) throws {
        var o = options
        o.memoryBudget = self
        let needed = try Session.memoryRequirement(model: model, options: o).total
        guard needed > cap else { return }
        throw MemoryBudgetError.exceeds(needed: needed, cap: cap, suggestion: suggestion(model: model, options: o))
    }

    /// The cheapest change that makes `options` fit, trying in order: fewer threads, a q8_0 KV cache (keeps the
    /// context; logits within the stated tolerance, docs/memory.md), a smaller context (the largest that
    /// fits), streamed weights, streamed weights with a smaller context; else the cap to ask for.
    public func suggestion(model: Model, options: SessionOptions) -> MemoryBudgetSuggestion {
        func total(_ o: SessionOptions) -> Int { (try? Session.memoryRequirement(model: model, options: o).total) ?? .max }
        var o = options
        o.memoryBudget = self
        if o.threads > 1 {
            var t = o; t.threads = 1
            if total(t) <= cap { return .fewerThreads(maxThreads: maxFitting(1, o.threads - 1) { var x = o; x.threads = $0; return total(x) }) }
        }
        if o.kvType == .f16 {
            var q = o; q.kvType = .q8_0
            if total(q) <= cap { return .quantizedKV(.q8_0) }
        }
        let ctx = o.contextLength ?? min(model.config.contextLength, 4096)
        func maxContext(_ base: SessionOptions) -> Int? {
            var m = base; m.contextLength = 1
            guard total(m) <= cap else { return nil }
            return maxFitting(1, ctx) { var x = base; x.contextLength = $0; return total(x) }
        }
        if let c = maxContext(o) { return .smallerContext(maxContext: c) }
        if o.residency == .resident {
            var s = o; s.residency = .streamed
            if total(s) <= cap { return .streamedWeights }
            if let c = maxContext(s) { return .streamedWeightsAndContext(maxContext: c) }
        }
        var minimal = o; minimal.residency = .streamed; minimal.contextLength = min(ctx, 256); minimal.threads = 1
        minimal.batchSize = 1
        return .raiseCap(minimum: total(minimal), context: min(ctx, 256))
    }

    /// Largest x in lo...hi with cost(x) ≤ cap (cost is monotone), given cost(lo) ≤ cap.
    private func maxFitting(_ lo: Int, _ hi: Int, _ cost: (Int) -> Int) -> Int {
        var lo = lo, hi = hi
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if cost(mid) <= cap { lo = mid } else { hi = mid - 1 }
        }
        return lo
    }
}

/// The cheapest change that makes a session fit its budget.
public enum MemoryBudgetSuggestion: Sendable, Equatable, CustomStringConvertible {
    /// Use at most this many threads.
    case fewerThreads(maxThreads: Int)
    /// Use a quantized KV cache of this type (`--kv-type`, profile `kv_type`).
    case quantizedKV(KVCacheType)
    /// Use a context of at most this many tokens (the exact maximum that fits).
    case smallerContext(maxContext: Int)
    /// Stream the weights (`--residency streamed` / a profile with `weight_residency: streamed`).
    case streamedWeights
    /// Stream the weights and use a context of at most this many tokens.
    case streamedWeightsAndContext(maxContext: Int)
    /// Run at most this many concurrent sequences (``EngineOptions/maxSequences``, `--max-sessions`).
    case fewerSequences(maxSequences: Int)
    /// Nothing fits: this is the smallest footprint (streamed, 1 thread, batch 1, `context` tokens).
    case raiseCap(minimum: Int, context: Int)

    public var description: String {
        switch self {
        case .fewerThreads(let t): return "use at most \(t) thread\(t == 1 ? "" : "s")"
        case .quantizedKV(let t): return "use a \(t.rawValue) KV cache (--kv-type \(t.rawValue))"
        case .smallerContext(let c): return "use a context of at most \(c) tokens (--ctx \(c))"
        case .streamedWeights: return "stream the weights (weight_residency: streamed)"
        case .streamedWeightsAndContext(let c): return "stream the weights and use a context of at most \(c) tokens"
        case .fewerSequences(let n): return "run at most \(n) concurrent sequence\(n == 1 ? "" : "s")"
        case .raiseCap(let m, let c): return "raise the memory cap to at least \(ByteCount.format(m)) (\(m) bytes; streamed weights, 1 thread, context \(c))"
        }
    }
}

/// A session that would not fit its memory budget.
public enum MemoryBudgetError: Error, Equatable, CustomStringConvertible {
    /// The session needs `needed` bytes but the cap is `cap`; `suggestion` is the cheapest fix.
    case exceeds(needed: Int, cap: Int, suggestion: MemoryBudgetSuggestion)

    public var description: String {
        switch self {
        case .exceeds(let n, let c, let s):
            return "the session needs \(ByteCount.format(n)) (\(n) bytes) but the memory cap is \(ByteCount.format(c)) (\(c) bytes) (hint: \(s))"
        }
    }
}

/// Releases the pages of weights that were just used (``WeightResidency/streamed``): each layer's tensors
/// after the layer, each token embedding row after its lookup, the output head in row chunks during the
/// logits product, and the metadata once the model is parsed. Only `madvise(MADV_DONTNEED)` on the
/// read-only file mapping: the bytes read are the file's either way, so logits are unchanged. Inert for
/// models parsed from memory (a heap copy must never be dropped).
///
/// Releases are widened to whole ``folioBytes`` blocks of the file: since Linux 6.18 a read fault maps the
/// whole large page-cache folio it hits (up to 2 MiB when the file was read with readahead, e.g. just
/// downloaded), so touching the first byte of a layer also maps the tail of the previous one. Released
/// exactly, those tails would stay resident for good (measured: +23 MiB over 30 layers).
final class WeightStreamer {
    /// Rows of the output head per chunk: about this many bytes.
    static let headChunkBytes = 2 << 20
    /// The largest block the kernel maps on one fault of a file mapping: a PMD-sized page-cache folio
    /// (2 MiB with 4 KiB pages), aligned in the file. Also the fault-around slack on each side of a range.
    static let folioBytes = 2 << 20

    private let layerRanges: [(UnsafeRawPointer, Int)]
    private let head: [(matrix: WeightMatrix, row: Int)]
    private let tail: [(UnsafeRawPointer, Int)]      // output norm and other non-layer tensors
    private let enabled: Bool
    private let fileBase: Int                           // address of file offset 0
    private let fileSize: Int

    init(model: Model) {
        enabled = model.file.path != "<memory>"
        let file = model.file, w = model.weights
        fileSize = file.fileSize
        fileBase = file.tensors.first.map { Int(bitPattern: $0.data) - $0.fileOffset } ?? 0
        layerRanges = Self.layerTensors(model).map(Self.span)
        tail = [Self.span(file.tensors.filter { !$0.name.hasPrefix("blk.") })]
        let out = w.output
        let rowsPerChunk = Self.headRowsPerChunk(out)
        var chunks: [(matrix: WeightMatrix, row: Int)] = []
        var r = 0
        while r < out.rows {
            let n = min(rowsPerChunk, out.rows - r)
            // Same type and cols as a validated matrix, so this cannot fail.
            let m = try! WeightMatrix(type: out.type, rows: n, cols: out.cols, data: out.data + r * out.rowBytes)
            chunks.append((m, r))
            r += n
        }
        head = chunks
        // The tokenizer built its tables from the metadata at load; a session reads it no more (a later
        // reader, e.g. a manifest fingerprint, simply re-faults the pages).
        release(UnsafeRawPointer(bitPattern: fileBase), file.dataOffset)
    }

    /// Bytes resident at the peak of a streamed forward pass: the largest layer (or head chunk) plus a whole
    /// folio mapped past each of its ends (embedding rows are looked up and released one at a time, in a
    /// phase of their own).
    static func window(model: Model) -> Int {
        var largest = layerTensors(model).map { $0.reduce(0) { $0 + $1.byteCount } }.max() ?? 0
        let out = model.weights.output
        let rowsPerChunk = headRowsPerChunk(out)
        largest = max(largest, rowsPerChunk * out.rowBytes)
        return min(model.weightBytes, largest + 2 * folioBytes)
    }

    /// Rows of the output head per chunk: a multiple of 4 of at most ``headChunkBytes``, and at least 4 chunks.
    static func headRowsPerChunk(_ out: WeightMatrix) -> Int {
        let byBytes = headChunkBytes / out.rowBytes / 4 * 4
        let byCount = (out.rows + 15) / 16 * 4
        return max(4, min(byBytes, byCount))
    }

    /// The tensors of each layer (`blk.N.*`), in layer order.
    private static func layerTensors(_ model: Model) -> [[GGUFTensor]] {
        (0..<model.config.blockCount).map { l in model.file.tensors.filter { $0.name.hasPrefix("blk.\(l).") } }
    }

    private static func span(_ ts: [GGUFTensor]) -> (UnsafeRawPointer, Int) {
        guard let lo = ts.map(\.data).min(), let hi = ts.map({ $0.data + $0.byteCount }).max() else {
            return (UnsafeRawPointer(bitPattern: 64)!, 0)
        }
        return (lo, hi - lo)
    }

    /// `madvise(DONTNEED)` on `[p, p + n)` widened to whole ``folioBytes`` blocks of the file (clipped to
    /// the file): a read-only mapping, so a dropped page is re-read from the page cache on the next touch;
    /// widening may drop a neighbour's pages early, never change a byte read.
    private func release(_ p: UnsafeRawPointer?, _ n: Int) {
        guard enabled, let p, n > 0 else { return }
        let lo = Int(bitPattern: p) - fileBase, hi = lo + n
        let start = max(0, lo / Self.folioBytes * Self.folioBytes)
        let end = min(fileSize, (hi + Self.folioBytes - 1) / Self.folioBytes * Self.folioBytes)
        guard end > start else { return }
        _ = madvise(UnsafeMutableRawPointer(bitPattern: fileBase + start), end - start, Int32(MADV_DONTNEED))
    }

    /// Releases one token embedding row right after its lookup: a fault on it maps a whole folio, so a batch
    /// of lookups released together would hold a folio per token.
    func releaseEmbeddingRow(_ row: UnsafeRawPointer, _ bytes: Int) { release(row, bytes) }
    func releaseLayer(_ l: Int) { release(layerRanges[l].0, layerRanges[l].1) }
    func releaseOutput() {
        for chunk in head { release(chunk.matrix.data, chunk.matrix.rows * chunk.matrix.rowBytes) }
        for t in tail { release(t.0, t.1) }
    }

    /// logits (vocab) = head · x (dim) for one token, chunk by chunk, each chunk released after use. Every
    /// output element is the same `Dot.row` as the whole-matrix product (MatMul's contract), so the logits
    /// are bit-identical to the resident path.
    func outputHead(_ x: UnsafePointer<Float>, _ logits: UnsafeMutablePointer<Float>, tokens n: Int = 1,
                    scratch: UnsafeMutableRawPointer, pool: ThreadPool) {
        guard let first = head.first?.matrix else { return }
        let cols = first.cols, vocab = head.reduce(0) { $0 + $1.matrix.rows }
        let act: UnsafeRawPointer, actRowBytes: Int
        if first.vecDotType == .f32 {
            act = UnsafeRawPointer(x)
            actRowBytes = cols * MemoryLayout<Float>.stride
        } else {
            MatMul.quantizeActivations(x, tokens: n, cols: cols, as: first.vecDotType, into: scratch, pool: pool)
            act = UnsafeRawPointer(scratch)
            actRowBytes = first.vecDotType.rowBytes(cols)!
        }
        // Chunk outer, token inner: each chunk is resident once for every token, then released.
        for chunk in head {
            for t in 0..<n {
                MatMul.mulQuantized(chunk.matrix, act + t * actRowBytes, tokens: 1, logits + t * vocab + chunk.row, pool: pool)
            }
            release(chunk.matrix.data, chunk.matrix.rows * chunk.matrix.rowBytes)
        }
        for t in tail { release(t.0, t.1) }
    }
}
