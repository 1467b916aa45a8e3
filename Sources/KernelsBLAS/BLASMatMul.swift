import CBLAS
import GGUF
import Kernels
import Synchronization

/// An f32 GEMM backend for prefill on OpenBLAS (`cblas_sgemm`): weight rows are dequantized tile by tile
/// with `Dequantize.row` into per-thread f32 buffers and multiplied with the f32 activations.
///
/// Threading: the `ThreadPool` splits the weight rows into one contiguous range per thread and each thread
/// runs single-threaded `cblas_sgemm` calls (OpenBLAS's own threads are set to 1 by `init`, so the two thread
/// pools never compete). Calls on one instance are serialised by a lock.
///
/// Memory: `threads × tileRows × cols` floats of tile buffers, allocated in `init` for `maxCols` and grown
/// (once) if a wider matrix arrives. No allocation per call otherwise.
///
/// Usage: `BLASMatMul.install()` once, then `MatMul.mul(…, backend: .blas)`.
public final class BLASMatMul: F32GEMMProvider, @unchecked Sendable {
    /// Weight rows dequantized per `cblas_sgemm` call.
    public let tileRows: Int
    private struct Buffers {
        var slots: [UnsafeMutablePointer<Float>] = []
        var floatsPerSlot = 0
    }
    /// Guarded by `lock`.
    private var buffers = Buffers()
    private let lock = Mutex(())

    /// - Parameters:
    ///   - tileRows: rows per tile (128 keeps a 576-wide tile in L2).
    ///   - maxCols: widest row expected (buffers grow if exceeded).
    ///   - threads: threads expected in the pools passed to `mul` (buffers grow if exceeded).
    public init(tileRows: Int = 128, maxCols: Int = 4096, threads: Int = 2) {
        precondition(tileRows > 0, "BLASMatMul: tileRows must be positive")
        self.tileRows = tileRows
        openblas_set_num_threads(1)
        Self.grow(&buffers, slots: max(1, threads), floats: tileRows * maxCols)
    }

    deinit {
        for p in buffers.slots { p.deallocate() }
    }

    /// Creates a provider and installs it as `KernelBackend.blasProvider`.
    @discardableResult
    public static func install(tileRows: Int = 128, maxCols: Int = 4096, threads: Int = 2) -> BLASMatMul {
        let gemm = BLASMatMul(tileRows: tileRows, maxCols: maxCols, threads: threads)
        KernelBackend.install(gemm)
        return gemm
    }

    private static func grow(_ b: inout Buffers, slots: Int, floats: Int) {
        if floats > b.floatsPerSlot {
            for p in b.slots { p.deallocate() }
            b.slots = []
            b.floatsPerSlot = floats
        }
        while b.slots.count < slots { b.slots.append(.allocate(capacity: b.floatsPerSlot)) }
    }

    /// `y (tokens, w.rows) = x (tokens, w.cols) · dequantize(w)ᵀ` in f32.
    /// - Complexity: O(tokens · rows · cols) flops in OpenBLAS plus O(rows · cols) dequantization.
    public func mul(_ w: WeightMatrix, _ x: UnsafePointer<Float>, tokens: Int, _ y: UnsafeMutablePointer<Float>,
                    pool: ThreadPool) {
        if tokens <= 0 { return }
        lock.withLock { _ in
            let threads = pool.threadCount
            Self.grow(&buffers, slots: threads, floats: tileRows * w.cols)
            let slots = buffers.slots
            let tileRows = self.tileRows
            // Contiguous row ranges, a multiple of 4 rows each, one per thread.
            let per = ((w.rows + threads - 1) / threads + 3) / 4 * 4
            let tasks = (w.rows + per - 1) / per
            pool.parallelFor(tasks) { task in
                let upper = min(w.rows, (task + 1) * per)
                var r = task * per
                while r < upper {
                    let n = min(tileRows, upper - r)
                    Self.tile(w, x, tokens: tokens, y, rows: r..<(r + n), buffer: slots[task])
                    r += n
                }
            }
        }
    }

    /// One tile: dequantize rows (unless already f32) then one sgemm into columns `rows` of y.
    private static func tile(_ w: WeightMatrix, _ x: UnsafePointer<Float>, tokens: Int, _ y: UnsafeMutablePointer<Float>,
                             rows: Range<Int>, buffer: UnsafeMutablePointer<Float>) {
        let cols = w.cols
        let b: UnsafePointer<Float>
        if w.type == .f32 {
            b = (w.data + rows.lowerBound * w.rowBytes).assumingMemoryBound(to: Float.self)
        } else {
            for (i, r) in rows.enumerated() {
                Dequantize.row(w.type, w.data + r * w.rowBytes, buffer + i * cols, count: cols)
            }
            b = UnsafePointer(buffer)
        }
        // Row-major C (tokens × n) = A (tokens × cols) · Bᵀ, B (n × cols); C's rows are w.rows apart in y.
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(tokens), Int32(rows.count), Int32(cols),
                    1, x, Int32(cols), b, Int32(cols), 0, y + rows.lowerBound, Int32(w.rows))
    }
}
