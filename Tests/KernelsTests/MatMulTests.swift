import Foundation
import GGUF
import Testing

@testable import Kernels

@Suite("Matrix products")
struct MatMulTests {
    /// A random weight matrix plus activations, with storage kept alive by the arrays.
    struct Problem {
        let type: GGMLType
        let rows: Int, cols: Int, tokens: Int
        var weights: [UInt8]
        var x: [Float]

        init(_ type: GGMLType, rows: Int, blocks: Int, tokens: Int, seed: UInt64) {
            var rng = DotTestRNG(seed: seed)
            self.type = type
            self.rows = rows
            let cols = type.blockSize == 1 ? blocks * 32 + 5 : blocks * type.blockSize
            self.cols = cols
            self.tokens = tokens
            var weights: [UInt8] = []
            for _ in 0..<rows { weights += DotTestData.weightRow(type, cols: cols, &rng) }
            self.weights = weights
            x = DotTestData.activations(tokens * cols, &rng)
        }

        /// y from `MatMul.mul` on a pool of `threads`, with the rows divided into `groups` (one sequence's rows
        /// each) when given.
        func mul(threads: Int, groups: [Int32]? = nil) throws -> [Float] {
            let pool = ThreadPool(threads: threads)
            return try weights.withUnsafeBytes { wp in
                let w = try WeightMatrix(type: type, rows: rows, cols: cols, data: wp.baseAddress!)
                var y = [Float](repeating: .nan, count: tokens * rows)
                var scratch = [UInt8](repeating: 0, count: MatMul.activationBytes(for: w, tokens: tokens))
                x.withUnsafeBufferPointer { xp in
                    y.withUnsafeMutableBufferPointer { yp in
                        scratch.withUnsafeMutableBytes { sp in
                            if let groups {
                                groups.withUnsafeBufferPointer { g in
                                    MatMul.mul(w, xp.baseAddress!, tokens: tokens, yp.baseAddress!, scratch: sp.baseAddress!,
                                               groups: RowGroups(lengths: g.baseAddress!, count: g.count), pool: pool)
                                }
                            } else {
                                MatMul.mul(w, xp.baseAddress!, tokens: tokens, yp.baseAddress!, scratch: sp.baseAddress!,
                                           pool: pool)
                            }
                        }
                    }
                }
                return y
            }
        }

        /// The same weights with `tokens` activation rows (`other.x` must hold exactly that many).
        init(copying other: Problem, tokens: Int) {
            type = other.type; rows = other.rows; cols = other.cols; self.tokens = tokens
            weights = other.weights; x = other.x
        }

        /// y from the plain per-row `Dot.row` loop.
        func reference() throws -> [Float] {
            try weights.withUnsafeBytes { wp in
                let w = try WeightMatrix(type: type, rows: rows, cols: cols, data: wp.baseAddress!)
                let actBytes = w.vecDotType.rowBytes(cols)!
                var xq = [UInt8](repeating: 0, count: tokens * actBytes)
                x.withUnsafeBufferPointer { xp in
                    xq.withUnsafeMutableBytes { qp in
                        for t in 0..<tokens {
                            MatMul.quantizeRow(xp.baseAddress! + t * cols, qp.baseAddress! + t * actBytes, cols: cols,
                                               as: w.vecDotType)
                        }
                    }
                }
                var y = [Float](repeating: .nan, count: tokens * rows)
                xq.withUnsafeBytes { qp in
                    y.withUnsafeMutableBufferPointer { MatMul.mulQuantized_reference(w, qp.baseAddress!, tokens: tokens, $0.baseAddress!) }
                }
                return y
            }
        }

        /// y from the scalar `Dot.row_reference` (ggml's generic C semantics; equal to `Dot.row` to rounding).
        func scalarReference() throws -> [Float] {
            try weights.withUnsafeBytes { wp in
                let w = try WeightMatrix(type: type, rows: rows, cols: cols, data: wp.baseAddress!)
                let actBytes = w.vecDotType.rowBytes(cols)!
                var xq = [UInt8](repeating: 0, count: tokens * actBytes)
                x.withUnsafeBufferPointer { xp in
                    xq.withUnsafeMutableBytes { qp in
                        for t in 0..<tokens {
                            MatMul.quantizeRow(xp.baseAddress! + t * cols, qp.baseAddress! + t * actBytes, cols: cols,
                                               as: w.vecDotType)
                        }
                    }
                }
                var y = [Float](repeating: .nan, count: tokens * rows)
                xq.withUnsafeBytes { qp in
                    for t in 0..<tokens {
                        for r in 0..<rows {
                            y[t * rows + r] = Dot.row_reference(type, wp.baseAddress! + r * w.rowBytes,
                                                                qp.baseAddress! + t * actBytes, count: cols)
                        }
                    }
                }
                return y
            }
        }
    }

