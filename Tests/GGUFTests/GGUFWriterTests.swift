// GGUFWriter → GGUFFile round trips, and writer input validation.

import Foundation
import Testing
@testable import GGUF

/// Every metadata value type, including arrays of each element type and nested arrays.
func allValueTypesMetadata() throws -> [(key: String, value: GGUFValue)] {
    [
        (GGUFKey.architecture, .string("llama")),
        ("test.u8", .uint8(250)), ("test.i8", .int8(-7)), ("test.u16", .uint16(65000)), ("test.i16", .int16(-300)),
        ("test.u32", .uint32(4_000_000_000)), ("test.i32", .int32(-123_456)), ("test.f32", .float32(3.25)),
        ("test.bool", .bool(true)), ("test.string", .string("héllo ✓")), ("test.u64", .uint64(UInt64.max)),
        ("test.i64", .int64(Int64.min)), ("test.f64", .float64(-0.125)),
        ("test.arr.u8", .array(try GGUFArray(elementType: .uint8, values: [.uint8(0), .uint8(255)]))),
        ("test.arr.i8", .array(try GGUFArray(elementType: .int8, values: [.int8(-1)]))),
        ("test.arr.u16", .array(try GGUFArray(elementType: .uint16, values: [.uint16(1), .uint16(2)]))),
        ("test.arr.i16", .array(try GGUFArray(elementType: .int16, values: [.int16(-2)]))),
        ("test.arr.u32", .array(try GGUFArray(elementType: .uint32, values: [.uint32(7)]))),
        ("test.arr.i32", .array(GGUFArray(int32s: [1, -1, 3]))),
        ("test.arr.f32", .array(GGUFArray(float32s: [0.5, -1.5]))),
        ("test.arr.bool", .array(try GGUFArray(elementType: .bool, values: [.bool(false), .bool(true)]))),
        ("test.arr.string", .array(GGUFArray(strings: ["a", "", "Ġthe"]))),
        ("test.arr.u64", .array(try GGUFArray(elementType: .uint64, values: [.uint64(1 << 40)]))),
        ("test.arr.i64", .array(try GGUFArray(elementType: .int64, values: [.int64(-5)]))),
        ("test.arr.f64", .array(try GGUFArray(elementType: .float64, values: [.float64(2.5)]))),
        ("test.arr.empty", .array(try GGUFArray(elementType: .float32, values: []))),
        ("test.arr.nested", .array(try GGUFArray(elementType: .array, values: [
            .array(GGUFArray(int32s: [1, 2])), .array(GGUFArray(strings: ["x"])),
        ]))),
    ]
}

/// Deterministic pseudo-random bytes.
func pseudoRandomBytes(_ count: Int, seed: UInt64) -> Data {
    var rng = SplitMix64(seed: seed)
    return Data((0..<count).map { _ in UInt8(truncatingIfNeeded: rng.next()) })
}

struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Tensors of several types: (name, type, shape).
let fixtureTensors: [(String, GGMLType, [Int])] = [
    ("f32.weight", .f32, [8, 3]), ("f16.weight", .f16, [5]), ("q8_0.weight", .q8_0, [64, 2]),
    ("q4_1.weight", .q4_1, [32, 3, 2]), ("q4_k.weight", .q4_K, [256]), ("bf16.weight", .bf16, [2, 2, 2, 2]),
]

/// A writer holding every metadata value type and the fixture tensors (random bytes).
func fixtureWriter(alignment: Int = 32, version: UInt32 = 3) throws -> GGUFWriter {
    var w = try GGUFWriter(alignment: alignment, version: version)
    for (k, v) in try allValueTypesMetadata() { try w.add(k, v) }
    for (i, (name, type, shape)) in fixtureTensors.enumerated() {
        let rows = shape.dropFirst().reduce(1, *)
        let bytes = pseudoRandomBytes(type.rowBytes(shape[0])! * rows, seed: UInt64(i))
        try w.addTensor(name: name, type: type, shape: shape, bytes: bytes)
    }
    return w
}

