// Mutation fuzzing: every mutated file either parses (and can be fully read) or throws a GGUFError.
// A crash (trap, out-of-bounds read) kills the test process, so zero crashes is what "passing" means here.

import Foundation
import Testing
@testable import GGUF

@Suite("GGUF mutation fuzz")
struct GGUFFuzzTests {
    enum Outcome { case parsed, rejected }

    /// Parses `data` and, when it parses, touches everything a caller could read.
    static func exercise(_ data: Data) throws -> Outcome {
        // Returns .parsed only for files whose every tensor lies inside the data section.
        let file: GGUFFile
        do { file = try GGUFFile(data: data) } catch is GGUFError { return .rejected }
        var checksum = 0
        for key in file.metadata.keys {
            guard let value = file.metadata[key] else { continue }
            checksum &+= value.description.utf8.count
            if case let .array(a) = value {
                checksum &+= a.values.count
                checksum &+= (a.strings?.count ?? 0) &+ (a.ints?.count ?? 0) &+ (a.floats?.count ?? 0)
                a.forEachStringBytes { _, bytes in checksum &+= bytes.count }
            }
            _ = try? file.metadata.int(key)
            _ = try? file.metadata.stringArray(key)
        }
        for t in file.tensors {
            if t.fileOffset < file.dataOffset || t.fileOffset + t.byteCount > file.fileSize {
                Issue.record("tensor \(t.name) outside the file after a successful parse")
            }
            for b in t.bytes { checksum &+= Int(b) }
        }
        _ = checksum
        return .parsed
    }

    @Test("10,000+ mutations of a valid file: parse or GGUFError, never a crash")
    func mutations() throws {
        let base = try fixtureWriter().data()
        #expect(try Self.exercise(base) == .parsed)
        var cases = 0, parsed = 0, rejected = 0
        func run(_ data: Data) throws {
            cases += 1
            switch try Self.exercise(data) {
            case .parsed: parsed += 1
            case .rejected: rejected += 1
            }
        }
        // 1. Truncation at every length.
        for n in 0..<base.count { try run(base.prefix(n)) }
        // 2. Random single and multiple bit flips (deterministic seed).
        var rng = SplitMix64(seed: 0x6767_7566)
        for _ in 0..<6000 {
            var d = base
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                let i = Int.random(in: 0..<d.count, using: &rng)
                d[i] ^= UInt8(1) << UInt8.random(in: 0...7, using: &rng)
            }
            try run(d)
        }
        // 3. Every 8-byte window (lengths, counts, dims, offsets) set to huge or boundary values.
        let hugeValues: [UInt64] = [.max, 1 << 63, UInt64(Int64.max), 1 << 32, UInt64(base.count), 0]
        for i in stride(from: 0, to: base.count - 8, by: 1) {
            let v = hugeValues[i % hugeValues.count]
            var d = base
            withUnsafeBytes(of: v.littleEndian) { d.replaceSubrange(i..<i + 8, with: $0) }
            try run(d)
        }
        // 4. Every 4-byte window (types, n_dims, version) set to 0xFFFFFFFF.
        for i in stride(from: 0, to: base.count - 4, by: 1) {
            var d = base
            d.replaceSubrange(i..<i + 4, with: [0xFF, 0xFF, 0xFF, 0xFF])
            try run(d)
        }
        #expect(base.count > 1000)
        #expect(cases >= 10_000)
        #expect(parsed > 0 && rejected > 0)
    }
}
