// Dequantization and weight quantization against fixtures produced by llama.cpp's Python `gguf` package
// (Tests/KernelsTests/Fixtures/make_fixtures.py): bitwise floats for dequantization, bytes for quantization.

import Foundation
import GGUF
import Testing

@testable import Kernels

/// One type's entry in Fixtures/manifest.json.
struct FixtureEntry: Decodable {
    let elements: Int
    let blocks: Int
    let quantize: Bool
    let input: String?
    let quant: String
    let dequant: String
}

struct FixtureManifest: Decodable {
    let seed: Int
    let types: [String: FixtureEntry]
}

enum Fixtures {
    static func data(_ name: String) throws -> Data {
        let url = try #require(Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Fixtures"),
                               "missing fixture \(name)")
        return try Data(contentsOf: url)
    }

    static func manifest() throws -> FixtureManifest {
        try JSONDecoder().decode(FixtureManifest.self, from: data("manifest.json"))
    }

    static func floats(_ name: String) throws -> [Float] {
        let d = try data(name)
        return d.withUnsafeBytes { raw in (0..<(d.count / 4)).map { raw.loadUnaligned(fromByteOffset: 4 * $0, as: Float.self) } }
    }

    static func bytes(_ name: String) throws -> [UInt8] { [UInt8](try data(name)) }
}

@Suite("Formats vs gguf.quants fixtures")
struct FormatFixtureTests {
    static let dequantTypes = ["F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0",
                               "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"]

    @Test("manifest lists every type tested here")
    func manifestComplete() throws {
        let manifest = try Fixtures.manifest()
        #expect(Set(manifest.types.keys) == Set(Self.dequantTypes))
    }

    @Test("Dequantize.row and row_reference are bitwise equal to gguf.quants.dequantize", arguments: dequantTypes)
    func dequantizeMatchesGGUF(_ name: String) throws {
        let entry = try #require(try Fixtures.manifest().types[name])
        let type = try #require(GGMLType(name: name))
        let quant = try Fixtures.bytes(entry.quant)
        let expected = try Fixtures.floats(entry.dequant)
        #expect(quant.count == entry.blocks * type.typeSize && expected.count == entry.elements)
        let fast = dequantized(quant, count: entry.elements) { Dequantize.row(type, $0, $1, count: $2) }
        let slow = dequantized(quant, count: entry.elements) { Dequantize.row_reference(type, $0, $1, count: $2) }
        #expect(bitwiseEqual(fast, expected), "\(name): \(firstMismatch(fast, expected))")
        #expect(bitwiseEqual(slow, expected), "\(name) reference: \(firstMismatch(slow, expected))")
        // A prefix of whole blocks (odd count) dequantizes to the same prefix.
        let prefixBlocks = min(entry.blocks, 7)
        let prefix = prefixBlocks * type.blockSize
        let part = dequantized(quant, count: prefix) { Dequantize.row(type, $0, $1, count: $2) }
        #expect(bitwiseEqual(part, Array(expected[0..<prefix])))
    }

    @Test("Quantize.q4_0/q4_1/q5_0/q5_1 produce gguf.quants.quantize's bytes", arguments: ["Q4_0", "Q4_1", "Q5_0", "Q5_1"])
    func quantizeMatchesGGUF(_ name: String) throws {
        let entry = try #require(try Fixtures.manifest().types[name])
        #expect(entry.quantize)
        let type = try #require(GGMLType(name: name))
        let input = try Fixtures.floats(try #require(entry.input))
        let expected = try Fixtures.bytes(entry.quant)
        var out = [UInt8](repeating: 0xEE, count: entry.blocks * type.typeSize)
        input.withUnsafeBufferPointer { x in
            out.withUnsafeMutableBytes { y in
                switch type {
                case .q4_0: Quantize.q4_0(x.baseAddress!, y.baseAddress!, count: entry.elements)
                case .q4_1: Quantize.q4_1(x.baseAddress!, y.baseAddress!, count: entry.elements)
                case .q5_0: Quantize.q5_0(x.baseAddress!, y.baseAddress!, count: entry.elements)
                case .q5_1: Quantize.q5_1(x.baseAddress!, y.baseAddress!, count: entry.elements)
                default: Issue.record("no quantizer for \(name)")
                }
            }
        }
        let firstBad = zip(out, expected).enumerated().first { $0.element.0 != $0.element.1 }
        #expect(out == expected, "\(name): first differing byte \(firstBad.map { "\($0.offset) (block \($0.offset / type.typeSize))" } ?? "none")")
    }
}

/// "index: got vs expected" of the first bitwise difference, for failure messages.
func firstMismatch(_ a: [Float], _ b: [Float]) -> String {
    guard a.count == b.count else { return "count \(a.count) vs \(b.count)" }
    for i in a.indices where a[i].bitPattern != b[i].bitPattern && !(a[i].isNaN && b[i].isNaN) {
        return "[\(i)] \(a[i]) vs \(b[i])"
    }
    return "none"
}