@Suite("GGUF writer")
struct GGUFWriterTests {
    @Test("round trip: every value type and several tensor types", arguments: [(32, UInt32(3)), (64, 3), (32, 2)])
    func roundTrip(alignment: Int, version: UInt32) throws {
        let data = try fixtureWriter(alignment: alignment, version: version).data()
        let file = try GGUFFile(data: data)
        #expect(file.version == version)
        #expect(file.alignment == alignment)
        let expected = try allValueTypesMetadata()
        let keys = file.metadata.keys.filter { $0 != GGUFKey.alignment }
        #expect(keys == expected.map(\.key))
        for (k, v) in expected { #expect(file.metadata[k] == v, "\(k)") }
        #expect(file.tensors.map(\.name) == fixtureTensors.map(\.0))
        for (i, (name, type, shape)) in fixtureTensors.enumerated() {
            let t = try file.requireTensor(name)
            #expect(t.type == type && t.shape == shape)
            #expect(t.fileOffset % alignment == 0)
            #expect(Data(t.bytes) == pseudoRandomBytes(t.byteCount, seed: UInt64(i)))
        }
        #expect(data.count == file.tensors.last!.fileOffset + file.tensors.last!.byteCount
            + (alignment - file.tensors.last!.byteCount % alignment) % alignment)
    }

    @Test("write(to:) produces the same bytes as data()")
    func writeToPath() throws {
        let w = try fixtureWriter()
        let path = temporaryPath("writer.gguf")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try w.write(to: path)
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == w.data())
        #expect(try GGUFFile(path: path).tensors.count == fixtureTensors.count)
    }

    @Test("metadata copied from a parsed file (stored arrays) re-encodes identically")
    func copyParsedMetadata() throws {
        let first = try GGUFFile(data: try fixtureWriter().data())
        var w = try GGUFWriter()
        try w.add(contentsOf: first.metadata)
        let second = try GGUFFile(data: w.data())
        #expect(second.metadata.keys == first.metadata.keys)
        for k in first.metadata.keys { #expect(second.metadata[k] == first.metadata[k], "\(k)") }
    }

    @Test("writer rejects inconsistent input")
    func invalidInput() throws {
        #expect(ggufError { _ = try GGUFWriter(alignment: 24) } != nil)
        #expect(ggufError { _ = try GGUFWriter(alignment: 0) } != nil)
        #expect(ggufError { _ = try GGUFWriter(version: 1) } != nil)
        var w = try GGUFWriter()
        try w.add("k", .uint8(1))
        #expect(ggufError { try w.add("k", .uint8(2)) } == .invalidWriterInput("duplicate metadata key 'k'"))
        #expect(ggufError { try w.add(GGUFKey.alignment, .uint32(64)) } != nil)
        #expect(ggufError { _ = try GGUFArray(elementType: .uint8, values: [.int8(1)]) } != nil)
        try w.addTensor(name: "t", shape: [2], floats: [1, 2])
        #expect(ggufError { try w.addTensor(name: "t", shape: [2], floats: [1, 2]) } != nil)
        #expect(ggufError { try w.addTensor(name: "a", type: .f32, shape: [3], bytes: Data(count: 8)) } != nil)
        #expect(ggufError { try w.addTensor(name: "b", type: .q8_0, shape: [16], bytes: Data(count: 17)) } != nil)
        #expect(ggufError { try w.addTensor(name: "c", type: .f32, shape: [], bytes: Data()) } != nil)
        #expect(ggufError { try w.addTensor(name: "d", type: .f32, shape: [0], bytes: Data()) } != nil)
        #expect(ggufError { try w.addTensor(name: "e", type: .f32, shape: [1, 1, 1, 1, 1], bytes: Data(count: 4)) } != nil)
        #expect(ggufError { try w.addTensor(name: "f", type: .q4_2, shape: [32], bytes: Data(count: 20)) } != nil)
        #expect(ggufError { try w.addTensor(name: "g", type: .f32, shape: [Int.max, 4], bytes: Data()) } != nil)
        let file = try GGUFFile(data: w.data())
        #expect(file.tensors.map(\.name) == ["t"])  // rejected tensors were not added
    }
}
