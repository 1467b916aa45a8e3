// package-benchmark suite for the EdgeLM kernels (run from Benchmarks/):
//   swift package --disable-sandbox benchmark --target KernelBenchmarks
//   swift package --disable-sandbox benchmark --target KernelBenchmarks --filter "SmolLM2.*decode"
//
// Each benchmark is one matrix product (decode: 1 token, prefill: 64 tokens) at a SmolLM2-135M or Gemma 3
// 270M shape, or one dot product / bandwidth probe. package-benchmark reports wall clock and malloc counts
// (the kernels must allocate nothing per call: expect mallocCountTotal = 0); for GB/s and GFLOP/s
// use the `kernel-bench` executable, which prints them directly.
import Benchmark
import GGUF
import Kernels

/// A random but well-formed weight matrix (finite fp16 scales), kept alive for the whole run.
final class Fixture: @unchecked Sendable {
    let matrix: WeightMatrix
    let activations: UnsafeMutableRawPointer
    let output: UnsafeMutablePointer<Float>
    let tokens: Int

    init(_ type: GGMLType, rows: Int, cols: Int, tokens: Int) {
        let rowBytes = type.rowBytes(cols)!
        let data = UnsafeMutableRawPointer.allocate(byteCount: rows * rowBytes, alignment: 64)
        var state: UInt64 = 0x1234_5678
        for i in 0..<rows * rowBytes {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            data.storeBytes(of: UInt8(truncatingIfNeeded: state >> 56), toByteOffset: i, as: UInt8.self)
        }
        let size = type.typeSize
        let scale = Float16(0.01).bitPattern
        for b in 0..<rows * rowBytes / size {
            switch type {
            case .q6_K: data.storeBytes(of: scale, toByteOffset: b * size + 208, as: UInt16.self)
            case .q4_1, .q5_1, .q4_K, .q5_K:
                data.storeBytes(of: scale, toByteOffset: b * size, as: UInt16.self)
                data.storeBytes(of: scale, toByteOffset: b * size + 2, as: UInt16.self)
            default: data.storeBytes(of: scale, toByteOffset: b * size, as: UInt16.self)
            }
        }
        matrix = try! WeightMatrix(type: type, rows: rows, cols: cols, data: data)
        self.tokens = tokens
        let x = UnsafeMutablePointer<Float>.allocate(capacity: tokens * cols)
        for i in 0..<tokens * cols { x[i] = Float(i % 37 - 18) / 9 }
        activations = .allocate(byteCount: MatMul.activationBytes(for: matrix, tokens: tokens), alignment: 64)
        MatMul.quantizeActivations(x, tokens: tokens, cols: cols, as: matrix.vecDotType, into: activations,
                                   pool: ThreadPool(threads: 1))
        x.deallocate()
        output = .allocate(capacity: tokens * rows)
    }
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal],
        warmupIterations: 3,
        maxDuration: .seconds(1),
        maxIterations: 10_000
    )

    let shapes: [(model: String, name: String, type: GGMLType, rows: Int, cols: Int)] = [
        ("SmolLM2", "attn_q 576x576", .q4_1, 576, 576),
        ("SmolLM2", "ffn_up 1536x576", .q4_1, 1536, 576),
        ("SmolLM2", "ffn_down 576x1536", .q4_1, 576, 1536),
        ("SmolLM2", "output 49152x576", .q8_0, 49152, 576),
        ("Gemma3", "ffn_up 2048x640", .q5_0, 2048, 640),
        ("Gemma3", "ffn_down 640x2048", .q4_K, 640, 2048),
        ("Gemma3", "ffn_down 640x2048", .q6_K, 640, 2048),
        ("Gemma3", "attn_output 640x1024", .q4_K, 640, 1024),
        ("Gemma3", "output 262144x640", .q8_0, 262_144, 640),
    ]
    let pools = [1: ThreadPool(threads: 1), 2: ThreadPool(threads: 2)]
    for shape in shapes {
        for (phase, tokens) in [("decode", 1), ("prefill64", 64)] {
            let fixture = Fixture(shape.type, rows: shape.rows, cols: shape.cols, tokens: tokens)
            for threads in [1, 2] {
                let pool = pools[threads]!
                Benchmark("\(shape.model) \(shape.name) \(shape.type.name) \(phase) t\(threads)") { benchmark in
                    for _ in benchmark.scaledIterations {
                        MatMul.mulQuantized(fixture.matrix, fixture.activations, tokens: fixture.tokens,
                                            fixture.output, pool: pool)
                    }
                    blackHole(fixture.output[0])
                }
            }
        }
    }

    // One dot product of 4096 elements per kernel (hot in L1).
    for type in [GGMLType.q4_0, .q4_1, .q5_0, .q8_0, .q4_K, .q5_K, .q6_K, .f16, .f32] {
        let fixture = Fixture(type, rows: 1, cols: 4096, tokens: 1)
        Benchmark("dot \(type.name) n4096", configuration: .init(scalingFactor: .kilo)) { benchmark in
            var sum: Float = 0
            for _ in benchmark.scaledIterations {
                sum += Dot.row(type, fixture.matrix.data, fixture.activations, count: 4096)
            }
            blackHole(sum)
        }
    }

    // Streaming read of 256 MiB (f32 sum), the bandwidth ceiling for decode.
    let count = 64 << 20
    let buffer = UnsafeMutablePointer<Float>.allocate(capacity: count)
    buffer.initialize(repeating: 1, count: count)
    Benchmark("read bandwidth 256MiB t1") { benchmark in
        for _ in benchmark.scaledIterations {
            var acc = SIMD8<Float>()
            var i = 0
            while i < count {
                acc += UnsafeRawPointer(buffer + i).loadUnaligned(as: SIMD8<Float>.self)
                i += 8
            }
            blackHole(acc.sum())
        }
    }
}
