// One step of the runtime: the rows it evaluates (each with its sequence, token and position, as a
// `llama_batch`), the scratch they run in, and the pool. An architecture's graph (`Architectures/<Arch>.swift`)
// runs on it through the shared blocks of `ForwardPass+Blocks.swift`. Owned by an ``ExecutionContext`` and
// reused by every step; building a step allocates nothing.

import GGUF
import Kernels

/// The rows of one sequence in a step: `count` consecutive tokens at positions `start ..< start + count`.
struct StepSegment {
    /// The sequence's KV cache and tokens (owned by its ``Session``, which waits while the step runs).
    var sequence: Unmanaged<SequenceState>
    /// First row of the segment in the step.
    var row: Int
    var count: Int
    /// Position of the first row (the sequence's length before the step).
    var start: Int
    var logits: LogitsMode
    /// Where its logits go (`outCount` rows of `vocab`).
    var destination: UnsafeMutablePointer<Float>
    /// After ``ForwardPass/keepOutputRows()``: its first row among the kept rows, and how many it keeps.
    var outRow = 0
    var outCount = 0
}

/// The scratch of a step and the description of the rows it evaluates.
///
/// Buffers are sized by ``Capacity`` (the largest any session of the context reserved) and only ever grow, at
/// ``ExecutionContext/reserve(model:options:)``, never during a step.
final class ForwardPass {
    /// What the buffers must hold: rows and sequences per step, and the widest row of each buffer over every
    /// model reserved (each buffer is `rows × width`, so any model's step of up to `rows` rows fits).
    struct Capacity: Equatable {
        var rows = 0, segments = 0
        var dim = 0, qDim = 0, kvDim = 0, ffn = 0, vocab = 0, ropeDim = 0, headDim = 0
        var actQRowBytes = 0
        var attnTasks = 0, ctxPad = 0

        /// What a session's ``Session/Layout`` needs, at `rows` rows and `segments` sequences per step.
        init(layout: Session.Layout, rows: Int, segments: Int) {
            let b = layout.batch
            self.rows = rows; self.segments = segments
            dim = layout.x / b; qDim = layout.q / b; kvDim = layout.k / b; ffn = layout.gate / b
            vocab = layout.logits / b; ropeDim = layout.ropeCache / b
            headDim = layout.q16Halfs / max(1, layout.attnTasks)
            actQRowBytes = layout.actQBytes / b
            attnTasks = layout.attnTasks
            ctxPad = layout.ctxPad
        }

        init() {}

        /// The element-wise maximum.
        func union(_ o: Capacity) -> Capacity {
            var u = Capacity()
            u.rows = max(rows, o.rows); u.segments = max(segments, o.segments)
            u.dim = max(dim, o.dim); u.qDim = max(qDim, o.qDim); u.kvDim = max(kvDim, o.kvDim); u.ffn = max(ffn, o.ffn)
            u.vocab = max(vocab, o.vocab); u.ropeDim = max(ropeDim, o.ropeDim); u.headDim = max(headDim, o.headDim)
            u.actQRowBytes = max(actQRowBytes, o.actQRowBytes)
            u.attnTasks = max(attnTasks, o.attnTasks); u.ctxPad = max(ctxPad, o.ctxPad)
            return u
        }

        var scores: Int { attnTasks * ctxPad }
        var halfs: Int { attnTasks * max(headDim, ctxPad) }
        var kvTmp: Int { attnTasks * 2 * headDim }

        /// Bytes of every buffer.
        var bytes: Int {
            let floats = rows * (3 * dim + 2 * qDim + 2 * kvDim + 2 * ffn + vocab + ropeDim) + scores + kvTmp
            return floats * 4 + 2 * halfs * 2 + rows * actQRowBytes + rows * 8
                + segments * (MemoryLayout<StepSegment>.stride + 8)
        }
    }

    let pool: ThreadPool
    private(set) var capacity = Capacity()

