import GGUF

/// A read-only view of a 2-D weight tensor: `rows` rows of `cols` elements in a ggml format, row-major and
/// densely packed (`rowBytes` apart), e.g. straight from a `GGUFTensor` (`rows = shape[1]`, `cols = shape[0]`).
///
/// The data is not copied or retained: it must stay valid (e.g. the `GGUFFile` alive) while in use.
public struct WeightMatrix: @unchecked Sendable {
    public let type: GGMLType
    public let rows: Int
    public let cols: Int
    public let data: UnsafeRawPointer
    /// Bytes per row (`type.rowBytes(cols)`).
    public let rowBytes: Int

    /// - Throws: `KernelError.unsupportedType` when no kernel exists for `type`; `KernelError.invalidCount`
    ///   when `cols` is not a positive multiple of the block size or `rows` is not positive.
    public init(type: GGMLType, rows: Int, cols: Int, data: UnsafeRawPointer) throws {
        guard MatMul.vecDotType(for: type) != nil else { throw KernelError.unsupportedType(type.name) }
        guard cols > 0, cols % type.blockSize == 0, let rowBytes = type.rowBytes(cols) else {
            throw KernelError.invalidCount(type: type.name, count: cols, blockSize: type.blockSize)
        }
        guard rows > 0 else { throw KernelError.invalidCount(type: "row count of \(type.name)", count: rows, blockSize: 1) }
        self.type = type
        self.rows = rows
        self.cols = cols
        self.data = data
        self.rowBytes = rowBytes
    }

    /// The activation format llama.cpp pairs with this weight type (ggml `vec_dot_type`): Q8_0 for
    /// Q4_0/Q5_0/Q8_0, Q8_1 for Q4_1/Q5_1, Q8_K for K-quants, F16 for F16, F32 for F32 and BF16.
    public var vecDotType: GGMLType { MatMul.vecDotType(for: type)! }

    /// Total bytes of the weights.
    public var byteCount: Int { rows * rowBytes }
}

/// Matrix products of a weight matrix with activation rows: `y (tokens, rows) = x (tokens, cols) · wᵀ`.
///
/// Decode (`tokens == 1`) runs a matrix–vector kernel that walks 4 weight rows per pass (one activation
/// load feeds 4 rows); prefill (`tokens > 1`) runs register tiles: on x86-64 1 row × 8 tokens over activations
/// packed once per 8-token group, a group of n < 8 tokens (several sequences' decode rows, the end of a chunk)
/// in a copy of the tile specialised for n (no padded work); elsewhere 2 rows × 4 tokens (Q4_1: 1 × n too).
/// Work is split across the pool by rows in chunks of a multiple of 4. Every output
/// element is computed by exactly the float operations of `Dot.row`, so results are bit-identical to a
/// per-row dot loop and independent of the thread count.
public enum MatMul {
    /// Activation format for a weight type, or nil when the type has no kernel.
    public static func vecDotType(for type: GGMLType) -> GGMLType? {
        switch type {
        case .q4_0, .q5_0, .q8_0: return .q8_0
        case .q4_1, .q5_1: return .q8_1
        case .q4_K, .q5_K, .q6_K: return .q8_K
        case .f16: return .f16
        case .f32, .bf16: return .f32
        default: return nil
        }
    }

    /// Bytes of scratch needed to hold `tokens` rows of `w.cols` activations in `w.vecDotType`.
    public static func activationBytes(for w: WeightMatrix, tokens: Int) -> Int {
        tokens * w.vecDotType.rowBytes(w.cols)!
    }

    /// Converts `x (tokens, cols)` into `scratch (tokens, rowBytes)` in `type` (Q8_0, Q8_1, Q8_K, F16 or F32).
    /// Quantize once and reuse for every matrix that shares `cols` and the activation type.
    /// - Complexity: O(tokens · cols); rows are spread over the pool when there are 16 or more; no allocation.
    public static func quantizeActivations(_ x: UnsafePointer<Float>, tokens: Int, cols: Int, as type: GGMLType,
                                           into scratch: UnsafeMutableRawPointer, pool: ThreadPool) {
        guard let rowBytes = type.rowBytes(cols) else {
            preconditionFailure("MatMul.quantizeActivations: \(cols) is not a multiple of \(type.name) blocks")
        }
        // A few rows (sequences decoding together) take ~1 µs each: less than handing them to the pool.
        if tokens >= 16 && pool.threadCount > 1 {
            pool.parallelFor(tokens) { t in
                quantizeRow(x + t * cols, scratch + t * rowBytes, cols: cols, as: type)
            }
        } else {
            for t in 0..<tokens { quantizeRow(x + t * cols, scratch + t * rowBytes, cols: cols, as: type) }
        }
    }

