// kernel-bench: a plain table of EdgeLM kernel throughput (median of N timed runs after a warm-up).
//
//   swift run -c release kernel-bench [--runs N] [--threads 1,2] [--quick] [--dots-only]
//
// Columns: "GB/s" = weight bytes streamed per second (for dots: weight-row bytes), "GFLOP/s" = 2·rows·cols·tokens
// per second, "ns" = median wall time per call. Weights are random but well-formed; results are discarded.
import GGUF
import Kernels
#if canImport(KernelsBLAS)
import KernelsBLAS  // only in builds that can see the KernelsBLAS module (not the Benchmarks package)
#endif

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Wall clock, or this thread's CPU time with `--cpu-time` (robust on a shared machine; 1-thread runs only).
nonisolated(unsafe) var clock = CLOCK_MONOTONIC

func now() -> Double {
    var t = timespec()
    clock_gettime(clock, &t)
    return Double(t.tv_sec) * 1e9 + Double(t.tv_nsec)
}

/// Zero, but unknown to the optimiser (keeps repeated identical calls from being hoisted out of loops).
let opaqueZero = getpid() == 0 ? 1 : 0

/// Median nanoseconds per call of `body`, over `runs` samples of `inner` calls each.
func measure(runs: Int, inner: Int, _ body: () -> Void) -> Double {
    for _ in 0..<max(1, inner / 4) { body() }
    var samples: [Double] = []
    for _ in 0..<runs {
        let start = now()
        for _ in 0..<inner { body() }
        samples.append((now() - start) / Double(inner))
    }
    samples.sort()
    return samples[samples.count / 2]
}

struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Random weight bytes with finite fp16 scales (every block format keeps its scales at these offsets).
func randomWeights(_ type: GGMLType, rows: Int, cols: Int, _ rng: inout SplitMix) -> UnsafeMutableRawPointer {
    let rowBytes = type.rowBytes(cols)!
    let total = rows * rowBytes
    let p = UnsafeMutableRawPointer.allocate(byteCount: total, alignment: 64)
    let words = p.bindMemory(to: UInt64.self, capacity: total / 8)
    for i in 0..<total / 8 { words[i] = rng.next() }
    let bytes = p.bindMemory(to: UInt8.self, capacity: total)
    for i in (total / 8 * 8)..<total { bytes[i] = 0 }
    func put(_ o: Int, _ v: Float) { p.storeBytes(of: Float16(v).bitPattern, toByteOffset: o, as: UInt16.self) }
    switch type {
    case .f32:
        let f = p.bindMemory(to: Float.self, capacity: total / 4)
        for i in 0..<total / 4 { f[i] = Float(Int(i % 97) - 48) / 64 }
    case .f16:
        for i in 0..<total / 2 { put(2 * i, Float(Int(i % 97) - 48) / 64) }
    default:
        let size = type.typeSize
        for b in 0..<total / size {
            switch type {
            case .q4_0, .q5_0, .q8_0: put(b * size, 0.01)
            case .q4_1, .q5_1, .q4_K, .q5_K: put(b * size, 0.01); put(b * size + 2, 0.02)
            case .q6_K: put(b * size + 208, 0.01)
            default: break
            }
        }
    }
    return p
}

struct Options {
    var runs = 15
    var threads = [1, 2]
    var quick = false
    var dotsOnly = false
    var filter: String? = nil
    var dram = false
    var idle = false
    /// Activation rows per product in the `--dram` table (several sequences decoding in one step).
    var tokens: [Int]? = nil
}

var options = Options()
var argv = CommandLine.arguments.dropFirst().makeIterator()
while let a = argv.next() {
    switch a {
    case "--runs": options.runs = Int(argv.next() ?? "") ?? options.runs
    case "--threads": options.threads = (argv.next() ?? "1").split(separator: ",").compactMap { Int($0) }
    case "--quick": options.quick = true
    case "--dots-only": options.dotsOnly = true
    case "--filter": options.filter = argv.next()
    case "--cpu-time": clock = CLOCK_THREAD_CPUTIME_ID; options.threads = [1]
    case "--dram": options.dram = true
    case "--idle": options.idle = true
    case "--tokens": options.tokens = (argv.next() ?? "1").split(separator: ",").compactMap { Int($0) }
    default:
        print("usage: kernel-bench [--runs N] [--threads 1,2] [--quick] [--dots-only] [--filter text] [--cpu-time] [--dram] [--tokens 1,2,4] [--idle]")
        exit(2)
    }
}