    // Activations of the step's rows.
    private(set) var x: UnsafeMutablePointer<Float>!      // (rows, dim)   residual stream
    private(set) var xn: UnsafeMutablePointer<Float>!     // (rows, dim)   normalised input of a sub-layer
    private(set) var q: UnsafeMutablePointer<Float>!      // (rows, qDim)
    private(set) var k: UnsafeMutablePointer<Float>!      // (rows, kvDim)
    private(set) var v: UnsafeMutablePointer<Float>!      // (rows, kvDim)
    private(set) var attn: UnsafeMutablePointer<Float>!   // (rows, qDim)  attention output before wo
    private(set) var proj: UnsafeMutablePointer<Float>!   // (rows, dim)   wo / down output
    private(set) var gate: UnsafeMutablePointer<Float>!   // (rows, ffn)
    private(set) var up: UnsafeMutablePointer<Float>!     // (rows, ffn)
    private(set) var actQ: UnsafeMutableRawPointer!       // (rows, max cols) activations in a vec-dot type
    private(set) var logits: UnsafeMutablePointer<Float>! // (rows, vocab)  kept rows' logits (several segments)
    private(set) var ropeCache: UnsafeMutablePointer<Float>! // (rows, ropeDim) cos/sin pairs per position
    // Attention, per task (a (row, head) pair is one task's work; tasks ≤ attnTasks).
    private(set) var scores: UnsafeMutablePointer<Float>! // (attnTasks, ctxPad)
    private(set) var q16: UnsafeMutablePointer<Float16>!  // (attnTasks, headDim) query in f16
    private(set) var p16: UnsafeMutablePointer<Float16>!  // (attnTasks, ctxPad) attention weights in f16
    private(set) var kvTmp: UnsafeMutablePointer<Float>!  // (attnTasks, 2·headDim) quantized-KV attention rows
    // The step.
    private(set) var ids: UnsafeMutablePointer<Int32>!          // (rows) token of each row
    private(set) var rowSegment: UnsafeMutablePointer<Int32>!   // (rows) segment of each row
    private(set) var segments: UnsafeMutablePointer<StepSegment>!  // (segments)
    private(set) var groupLengths: UnsafeMutablePointer<Int32>!    // (segments) rows per segment
    private(set) var outGroupLengths: UnsafeMutablePointer<Int32>! // (segments) kept rows per segment (non-zero ones)

    /// Rows of the step, segments, and the kept rows' groups after ``keepOutputRows()``.
    private(set) var rows = 0
    private(set) var segmentCount = 0
    var outGroupCount = 0
    /// The model and configuration of the step's sequences (one model per step).
    private(set) var model: Model!
    private(set) var c: ModelConfig!
    /// Rows per attention task group when a head is split over rows (2 × threads, at most the rows).
    private(set) var attnTasksPerHead = 1
    /// Whether ``keepOutputRows()`` ran in this step (the current rows are the kept ones).
    var kept = false
    var streamer: WeightStreamer?
    var debugTap: ((String, UnsafeBufferPointer<Float>) -> Void)?

    init(pool: ThreadPool) { self.pool = pool }

    deinit { free() }