    /// Converts one activation row (`cols` floats) into `type`.
    public static func quantizeRow(_ x: UnsafePointer<Float>, _ y: UnsafeMutableRawPointer, cols: Int,
                                   as type: GGMLType) {
        switch type {
        case .q8_0: Quantize.q8_0(x, y, count: cols)
        case .q8_1: Quantize.q8_1(x, y, count: cols)
        case .q8_K: Quantize.q8_K(x, y, count: cols)
        case .f16:
            let h = y.assumingMemoryBound(to: Float16.self)
            for i in 0..<cols { h[i] = Float16(x[i]) }
        case .f32:
            if UnsafeRawPointer(x) != UnsafeRawPointer(y) { y.copyMemory(from: x, byteCount: cols * 4) }
        default: preconditionFailure("MatMul.quantizeRow: \(type.name) is not an activation format")
        }
    }

    /// `y (tokens, w.rows) = xq (tokens, w.cols) · wᵀ` with activations already in `w.vecDotType`
    /// (`xq` rows are `w.vecDotType.rowBytes(w.cols)` apart).
    /// - Complexity: O(tokens · rows · cols); no allocation.
    /// - Parameter groups: how the rows divide into sequences (K-quant kernel orders are picked per group).
    public static func mulQuantized(_ w: WeightMatrix, _ xq: UnsafeRawPointer, tokens: Int,
                                    _ y: UnsafeMutablePointer<Float>, groups: RowGroups = .single, pool: ThreadPool) {
        precondition(tokens >= 0, "MatMul.mulQuantized: negative token count")
        if tokens == 0 { return }
        let chunk = rowChunk(rows: w.rows, tokens: tokens, threads: pool.threadCount)
        let tasks = (w.rows + chunk - 1) / chunk
        pool.parallelFor(tasks) { task in
            let lower = task * chunk
            let range = lower..<min(w.rows, lower + chunk)
            mulRows(w, xq, tokens: tokens, y, rows: range, groups: groups)
        }
    }

    /// Up to three matrices that read the same activations (Q/K/V, or gate/up) in one parallel dispatch:
    /// `ya = xq · aᵀ`, `yb = xq · bᵀ`, `yc = xq · cᵀ`. One barrier instead of three; each output element is
    /// computed exactly as by `mulQuantized` (bit-identical). All matrices must share `cols` and `vecDotType`.
    /// - Complexity: O(tokens · Σ rows · cols); no allocation.
    public static func mulQuantized(_ a: WeightMatrix, _ ya: UnsafeMutablePointer<Float>,
                                    _ b: WeightMatrix, _ yb: UnsafeMutablePointer<Float>,
                                    _ c: WeightMatrix? = nil, _ yc: UnsafeMutablePointer<Float>? = nil,
                                    activations xq: UnsafeRawPointer, tokens: Int, groups: RowGroups = .single,
                                    pool: ThreadPool) {
        precondition(tokens >= 0, "MatMul.mulQuantized: negative token count")
        precondition(a.cols == b.cols && a.vecDotType == b.vecDotType
                     && (c.map { $0.cols == a.cols && $0.vecDotType == a.vecDotType } ?? true)
                     && (c == nil) == (yc == nil), "MatMul.mulQuantized: matrices must share cols and activation type")
        if tokens == 0 { return }
        let rowsC = c?.rows ?? 0
        let chunk = rowChunk(rows: a.rows + b.rows + rowsC, tokens: tokens, threads: pool.threadCount)
        let tasksA = (a.rows + chunk - 1) / chunk, tasksB = (b.rows + chunk - 1) / chunk
        let tasksC = (rowsC + chunk - 1) / chunk
        pool.parallelFor(tasksA + tasksB + tasksC) { task in
            if task < tasksA {
                let lower = task * chunk
                mulRows(a, xq, tokens: tokens, ya, rows: lower..<min(a.rows, lower + chunk), groups: groups)
            } else if task < tasksA + tasksB {
                let lower = (task - tasksA) * chunk
                mulRows(b, xq, tokens: tokens, yb, rows: lower..<min(b.rows, lower + chunk), groups: groups)
            } else if let c, let yc {
                let lower = (task - tasksA - tasksB) * chunk
                mulRows(c, xq, tokens: tokens, yc, rows: lower..<min(c.rows, lower + chunk), groups: groups)
            }
        }
    }