    static let types: [GGMLType] = DotTestData.blockTypes + DotTestData.floatTypes
    /// Shapes hitting the 4-row and 2×4 tiles and all their edges: (rows, tokens).
    /// (16, 6) and (8, 8): K-quant matrices llama.cpp repacks (rows % 8 == 0) with GEMM and GEMV rows, and the
    /// tiled order from 8 rows.
    static let shapes: [(Int, Int)] = [(1, 1), (3, 1), (4, 1), (13, 1), (1, 2), (6, 3), (7, 4), (9, 5), (12, 9), (16, 6), (8, 8)]

    @Test("mul equals a per-row Dot.row loop (in llama.cpp's order for each row) bit for bit", arguments: types)
    func equalsDotLoop(type: GGMLType) throws {
        for (i, shape) in Self.shapes.enumerated() {
            let p = Problem(type, rows: shape.0, blocks: type.blockSize == 256 ? 2 : 3, tokens: shape.1,
                            seed: UInt64(i) * 1000 + UInt64(type.rawValue))
            let y = try p.mul(threads: 2)
            let ref = try p.reference()
            let got: [UInt32] = y.map { $0.bitPattern }, want: [UInt32] = ref.map { $0.bitPattern }
            #expect(got == want, "\(type.name) rows \(shape.0) tokens \(shape.1)")
        }
    }

    /// Row groups as a multi-sequence step makes them: 8 decode rows, prefill chunks beside decode rows, GEMM
    /// and GEMV parts of a repacked Q4_K group, the tiled order from 8 rows next to vec rows.
    static let groupings: [[Int32]] = [[1, 1, 1, 1, 1, 1, 1, 1], [9, 1, 3, 1], [1, 12], [4, 8, 1], [6, 7], [2, 2, 2, 2, 2, 2]]

    @Test("A product over several sequences' rows equals each sequence's product alone, bit for bit", arguments: types)
    func rowGroupsEqualSeparateProducts(type: GGMLType) throws {
        for (i, groups) in Self.groupings.enumerated() {
            let tokens = Int(groups.reduce(0, +))
            let rows = type == .q4_K ? 16 : 13  // Q4_K with rows % 8 == 0 is llama.cpp's repacked case
            let p = Problem(type, rows: rows, blocks: type.blockSize == 256 ? 2 : 3, tokens: tokens,
                            seed: UInt64(i) * 7919 + UInt64(type.rawValue))
            let together = try p.mul(threads: 2, groups: groups)
            var alone: [Float] = []
            var start = 0
            for g in groups.map(Int.init) {
                var part = p
                part.x = Array(p.x[start * p.cols..<(start + g) * p.cols])
                part = Problem(copying: part, tokens: g)
                alone += try part.mul(threads: 2)
                start += g
            }
            #expect(together.map(\.bitPattern) == alone.map(\.bitPattern), "\(type.name) groups \(groups)")
        }
    }

    @Test("Q4_1 prefill tiles equal Dot.row for full and padded token groups and widths that grow the tile scratch")
    func q4_1PackedTiles() throws {
        // 60 blocks need 34 560 B of packed operands per thread: more than the 16 KiB first allocation, so
        // the per-thread scratch grows between calls; 1 and 3 blocks then reuse the grown buffer. Token
        // counts cover full groups of 8, short (padded) last groups and a single short group.
        var seed: UInt64 = 500
        for blocks in [3, 60, 1, 48] {
            for (rows, tokens) in [(2, 2), (5, 8), (9, 13), (4, 7), (3, 16), (1, 17)] {
                seed += 1
                let p = Problem(.q4_1, rows: rows, blocks: blocks, tokens: tokens, seed: seed)
                let got: [UInt32] = try p.mul(threads: 2).map { $0.bitPattern }
                let want: [UInt32] = try p.reference().map { $0.bitPattern }
                #expect(got == want, "blocks \(blocks) rows \(rows) tokens \(tokens)")
            }
        }
    }