    /// Grows every buffer to at least `needed` (contents are not kept). Never called during a step.
    func reserve(_ needed: Capacity) {
        let new = capacity.union(needed)
        guard new != capacity else { return }
        free()
        capacity = new
        func floats(_ n: Int) -> UnsafeMutablePointer<Float> {
            let p = UnsafeMutablePointer<Float>.allocate(capacity: max(n, 1)); p.initialize(repeating: 0, count: max(n, 1)); return p
        }
        let rows = new.rows
        x = floats(rows * new.dim); xn = floats(rows * new.dim); proj = floats(rows * new.dim)
        q = floats(rows * new.qDim); attn = floats(rows * new.qDim)
        k = floats(rows * new.kvDim); v = floats(rows * new.kvDim)
        gate = floats(rows * new.ffn); up = floats(rows * new.ffn)
        actQ = .allocate(byteCount: max(rows * new.actQRowBytes, 64), alignment: 64)
        // Not pre-touched: (rows, vocab) is large, and only the kept rows' pages are ever written.
        logits = .allocate(capacity: max(rows * new.vocab, 1))
        ropeCache = floats(rows * new.ropeDim)
        scores = floats(new.scores)
        kvTmp = floats(new.kvTmp)
        q16 = .allocate(capacity: max(new.halfs, 1)); q16.initialize(repeating: 0, count: max(new.halfs, 1))
        p16 = .allocate(capacity: max(new.halfs, 1)); p16.initialize(repeating: 0, count: max(new.halfs, 1))
        ids = .allocate(capacity: max(new.rows, 1))
        rowSegment = .allocate(capacity: max(new.rows, 1))
        segments = .allocate(capacity: max(new.segments, 1))
        groupLengths = .allocate(capacity: max(new.segments, 1))
        outGroupLengths = .allocate(capacity: max(new.segments, 1))
    }

    private func free() {
        guard x != nil else { return }
        for p in [x, xn, proj, q, attn, k, v, gate, up, logits, ropeCache, scores, kvTmp] { p!.deallocate() }
        actQ.deallocate(); q16.deallocate(); p16.deallocate()
        ids.deallocate(); rowSegment.deallocate(); segments.deallocate()
        groupLengths.deallocate(); outGroupLengths.deallocate()
    }

    // MARK: - Building a step

    /// Starts an empty step of `model`'s sequences.
    func begin(model: Model?) {
        self.model = model
        self.c = model?.config
        rows = 0; segmentCount = 0; outGroupCount = 0
        streamer = nil; debugTap = nil
    }

    /// Whether a segment of `count` rows still fits the step.
    func fits(_ count: Int) -> Bool { rows + count <= capacity.rows && segmentCount < capacity.segments }

    /// Adds `ids` of `sequence` at its next positions (the caller checked ``fits(_:)``; `ids` is copied).
    func add(_ sequence: SequenceState, _ ids: UnsafeBufferPointer<Int32>, logits: LogitsMode,
             into destination: UnsafeMutablePointer<Float>) {
        let s = segmentCount
        segments[s] = StepSegment(sequence: .passUnretained(sequence), row: rows, count: ids.count,
                                  start: sequence.tokens.count, logits: logits, destination: destination)
        groupLengths[s] = Int32(ids.count)
        for i in 0..<ids.count {
            self.ids[rows + i] = ids[i]
            rowSegment[rows + i] = Int32(s)
        }
        rows += ids.count
        segmentCount += 1
    }

    /// Runs the architecture's graph over the step's rows, appends each segment's tokens to its sequence and
    /// leaves each segment's logits at its destination.
    func run() {
        precondition(rows > 0, "ForwardPass.run: empty step")
        attnTasksPerHead = max(1, min(rows, capacity.attnTasks / max(1, c.headCount)))
        model.architecture.forward(self)
        for s in 0..<segmentCount {
            let seg = segments[s]
            let sequence = seg.sequence.takeUnretainedValue()
            for t in 0..<seg.count { sequence.tokens.append(ids[seg.row + t]) }
        }
    }

    /// Forgets the step (its model and hooks are not kept alive by the context).
    func finish() {
        rows = 0; segmentCount = 0; outGroupCount = 0
        model = nil; c = nil; streamer = nil; debugTap = nil
    }

    /// The segment of row `t`.
    @inline(__always)
    func segment(ofRow t: Int) -> StepSegment { segments[Int(rowSegment[t])] }

    /// The row groups of the step's rows (one per segment), for ``MatMul`` (K-quant orders per sequence).
    var inputGroups: RowGroups { RowGroups(lengths: groupLengths, count: segmentCount) }
    /// The groups of the rows kept for the last layer's tail and the output head.
    var outputGroups: RowGroups { RowGroups(lengths: outGroupLengths, count: outGroupCount) }
}