func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
func fmt(_ v: Double, _ digits: Int = 1) -> String {
    let scale = pow(10.0, Double(digits))
    let r = (v * scale).rounded() / scale
    return String(r)
}

var rng = SplitMix(state: 42)

/// User + system CPU time of the whole process (all threads), ms.
func processCPUms() -> Double {
    var u = rusage()
    getrusage(Int32(RUSAGE_SELF.rawValue), &u)
    return Double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1000 + Double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1000
}

// MARK: - Idle cost: a pool that has just run decode-like work, then waits (a session waiting for input).

if options.idle {
    print("## Idle cost after 20 000 Q4_1 1536×576 matvecs: process CPU time over 2 s of waiting")
    print("| threads | busy wall ms | busy CPU ms | idle wall ms | idle CPU ms | % of a core |")
    print("|---|---|---|---|---|---|")
    let w = randomWeights(.q4_1, rows: 1536, cols: 576, &rng)
    let m = try! WeightMatrix(type: .q4_1, rows: 1536, cols: 576, data: w)
    let x = UnsafeMutablePointer<Float>.allocate(capacity: 576)
    for i in 0..<576 { x[i] = Float(i % 7) - 3 }
    let xq = UnsafeMutableRawPointer.allocate(byteCount: MatMul.activationBytes(for: m, tokens: 1), alignment: 64)
    let y = UnsafeMutablePointer<Float>.allocate(capacity: 1536)
    var wall = timespec()
    func wallMs() -> Double { clock_gettime(CLOCK_MONOTONIC, &wall); return Double(wall.tv_sec) * 1000 + Double(wall.tv_nsec) / 1e6 }
    for t in options.threads {
        let pool = ThreadPool(threads: t)
        let c0 = processCPUms(), t0 = wallMs()
        for _ in 0..<20_000 { MatMul.mul(m, x, tokens: 1, y, scratch: xq, pool: pool) }
        let c1 = processCPUms(), t1 = wallMs()
        usleep(2_000_000)
        let c2 = processCPUms(), t2 = wallMs()
        print("| \(t) | \(fmt(t1 - t0)) | \(fmt(c1 - c0)) | \(fmt(t2 - t1)) | \(fmt(c2 - c1, 2)) | \(fmt(100 * (c2 - c1) / (t2 - t1), 3)) |")
    }
    exit(0)
}

// MARK: - Dot products: one weight row · one activation row, n elements, hot in L1.

let clockName = clock == CLOCK_MONOTONIC ? "wall clock" : "thread CPU time"
print("## Dot products (1 thread, data hot in cache), median of \(options.runs) runs, \(clockName)")
print("| kernel | n | ns/dot | GB/s (weight row) |")
print("|---|---|---|---|")
let dotN = 4096
let dotTypes: [GGMLType] = [.q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q4_K, .q5_K, .q6_K, .f16, .f32]
for type in dotTypes {
    let act = MatMul.vecDotType(for: type)!
    let w = randomWeights(type, rows: 1, cols: dotN, &rng)
    let x = UnsafeMutablePointer<Float>.allocate(capacity: dotN)
    for i in 0..<dotN { x[i] = Float(Int(i % 31) - 15) / 8 }
    let xq = UnsafeMutableRawPointer.allocate(byteCount: act.rowBytes(dotN)!, alignment: 64)
    MatMul.quantizeRow(x, xq, cols: dotN, as: act)
    var sink: Float = 0
    var k = 0
    let ns = measure(runs: options.runs, inner: 2000) {
        k &+= 1
        sink += Dot.row(type, w + k * opaqueZero, xq, count: dotN)
    }
    let bytes = Double(type.rowBytes(dotN)!)
    print("| \(type.name)·\(act.name) | \(dotN) | \(fmt(ns)) | \(fmt(bytes / ns)) |")
    if sink.isNaN { print("") }
    w.deallocate(); x.deallocate(); xq.deallocate()
}