    /// Several sequences decoding together: a product of n = 2…9 activation rows, each row its own group (one
    /// decode row per sequence), or one group of n rows (a short prefill chunk). Every format on the models' hot
    /// paths, odd row counts (4-row matvec tails), odd block counts. Each row's result must equal, bit for bit,
    /// its single-row product (the decode matvec, `tokens == 1`) and the per-row `Dot.row` in llama.cpp's order;
    /// and, within float rounding, the scalar `_reference` dot.
    @Test("Few-row products equal each row's matvec and Dot.row bit for bit",
          arguments: [GGMLType.q4_0, .q4_1, .q5_0, .q8_0, .q4_K, .q6_K])
    func fewRowsEqualMatvec(type: GGMLType) throws {
        var seed: UInt64 = 1300 + UInt64(type.rawValue)
        let widths = type.blockSize == 256 ? [1, 3] : [1, 3, 7, 18]
        // Q4_K with rows % 8 == 0 is repacked: decode rows take the GEMV order; 13 rows: vec order.
        let rowCounts = type == .q4_K ? [16, 13] : [13, 5, 37]
        for blocks in widths {
            for rows in rowCounts {
                for n in 2...9 {
                    seed += 1
                    let p = Problem(type, rows: rows, blocks: blocks, tokens: n, seed: seed)
                    // One decode row per sequence.
                    let decodeRows = try p.mul(threads: 2, groups: [Int32](repeating: 1, count: n))
                    var single: [Float] = []
                    for t in 0..<n {
                        var one = p
                        one.x = Array(p.x[t * p.cols..<(t + 1) * p.cols])
                        single += try Problem(copying: one, tokens: 1).mul(threads: 2)
                    }
                    #expect(decodeRows.map(\.bitPattern) == single.map(\.bitPattern),
                            "\(type.name) blocks \(blocks) rows \(rows) decode rows \(n)")
                    // One sequence's chunk of n rows (the batch order for K-quants).
                    let chunk = try p.mul(threads: 2)
                    #expect(chunk.map(\.bitPattern) == (try p.reference()).map(\.bitPattern),
                            "\(type.name) blocks \(blocks) rows \(rows) chunk \(n)")
                    // The scalar twin, to float rounding.
                    let scalar = try p.scalarReference()
                    for i in 0..<scalar.count {
                        let tolerance = 1e-4 * max(1, abs(scalar[i])) * Float(p.cols / 32)
                        #expect(abs(decodeRows[i] - scalar[i]) <= tolerance, "\(type.name) \(i)")
                    }
                }
            }
        }
    }

    @Test("Tile scratch is per thread, 64-byte aligned, reused when big enough and grown otherwise")
    func tileScratch() throws {
        let a = TileScratch.buffer(bytes: 1000)
        #expect(Int(bitPattern: a) % 64 == 0)
        a.storeBytes(of: 0x5A, toByteOffset: 999, as: UInt8.self)
        #expect(TileScratch.buffer(bytes: 500) == a)             // reused
        let big = TileScratch.buffer(bytes: 100_000)             // grown: writable over the whole range
        big.storeBytes(of: 1, toByteOffset: 99_999, as: UInt8.self)
        #expect(Int(bitPattern: big) % 64 == 0)
        #expect(TileScratch.buffer(bytes: 100_000) == big)
        // Another thread gets its own buffer.
        final class Box: @unchecked Sendable { var p: UnsafeMutableRawPointer? }
        let other = Box()
        let done = DispatchSemaphore(value: 0)
        Thread { other.p = TileScratch.buffer(bytes: 1000); done.signal() }.start()
        done.wait()
        #expect(other.p != nil && other.p != big)
    }

    @Test("threadScratchBytes: packed Q4_1 operands per thread, other types none")
    func threadScratchBytes() {
        // SmolLM2's ffn down: 1536 columns = 48 blocks. x86-64: prefill packs 320 B per block, decode nothing;
        // portable kernels: 576 B and 96 B.
        #if arch(x86_64)
        // Q4_1: 320 B packed + 32 B of row scales per block; Q4_0/Q5_0 544 + 32 (with the lane sums); Q8_0 288 + 32;
        // K-quants 2464 B
        // per super-block.
        #expect(MatMul.threadScratchBytes(type: .q4_1, cols: 1536, tokens: 8) == 48 * 352 + 64)
        #expect(MatMul.threadScratchBytes(type: .q4_1, cols: 1536, tokens: 1) == 0)
        #expect(MatMul.threadScratchBytes(type: .q5_0, cols: 2048, tokens: 8) == 64 * 576 + 64)
        #expect(MatMul.threadScratchBytes(type: .q8_0, cols: 2048, tokens: 8) == 64 * 320 + 64)
        #expect(MatMul.threadScratchBytes(type: .q6_K, cols: 2048, tokens: 64) == 8 * 2464 + 64)
        #expect(MatMul.threadScratchBytes(type: .q8_0, cols: 1536, tokens: 1) == 0)
        #expect(MatMul.threadScratchBytes(type: .f16, cols: 1536, tokens: 8) == 0)
        #else
        #expect(MatMul.threadScratchBytes(type: .q4_1, cols: 1536, tokens: 8) == 48 * 576 + 64)
        #expect(MatMul.threadScratchBytes(type: .q4_1, cols: 1536, tokens: 1) == 16 * 1024 + 64)
        #expect(MatMul.threadScratchBytes(type: .q8_0, cols: 1536, tokens: 8) == 0)
        #endif
        #expect(MatMul.threadScratchBytes(type: .q4_1, cols: 64, tokens: 128) == 16 * 1024 + 64)
        #expect(MatMul.threadScratchBytes(type: .q4_1, cols: 1536, tokens: 0) == 0)
        // What the kernels actually request fits: packing 1536 columns for 8 tokens leaves the buffer as is.
        let p = TileScratch.buffer(bytes: 48 * 576)
        #expect(TileScratch.buffer(bytes: 48 * 96) == p)
    }

    /// The prefill tiles (x86-64: 1 row × 8 tokens over packed activations; elsewhere the generic 2×4 tile) on
    /// wide rows, full and padded token groups, every K-quant order a batch can take.
    @Test("Prefill tiles equal Dot.row bit for bit on wide rows and odd token counts",
          arguments: [GGMLType.q4_0, .q4_1, .q5_0, .q8_0, .q4_K, .q6_K])
    func wideTiles(type: GGMLType) throws {
        var seed: UInt64 = 700 + UInt64(type.rawValue)
        let widths = type.blockSize == 256 ? [1, 3, 8] : [1, 7, 64]
        for blocks in widths {
            // (rows, tokens): Q4_K with 16 rows is repacked (GEMM rows in groups of 4, then GEMV), with 13 rows
            // tiled from 8 tokens; Q6_K is tiled from 8 tokens.
            for (rows, tokens) in [(16, 2), (13, 8), (16, 13), (5, 17), (16, 24), (13, 9)] {
                seed += 1
                let p = Problem(type, rows: rows, blocks: blocks, tokens: tokens, seed: seed)
                let got: [UInt32] = try p.mul(threads: 2).map { $0.bitPattern }
                let want: [UInt32] = try p.reference().map { $0.bitPattern }
                #expect(got == want, "\(type.name) blocks \(blocks) rows \(rows) tokens \(tokens)")
            }
        }
    }

    /// On x86-64 `mul` runs the AVX2 Q4_1 kernels; the portable ones (the path on other CPUs) are checked here
    /// directly against the same per-row reference, so both stay bit-identical to `Dot.row`.
    @Test("Portable Q4_1 matvec and 1×8 tile equal Dot.row bit for bit (full and padded groups, row tails)")
    func q4_1PortableKernels() throws {
        var seed: UInt64 = 900
        for blocks in [1, 3, 48] {
            for (rows, tokens) in [(1, 1), (7, 1), (13, 1), (5, 2), (4, 3), (7, 4), (5, 5), (6, 6), (3, 7), (9, 8), (6, 13), (3, 17)] {
                seed += 1
                let p = Problem(.q4_1, rows: rows, blocks: blocks, tokens: tokens, seed: seed)
                let want: [UInt32] = try p.reference().map { $0.bitPattern }
                var y = [Float](repeating: .nan, count: rows * tokens)
                let xBytes = GGMLType.q8_1.rowBytes(p.cols)!
                var xq = [UInt8](repeating: 0, count: tokens * xBytes)
                p.x.withUnsafeBufferPointer { xp in
                    xq.withUnsafeMutableBytes { qp in
                        for t in 0..<tokens {
                            Quantize.q8_1(xp.baseAddress! + t * p.cols, qp.baseAddress! + t * xBytes, count: p.cols)
                        }
                    }
                }
                p.weights.withUnsafeBytes { wp in
                    xq.withUnsafeBytes { qp in
                        y.withUnsafeMutableBufferPointer { yp in
                            let rowBytes = GGMLType.q4_1.rowBytes(p.cols)!
                            if tokens == 1 {
                                MatMul.matvecQ4_1_portable(wp.baseAddress!, rowBytes: rowBytes, qp.baseAddress!, cols: p.cols,
                                                           yp.baseAddress!, rows: 0..<rows)
                            } else {
                                MatMul.matmulQ4_1_portable(wp.baseAddress!, rowBytes: rowBytes, rowCount: rows, qp.baseAddress!,
                                                           xBytes: xBytes, cols: p.cols, tokens: tokens, yp.baseAddress!,
                                                           rows: 0..<rows)
                            }
                        }
                    }
                }
                #expect(y.map(\.bitPattern) == want, "blocks \(blocks) rows \(rows) tokens \(tokens)")
            }
        }
    }

    @Test("Results do not depend on the thread count", arguments: [GGMLType.q4_1, .q8_0, .q4_K, .q6_K, .f32])
    func threadCountInvariant(type: GGMLType) throws {
        for tokens in [1, 7] {
            let p = Problem(type, rows: 203, blocks: type.blockSize == 256 ? 1 : 5, tokens: tokens, seed: 77)
            let one: [UInt32] = try p.mul(threads: 1).map { $0.bitPattern }
            let two: [UInt32] = try p.mul(threads: 2).map { $0.bitPattern }
            let three: [UInt32] = try p.mul(threads: 3).map { $0.bitPattern }
            #expect(two == one)
            #expect(three == one)
        }
    }

    @Test("Q8_0 decode equals Dot.row on narrow and wide rows", arguments: [1, 18, 48, 49])
    func q8_0DecodeWidths(blocks: Int) throws {
        let p = Problem(.q8_0, rows: 11, blocks: blocks, tokens: 1, seed: UInt64(blocks))
        let got: [UInt32] = try p.mul(threads: 2).map { $0.bitPattern }
        let want: [UInt32] = try p.reference().map { $0.bitPattern }
        #expect(got == want)
    }

    @Test("Fused mulQuantized of 2 or 3 matrices equals separate products bit for bit",
          arguments: [GGMLType.q4_1, .q8_0, .q4_K, .f16])
    func fusedEqualsSeparate(type: GGMLType) throws {
        let blocks = type.blockSize == 256 ? 1 : 3
        for tokens in [1, 2, 6] {
            let ps = [Problem(type, rows: 37, blocks: blocks, tokens: tokens, seed: 11),
                      Problem(type, rows: 12, blocks: blocks, tokens: tokens, seed: 12),
                      Problem(type, rows: 5, blocks: blocks, tokens: tokens, seed: 13)]
            let pool = ThreadPool(threads: 2)
            try ps[0].weights.withUnsafeBytes { w0 in
                try ps[1].weights.withUnsafeBytes { w1 in
                    try ps[2].weights.withUnsafeBytes { w2 in
                        let m = try [w0, w1, w2].enumerated().map { i, wp in
                            try WeightMatrix(type: type, rows: ps[i].rows, cols: ps[i].cols, data: wp.baseAddress!)
                        }
                        var xq = [UInt8](repeating: 0, count: MatMul.activationBytes(for: m[0], tokens: tokens))
                        ps[0].x.withUnsafeBufferPointer { xp in
                            xq.withUnsafeMutableBytes { qp in
                                MatMul.quantizeActivations(xp.baseAddress!, tokens: tokens, cols: m[0].cols,
                                                           as: m[0].vecDotType, into: qp.baseAddress!, pool: pool)
                            }
                        }
                        // (matrix, rows · tokens) outputs of the separate, 3-way fused and 2-way fused calls.
                        let outs = (0..<9).map { i in
                            UnsafeMutableBufferPointer<Float>.allocate(capacity: tokens * m[i % 3].rows)
                        }
                        defer { outs.forEach { $0.deallocate() } }
                        outs.forEach { $0.initialize(repeating: .nan) }
                        let separate = Array(outs[0..<3]), fused3 = Array(outs[3..<6]), fused2 = Array(outs[6..<9])
                        xq.withUnsafeBytes { qp in
                            for i in 0..<3 {
                                MatMul.mulQuantized(m[i], qp.baseAddress!, tokens: tokens, separate[i].baseAddress!, pool: pool)
                            }
                            MatMul.mulQuantized(m[0], fused3[0].baseAddress!, m[1], fused3[1].baseAddress!,
                                                m[2], fused3[2].baseAddress!, activations: qp.baseAddress!,
                                                tokens: tokens, pool: pool)
                            MatMul.mulQuantized(m[0], fused2[0].baseAddress!, m[1], fused2[1].baseAddress!,
                                                activations: qp.baseAddress!, tokens: tokens, pool: pool)
                        }
                        for i in 0..<3 {
                            #expect(fused3[i].map(\.bitPattern) == separate[i].map(\.bitPattern), "\(type.name) matrix \(i) tokens \(tokens)")
                        }
                        for i in 0..<2 {
                            #expect(fused2[i].map(\.bitPattern) == separate[i].map(\.bitPattern), "\(type.name) matrix \(i) tokens \(tokens)")
                        }
                        let untouched = fused2[2].allSatisfy { $0.isNaN }
                        #expect(untouched, "the third output is untouched by a 2-matrix call")
                    }
                }
            }
        }
    }

    @Test("F32 mul matches a Float64 matrix product")
    func f32AgainstDouble() throws {
        let p = Problem(.f32, rows: 17, blocks: 4, tokens: 3, seed: 5)
        let y = try p.mul(threads: 2)
        for t in 0..<p.tokens {
            for r in 0..<p.rows {
                var sum = 0.0, magnitude = 0.0
                p.weights.withUnsafeBytes { wp in
                    for c in 0..<p.cols {
                        let term = Double(wp.loadUnaligned(fromByteOffset: 4 * (r * p.cols + c), as: Float.self))
                            * Double(p.x[t * p.cols + c])
                        sum += term
                        magnitude += abs(term)
                    }
                }
                #expect(abs(Double(y[t * p.rows + r]) - sum) <= dotTwinTolerance * magnitude)
            }
        }
    }

    @Test("WeightMatrix rejects unsupported types and ragged rows with a KernelError")
    func weightMatrixValidation() {
        let bytes = [UInt8](repeating: 0, count: 1024)
        bytes.withUnsafeBytes { p in
            #expect(throws: KernelError.self) { try WeightMatrix(type: .q8_1, rows: 1, cols: 32, data: p.baseAddress!) }
            #expect(throws: KernelError.self) { try WeightMatrix(type: .q4_0, rows: 1, cols: 48, data: p.baseAddress!) }
            #expect(throws: KernelError.self) { try WeightMatrix(type: .q4_K, rows: 2, cols: 128, data: p.baseAddress!) }
            #expect(throws: KernelError.self) { try WeightMatrix(type: .f32, rows: 0, cols: 8, data: p.baseAddress!) }
            #expect(throws: Never.self) { try WeightMatrix(type: .q4_1, rows: 2, cols: 64, data: p.baseAddress!) }
        }
    }

    @Test("vecDotType and activationBytes follow ggml's pairing")
    func activationFormats() throws {
        let expected: [GGMLType: GGMLType] = [
            .q4_0: .q8_0, .q5_0: .q8_0, .q8_0: .q8_0, .q4_1: .q8_1, .q5_1: .q8_1,
            .q4_K: .q8_K, .q5_K: .q8_K, .q6_K: .q8_K, .f16: .f16, .f32: .f32, .bf16: .f32,
        ]
        for (weight, activation) in expected { #expect(MatMul.vecDotType(for: weight) == activation) }
        let bytes = [UInt8](repeating: 0, count: 4)
        try bytes.withUnsafeBytes { p in
            let w = try WeightMatrix(type: .q4_1, rows: 1536, cols: 576, data: p.baseAddress!)
            #expect(MatMul.activationBytes(for: w, tokens: 3) == 3 * 18 * 36)
            let k = try WeightMatrix(type: .q6_K, rows: 640, cols: 2048, data: p.baseAddress!)
            #expect(MatMul.activationBytes(for: k, tokens: 1) == 8 * 292)
        }
    }
}