    /// Convenience: quantize `x (tokens, w.cols)` into `scratch` (at least `activationBytes(for:tokens:)`
    /// bytes) then multiply. F32/BF16 weights read `x` directly and leave `scratch` untouched.
    public static func mul(_ w: WeightMatrix, _ x: UnsafePointer<Float>, tokens: Int, _ y: UnsafeMutablePointer<Float>,
                           scratch: UnsafeMutableRawPointer, groups: RowGroups = .single, pool: ThreadPool) {
        let type = w.vecDotType
        if type == .f32 {
            mulQuantized(w, UnsafeRawPointer(x), tokens: tokens, y, groups: groups, pool: pool)
            return
        }
        quantizeActivations(x, tokens: tokens, cols: w.cols, as: type, into: scratch, pool: pool)
        mulQuantized(w, UnsafeRawPointer(scratch), tokens: tokens, y, groups: groups, pool: pool)
    }

    /// Rows per task: a multiple of 4, about 4 tasks per thread (dynamic hand-out balances a shared CPU).
    static func rowChunk(rows: Int, tokens: Int, threads: Int) -> Int {
        if threads <= 1 { return max(4, (rows + 3) / 4 * 4) }
        let target = (rows + threads * 4 - 1) / (threads * 4)
        return max(4, (target + 3) / 4 * 4)
    }

    /// The plain per-row reference: `y[t, r] = Dot.row(w.type, row r, x row t)` in the order llama.cpp uses for
    /// that row (``dotOrder(type:rows:token:tokens:)``). Single-threaded.
    public static func mulQuantized_reference(_ w: WeightMatrix, _ xq: UnsafeRawPointer, tokens: Int,
                                              _ y: UnsafeMutablePointer<Float>, groups: RowGroups = .single) {
        let xBytes = w.vecDotType.rowBytes(w.cols)!
        var group = 0, groupStart = 0
        for t in 0..<tokens {
            if t - groupStart == groups.length(group, tokens: tokens) { groupStart = t; group += 1 }
            let order = dotOrder(type: w.type, rows: w.rows, token: t - groupStart,
                                 tokens: groups.length(group, tokens: tokens))
            for r in 0..<w.rows {
                y[t * w.rows + r] = Dot.row(w.type, w.data + r * w.rowBytes, xq + t * xBytes, count: w.cols, order: order)
            }
        }
    }
}

/// How the activation rows of one product divide into independent sequences (consecutive groups of rows).
///
/// llama.cpp picks a K-quant kernel — and so a float summation order — by the number of rows in the batch
/// (``MatMul/dotOrder(type:rows:token:tokens:)``). In a step that evaluates several sequences together, each
/// row takes the order it would take in its own sequence's batch, so every sequence's logits are
/// bit-identical to evaluating it alone. Other formats have one order and ignore the groups.
public struct RowGroups: @unchecked Sendable {
    /// Rows per group, in row order; nil: one group of every row.
    public let lengths: UnsafePointer<Int32>?
    /// Number of groups (when `lengths` is set).
    public let count: Int

    /// Every row in one group (a single sequence).
    public static let single = RowGroups(lengths: nil, count: 1)

    /// - Parameter lengths: `count` positive row counts summing to the product's `tokens`; must stay valid
    ///   during the product.
    public init(lengths: UnsafePointer<Int32>?, count: Int) {
        self.lengths = lengths
        self.count = count
    }

    /// Rows of group `g` (`tokens` when there is one group).
    @inline(__always)
    public func length(_ g: Int, tokens: Int) -> Int {
        guard let lengths else { return tokens }
        return g < count ? Int(lengths[g]) : 0
    }
}
