// Property-based fuzzing of the GGUF reader *and* the model loader (issue 17): 10,000+ deterministic
// mutations of a runnable tiny model and of the seed corpus built from the real models' headers
// (Fuzz/corpus/gguf). Every input must parse-and-load, or throw a typed error whose message is at most
// 4 KiB with no control byte, within 5 s. A crash (trap) ends the test process, so "passing" means 0 crashes.
// libFuzzer drives the reader alone with coverage feedback (Fuzz/run-gguf-fuzzer.sh).

import Foundation
import GGUF
import Inference
import InferenceTestSupport
import Testing

/// Deterministic mutator (SplitMix64) over GGUF images.
struct GGUFMutator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(max(n, 1))) }

    static let boundary64: [UInt64] = [0, 1, 2, 0x7F, 0xFF, 0xFFFF, 0x7FFF_FFFF, 0xFFFF_FFFF, 1 << 32, 1 << 40,
                                       UInt64(Int64.max), .max, 30_000_000, 2_147_483_647]
    static let boundary32: [UInt32] = [0, 1, 3, 8, 9, 12, 13, 0x7FFF_FFFF, 0xFFFF_FFFF, 0x7FC0_0000 /* NaN */,
                                       0x7F80_0000 /* inf */, 0xFF80_0000 /* -inf */, 0xBF80_0000 /* -1.0 */]

    /// One mutation of `base`, biased to the first `hot` bytes (header, metadata and tensor table).
    mutating func mutate(_ base: Data, hot: Int) -> Data {
        var d = base
        // A (previously truncated) tiny input only grows: every window below needs ≥ 32 bytes.
        guard d.count >= 32 else { d.append(UInt8(truncatingIfNeeded: next())); return d }
        let span = min(hot, d.count)
        func at(_ width: Int) -> Int { below(max(span - width, 1)) }
        switch below(8) {
        case 0:  // bit flips
            for _ in 0...below(4) { let i = at(1); d[i] ^= UInt8(1) << UInt8(below(8)) }
        case 1:  // random bytes
            for _ in 0...below(4) { d[at(1)] = UInt8(truncatingIfNeeded: next()) }
        case 2:  // an 8-byte length/count/offset/dimension set to a boundary value
            let i = at(8), v = Self.boundary64[below(Self.boundary64.count)]
            withUnsafeBytes(of: v.littleEndian) { d.replaceSubrange(i..<i + 8, with: $0) }
        case 3:  // a 4-byte type/u32/f32 set to a boundary value
            let i = at(4), v = Self.boundary32[below(Self.boundary32.count)]
            withUnsafeBytes(of: v.littleEndian) { d.replaceSubrange(i..<i + 4, with: $0) }
        case 4:  // truncation
            d = d.prefix(below(d.count))
        case 5:  // escape sequences written over a name
            let i = at(6)
            d.replaceSubrange(i..<i + 6, with: [0x1B, 0x5B, 0x32, 0x4A, 0x07, 0x9B])
        case 6:  // a chunk duplicated (shifts every later offset)
            let i = at(16), n = 1 + below(16)
            d.insert(contentsOf: d[i..<min(i + n, d.count)], at: i)
        default:  // a chunk deleted
            let i = at(16), n = 1 + below(16)
            d.removeSubrange(i..<min(i + n, d.count))
        }
        return d
    }
}

@Suite("Model loader fuzz", .serialized)
struct ModelLoaderFuzzTests {
    /// The committed seed corpus (headers of the real models, no weights).
    static func corpus() -> [Data] {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Fuzz/corpus/gguf")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        return names.sorted().compactMap { FileManager.default.contents(atPath: dir.appendingPathComponent($0).path) }
    }

    struct Stats { var cases = 0, loaded = 0, parsedOnly = 0, rejected = 0, slowest = 0.0, longestMessage = 0 }

    static func checkMessage(_ error: any Error, _ stats: inout Stats) {
        let text = "\(error)"
        stats.longestMessage = max(stats.longestMessage, text.utf8.count)
        #expect(text.utf8.count <= 4096, "message of \(text.utf8.count) bytes")
        #expect(!text.unicodeScalars.contains(where: SafeText.isControl), "control byte in \(text.debugDescription)")
    }

    /// Parses, then (when it parses) loads the model, tokenizes and runs two tokens through a 16-token session.
    static func exercise(_ data: Data, scratch: String, _ stats: inout Stats) {
        stats.cases += 1
        let start = Date()
        defer {
            let t = Date().timeIntervalSince(start)
            stats.slowest = max(stats.slowest, t)
            #expect(t < 5, "input took \(t) s")
        }
        do { _ = try GGUFFile(data: data) } catch {
            stats.rejected += 1
            checkMessage(error, &stats)
            return
        }
        FileManager.default.createFile(atPath: scratch, contents: data)
        do {
            let model = try Model(path: scratch)
            let ids = model.tokenizer.encode("hi", parseSpecial: false)
            let session = try Session(model: model, options: SessionOptions(contextLength: 16, batchSize: 4, threads: 1))
            if !ids.isEmpty { _ = try session.prefill(Array(ids.prefix(2))) }
            stats.loaded += 1
        } catch {
            stats.parsedOnly += 1
            checkMessage(error, &stats)
        }
    }

    @Test("10,000 mutations of a runnable tiny model and of the real-model seeds: no crash, no slow input, short clean messages")
    func mutations() throws {
        let (tinyPath, _) = try TinyModel(dim: 32, heads: 4, kvHeads: 2, ffn: 48, matrixType: .f32, embeddingType: .f32).write()
        defer { try? FileManager.default.removeItem(atPath: tinyPath) }
        let tiny = try #require(FileManager.default.contents(atPath: tinyPath))
        let tinyHeader = try GGUFFile(data: tiny).dataOffset
        let seeds = Self.corpus()
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("edgelm-fuzz-\(getpid()).gguf").path
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        var rng = GGUFMutator(state: 0x1717_2026)
        var stats = Stats()
        let total = Int(ProcessInfo.processInfo.environment["EDGELM_FUZZ_CASES"] ?? "") ?? 10_000
        Self.exercise(tiny, scratch: scratch, &stats)
        #expect(stats.loaded == 1, "the unmutated tiny model must load")
        for i in 0..<total {
            // Three in four mutate the runnable model (loader paths), one in four a real-model seed.
            if seeds.isEmpty || i % 4 != 3 {
                var d = rng.mutate(tiny, hot: tinyHeader + 64)
                if rng.below(3) == 0 { d = rng.mutate(d, hot: tinyHeader + 64) }
                Self.exercise(d, scratch: scratch, &stats)
            } else {
                let s = seeds[rng.below(seeds.count)]
                Self.exercise(rng.mutate(s, hot: s.count), scratch: scratch, &stats)
            }
        }
        print("model loader fuzz: \(stats.cases) inputs, \(stats.loaded) loaded and ran, \(stats.parsedOnly) parsed but refused by the loader, \(stats.rejected) refused by the reader; slowest \(String(format: "%.3f", stats.slowest)) s; longest message \(stats.longestMessage) bytes; 0 crashes")
        #expect(stats.cases >= 10_000 || total < 10_000)
        #expect(stats.loaded > 1 && stats.parsedOnly > 0 && stats.rejected > 0)
    }
}