if options.dotsOnly { exit(0) }

// MARK: - Streaming read bandwidth probe.

func bandwidth(bytes: Int, runs: Int, pool: ThreadPool) -> Double {
    let count = bytes / 4
    let buf = UnsafeMutablePointer<Float>.allocate(capacity: count)
    buf.initialize(repeating: 1, count: count)
    defer { buf.deallocate() }
    let chunks = 64
    let partial = UnsafeMutablePointer<Float>.allocate(capacity: chunks)
    defer { partial.deallocate() }
    let ns = measure(runs: max(3, runs / 3), inner: 1) {
        pool.parallelFor(chunks) { c in
            let per = count / chunks
            let base = buf + c * per
            var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
            var i = 0
            while i + 32 <= per {
                let r = UnsafeRawPointer(base + i)
                a0 += r.loadUnaligned(as: SIMD8<Float>.self)
                a1 += r.loadUnaligned(fromByteOffset: 32, as: SIMD8<Float>.self)
                a2 += r.loadUnaligned(fromByteOffset: 64, as: SIMD8<Float>.self)
                a3 += r.loadUnaligned(fromByteOffset: 96, as: SIMD8<Float>.self)
                i += 32
            }
            partial[c] = (a0 + a1 + a2 + a3).sum()
        }
    }
    return Double(bytes) / ns
}

// MARK: - Matrix products at model shapes.

struct Shape {
    let model: String, name: String, type: GGMLType, rows: Int, cols: Int
}
var shapes: [Shape] = [
    Shape(model: "SmolLM2", name: "attn q/o 576×576", type: .q4_1, rows: 576, cols: 576),
    Shape(model: "SmolLM2", name: "ffn gate/up", type: .q4_1, rows: 1536, cols: 576),
    Shape(model: "SmolLM2", name: "ffn down", type: .q4_1, rows: 576, cols: 1536),
    Shape(model: "SmolLM2", name: "output head", type: .q8_0, rows: 49152, cols: 576),
    Shape(model: "Gemma3-270M", name: "ffn gate/up", type: .q5_0, rows: 2048, cols: 640),
    Shape(model: "Gemma3-270M", name: "ffn down", type: .q4_K, rows: 640, cols: 2048),
    Shape(model: "Gemma3-270M", name: "ffn down", type: .q6_K, rows: 640, cols: 2048),
    Shape(model: "Gemma3-270M", name: "attn o", type: .q4_K, rows: 640, cols: 1024),
    Shape(model: "Gemma3-270M", name: "attn q", type: .q5_0, rows: 1024, cols: 640),
    Shape(model: "Gemma3-270M", name: "output head", type: .q8_0, rows: 262144, cols: 640),
]
if options.quick { shapes = shapes.filter { $0.rows < 100_000 } }
if let f = options.filter { shapes = shapes.filter { "\($0.model) \($0.name) \($0.type.name)".contains(f) } }

print("")
print("## Read bandwidth (sum of a \(options.quick ? "256 MiB" : "1 GiB") f32 buffer)")
print("| threads | GB/s |")
print("|---|---|")
for t in options.threads {
    let pool = ThreadPool(threads: t)
    let bytes = options.quick ? 256 << 20 : 1 << 30
    print("| \(t) | \(fmt(bandwidth(bytes: bytes, runs: options.runs, pool: pool))) |")
}

// MARK: - Decode from DRAM: matvec over copies of a matrix totalling ≥ 128 MiB (4× the 32 MiB L3), cycled, so
// every call streams its weights from memory as decode does.

if options.dram {
    print("")
    print("## Matrix products from DRAM (\(clockName); ≥ 128 MiB of copies cycled; GB/s = weight bytes / time; "
        + "per token = µs / tokens)")
    print("| model | matrix | type | rows×cols | tokens | threads | µs | µs per token | GB/s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for s in shapes {
        let probe = try! WeightMatrix(type: s.type, rows: s.rows, cols: s.cols, data: UnsafeRawPointer(bitPattern: 64)!)
        let copies = (128 << 20) / probe.byteCount + 1
        let ws = (0..<copies).map { _ in randomWeights(s.type, rows: s.rows, cols: s.cols, &rng) }
        let ms = ws.map { try! WeightMatrix(type: s.type, rows: s.rows, cols: s.cols, data: $0) }
        for tokens in options.tokens ?? [1] {
            let x = UnsafeMutablePointer<Float>.allocate(capacity: tokens * s.cols)
            for i in 0..<tokens * s.cols { x[i] = Float(Int(i % 37) - 18) / 9 }
            let xq = UnsafeMutableRawPointer.allocate(byteCount: MatMul.activationBytes(for: ms[0], tokens: tokens), alignment: 64)
            let y = UnsafeMutablePointer<Float>.allocate(capacity: tokens * s.rows)
            for t in options.threads {
                let pool = ThreadPool(threads: t)
                MatMul.quantizeActivations(x, tokens: tokens, cols: s.cols, as: ms[0].vecDotType, into: xq, pool: pool)
                var k = 0
                let ns = measure(runs: options.runs, inner: copies) {
                    MatMul.mulQuantized(ms[k % copies], xq, tokens: tokens, y, pool: pool)
                    k += 1
                }
                print("| \(s.model) | \(s.name) | \(s.type.name) | \(s.rows)×\(s.cols) | \(tokens) | \(t) | \(fmt(ns / 1000)) | "
                    + "\(fmt(ns / 1000 / Double(tokens))) | \(fmt(Double(probe.byteCount) / ns)) |")
            }
            x.deallocate(); xq.deallocate(); y.deallocate()
        }
        ws.forEach { $0.deallocate() }
    }
    exit(0)
}

print("")
print("## Matrix products (\(clockName); activations quantized outside the timed region)")
print("| model | matrix | type | rows×cols | tokens | threads | µs | GB/s | GFLOP/s |")
print("|---|---|---|---|---|---|---|---|---|")
for s in shapes {
    let w = randomWeights(s.type, rows: s.rows, cols: s.cols, &rng)
    let matrix = try! WeightMatrix(type: s.type, rows: s.rows, cols: s.cols, data: w)
    for tokens in options.tokens ?? [1, 64] {
        let x = UnsafeMutablePointer<Float>.allocate(capacity: tokens * s.cols)
        for i in 0..<tokens * s.cols { x[i] = Float(Int(i % 37) - 18) / 9 }
        let xq = UnsafeMutableRawPointer.allocate(byteCount: MatMul.activationBytes(for: matrix, tokens: tokens),
                                                  alignment: 64)
        let y = UnsafeMutablePointer<Float>.allocate(capacity: tokens * s.rows)
        for t in options.threads {
            let pool = ThreadPool(threads: t)
            MatMul.quantizeActivations(x, tokens: tokens, cols: s.cols, as: matrix.vecDotType, into: xq, pool: pool)
            let work = Double(s.rows) * Double(s.cols) * Double(tokens)
            let inner = max(1, Int(2e7 / work))
            let ns = measure(runs: options.runs, inner: inner) {
                MatMul.mulQuantized(matrix, xq, tokens: tokens, y, pool: pool)
            }
            let bytes = Double(matrix.byteCount)
            print("| \(s.model) | \(s.name) | \(s.type.name) | \(s.rows)×\(s.cols) | \(tokens) | \(t) | \(fmt(ns / 1000)) | "
                + "\(fmt(bytes / ns)) | \(fmt(2 * work / ns)) |")
            #if canImport(KernelsBLAS)
            if tokens > 1 {
                let gemm = BLASMatMul(tileRows: 128, maxCols: s.cols, threads: t)
                let blas = measure(runs: options.runs, inner: inner) { gemm.mul(matrix, x, tokens: tokens, y, pool: pool) }
                print("| \(s.model) | \(s.name) (OpenBLAS f32) | \(s.type.name) | \(s.rows)×\(s.cols) | \(tokens) | \(t) | "
                    + "\(fmt(blas / 1000)) | \(fmt(bytes / blas)) | \(fmt(2 * work / blas)) |")
            }
            #endif
        }
        x.deallocate(); xq.deallocate(); y.deallocate()
    }
    w.deallocate()
}
