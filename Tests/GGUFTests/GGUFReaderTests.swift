// Reader tests on hand-built byte fixtures (no GGUFWriter involved).

import Foundation
import Testing
@testable import GGUF

/// One metadata value written by hand: its type id, encoded bytes and the expected parse.
struct ValueCase: CustomTestStringConvertible, Sendable {
    let label: String
    let typeID: UInt32
    let bytes: [UInt8]
    let expected: GGUFValue
    var testDescription: String { label }
}

private func encoded(_ build: (Bytes) -> Void) -> [UInt8] {
    let b = Bytes()
    build(b)
    return Array(b.data)
}

let valueCases: [ValueCase] = [
    ValueCase(label: "u8", typeID: 0, bytes: [0xFE], expected: .uint8(254)),
    ValueCase(label: "i8", typeID: 1, bytes: [0x80], expected: .int8(-128)),
    ValueCase(label: "u16", typeID: 2, bytes: [0x34, 0x12], expected: .uint16(0x1234)),
    ValueCase(label: "i16", typeID: 3, bytes: [0xFF, 0xFF], expected: .int16(-1)),
    ValueCase(label: "u32", typeID: 4, bytes: [0x78, 0x56, 0x34, 0x12], expected: .uint32(0x1234_5678)),
    ValueCase(label: "i32", typeID: 5, bytes: [0xFE, 0xFF, 0xFF, 0xFF], expected: .int32(-2)),
    ValueCase(label: "f32", typeID: 6, bytes: [0x00, 0x00, 0xC0, 0x3F], expected: .float32(1.5)),
    ValueCase(label: "bool true", typeID: 7, bytes: [1], expected: .bool(true)),
    ValueCase(label: "bool false", typeID: 7, bytes: [0], expected: .bool(false)),
    ValueCase(label: "string", typeID: 8, bytes: [3, 0, 0, 0, 0, 0, 0, 0, 0x61, 0xC3, 0xA9], expected: .string("aé")),
    ValueCase(label: "empty string", typeID: 8, bytes: [0, 0, 0, 0, 0, 0, 0, 0], expected: .string("")),
    ValueCase(label: "u64", typeID: 10, bytes: [1, 0, 0, 0, 0, 0, 0, 0x80], expected: .uint64(0x8000_0000_0000_0001)),
    ValueCase(label: "i64", typeID: 11, bytes: [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF], expected: .int64(-1)),
    ValueCase(label: "f64", typeID: 12, bytes: [0, 0, 0, 0, 0, 0, 0xF0, 0xBF], expected: .float64(-1.0)),
    ValueCase(
        label: "array of u32", typeID: 9, bytes: encoded { $0.u32(4).u64(3).u32(1).u32(2).u32(0xFFFF_FFFF) },
        expected: .array(try! GGUFArray(elementType: .uint32, values: [.uint32(1), .uint32(2), .uint32(0xFFFF_FFFF)]))),
    ValueCase(
        label: "array of strings", typeID: 9, bytes: encoded { $0.u32(8).u64(3).str("Ġt").str("").str("<|im_end|>") },
        expected: .array(GGUFArray(strings: ["Ġt", "", "<|im_end|>"]))),
    ValueCase(
        label: "array of bool", typeID: 9, bytes: encoded { $0.u32(7).u64(2).u8(1).u8(0) },
        expected: .array(try! GGUFArray(elementType: .bool, values: [.bool(true), .bool(false)]))),
    ValueCase(
        label: "array of f64", typeID: 9, bytes: encoded { $0.u32(12).u64(1).f64(0.25) },
        expected: .array(try! GGUFArray(elementType: .float64, values: [.float64(0.25)]))),
    ValueCase(
        label: "empty array", typeID: 9, bytes: encoded { $0.u32(5).u64(0) },
        expected: .array(try! GGUFArray(elementType: .int32, values: []))),
    ValueCase(
        label: "nested arrays", typeID: 9,
        bytes: encoded { $0.u32(9).u64(2).u32(0).u64(2).u8(1).u8(2).u32(8).u64(1).str("x") },
        expected: .array(try! GGUFArray(elementType: .array, values: [
            .array(try! GGUFArray(elementType: .uint8, values: [.uint8(1), .uint8(2)])),
            .array(GGUFArray(strings: ["x"])),
        ]))),
]

@Suite("GGUF reader (hand-built bytes)")
struct GGUFReaderTests {
    @Test("each metadata value type parses", arguments: valueCases)
    func valueType(_ c: ValueCase) throws {
        let b = Bytes.header(tensors: 0, kvs: 2)
        b.str("test.value").u32(c.typeID).raw(c.bytes)
        b.str("test.after").u32(4).u32(77)  // proves the value consumed exactly its bytes
        let file = try GGUFFile(data: b.data)
        #expect(file.metadata["test.value"] == c.expected)
        #expect(file.metadata["test.value"]?.type.rawValue == c.typeID)
        #expect(try file.metadata.int("test.after") == 77)
        #expect(file.metadata.keys == ["test.value", "test.after"])
        #expect(file.tensors.isEmpty)
    }

    @Test("small file: metadata, tensors, data offset and zero-copy data")
    func smallFile() throws {
        let (data, _) = smallValidFile()
        let file = try GGUFFile(data: data)
        #expect(file.version == 3)
        #expect(file.alignment == 32)
        #expect(try file.metadata.string(GGUFKey.architecture) == "llama")
        #expect(try file.metadata.int(GGUFKey.blockCount("llama")) == 2)
        #expect(try file.metadata.stringArray(GGUFKey.tokens) == ["a", "bc"])
        #expect(try file.metadata.arrayCount(GGUFKey.tokens) == 2)
        #expect(file.tensors.map(\.name) == ["w", "q"])
        let w = try #require(file.tensor(named: "w"))
        #expect(w.type == .f32 && w.shape == [4, 2] && w.elementCount == 8 && w.byteCount == 32)
        #expect(w.rows == 2 && w.cols == 4)
        #expect(file.dataOffset % 32 == 0 && w.fileOffset == file.dataOffset)
        let floats = (0..<8).map { w.data.loadUnaligned(fromByteOffset: $0 * 4, as: Float.self) }
        #expect(floats == [0, 1, 2, 3, 4, 5, 6, 7])
        let q = try file.requireTensor("q")
        #expect(q.type == .q8_0 && q.byteCount == 34 && q.fileOffset == file.dataOffset + 32)
        #expect(q.bytes.allSatisfy { $0 == 7 })
        #expect(file.parameterCount == 40 && file.tensorBytes == 66)
        #expect(file.tensor(named: "missing") == nil)
    }

    @Test("v2 files parse like v3")
    func version2() throws {
        var data = smallValidFile().data
        data[4] = 2
        let file = try GGUFFile(data: data)
        #expect(file.version == 2)
        #expect(file.tensors.count == 2)
        #expect(try file.metadata.stringArray(GGUFKey.tokens) == ["a", "bc"])
    }

    @Test("general.alignment moves the data section")
    func customAlignment() throws {
        let b = Bytes.header(tensors: 1, kvs: 1)
        b.str("general.alignment").u32(4).u32(64)
        b.str("t").u32(1).i64(2).u32(1).u64(0)  // F16 [2]
        b.pad(to: 64)
        let expectedOffset = b.data.count
        b.raw([0, 0x3C, 0, 0xC0])  // 1.0, -2.0 in f16
        let file = try GGUFFile(data: b.data)
        #expect(file.alignment == 64)
        #expect(file.dataOffset == expectedOffset)
        #expect(file.tensors[0].fileOffset == expectedOffset && file.tensors[0].byteCount == 4)
    }

    @Test("0-dimensional tensor is a scalar")
    func scalarTensor() throws {
        let b = Bytes.header(tensors: 1, kvs: 0)
        b.str("s").u32(0).u32(0).u64(0).pad(to: 32).f32(3)
        let t = try GGUFFile(data: b.data).tensors[0]
        #expect(t.shape == [] && t.elementCount == 1 && t.byteCount == 4 && t.rows == 1 && t.cols == 1)
    }

    @Test("typed accessors convert and reject types")
    func accessors() throws {
        let b = Bytes.header(tensors: 0, kvs: 8)
        b.str("u8").u32(0).u8(200)
        b.str("f64").u32(12).f64(0.5)
        b.str("s").u32(8).str("hi")
        b.str("b").u32(7).u8(1)
        b.str("big").u32(10).u64(UInt64.max)
        b.str("ints").u32(9).u32(3).u64(3).i16(-1).i16(0).i16(5)
        b.str("floats").u32(9).u32(6).u64(2).f32(0.5).f32(-2)
        b.str("u64s").u32(9).u32(10).u64(1).u64(UInt64.max)
        let m = try GGUFFile(data: b.data).metadata
        #expect(try m.int("u8") == 200)
        #expect(try m.float("u8") == 200)
        #expect(try m.float("f64") == 0.5)
        #expect(try m.string("s") == "hi")
        #expect(try m.bool("b"))
        #expect(try m.intArray("ints") == [-1, 0, 5])
        #expect(try m.floatArray("ints") == [-1, 0, 5])
        #expect(try m.floatArray("floats") == [0.5, -2])
        #expect(try m.optionalString("absent") == nil)
        #expect(try m.optionalInt("absent") == nil)
        #expect(try m.optionalFloat("absent") == nil)
        #expect(try m.optionalBool("absent") == nil)
        #expect(try m.optionalInt("u8") == 200)
        #expect(ggufError { _ = try m.string("absent") } == .keyNotFound("absent"))
        #expect(ggufError { _ = try m.int("s") } == .typeMismatch(key: "s", expected: "integer", found: "string"))
        #expect(ggufError { _ = try m.optionalBool("s") } == .typeMismatch(key: "s", expected: "bool", found: "string"))
        #expect(ggufError { _ = try m.string("b") } == .typeMismatch(key: "b", expected: "string", found: "bool"))
        #expect(ggufError { _ = try m.float("s") } == .typeMismatch(key: "s", expected: "number", found: "string"))
        #expect(ggufError { _ = try m.int("big") } == .valueOutOfRange(key: "big", value: String(UInt64.max)))
        #expect(ggufError { _ = try m.intArray("u64s") } != nil)
        #expect(ggufError { _ = try m.stringArray("ints") }
            == .typeMismatch(key: "ints", expected: "array of string", found: "array of i16"))
        #expect(ggufError { _ = try m.intArray("s") } == .typeMismatch(key: "s", expected: "array", found: "string"))
        #expect(ggufError { _ = try m.intArray("floats") } != nil)
    }

    @Test("raw string bytes are exposed without String conversion")
    func rawStringBytes() throws {
        let b = Bytes.header(tensors: 0, kvs: 1)
        b.str("t").u32(9).u32(8).u64(2).u64(1).u8(0xFF).str("ok")  // 0xFF is not valid UTF-8
        let a = try GGUFFile(data: b.data).metadata.array("t")
        var seen: [[UInt8]] = []
        a.forEachStringBytes { _, bytes in seen.append(Array(bytes)) }
        #expect(seen == [[0xFF], Array("ok".utf8)])
        #expect(a.strings == ["\u{FFFD}", "ok"])
    }

    @Test("GGUFFile(path:) maps a file from disk; missing files throw cannotOpen")
    func openFromDisk() throws {
        let path = temporaryPath("small.gguf")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try smallValidFile().data.write(to: URL(fileURLWithPath: path))
        let file = try GGUFFile(path: path)
        #expect(file.path == path && file.fileSize == smallValidFile().data.count && file.tensors.count == 2)
        guard case .cannotOpen? = ggufError({ _ = try GGUFFile(path: path + ".missing") }) else {
            Issue.record("expected cannotOpen")
            return
        }
        guard case .cannotOpen? = ggufError({ _ = try GGUFFile(path: FileManager.default.temporaryDirectory.path) })
        else {
            Issue.record("expected cannotOpen for a directory")
            return
        }
    }

    @Test("an empty file is a truncated header")
    func emptyFile() throws {
        let path = temporaryPath("empty.gguf")
        defer { try? FileManager.default.removeItem(atPath: path) }
        _ = FileManager.default.createFile(atPath: path, contents: Data())
        #expect(ggufError { _ = try GGUFFile(path: path) }
            == .truncated(section: "header", offset: 0, needed: 4, available: 0))
    }

    @Test("metadata built in memory behaves like parsed metadata")
    func inMemoryMetadata() throws {
        let m = try GGUFMetadata([("a", .uint32(3)), ("t", .array(GGUFArray(strings: ["x", "y"])))])
        #expect(try m.int("a") == 3 && m.keys == ["a", "t"] && m.count == 2)
        #expect(try m.stringArray("t") == ["x", "y"])
        #expect(ggufError { _ = try GGUFMetadata([("a", .uint8(1)), ("a", .uint8(2))]) }
            == .duplicateKey(key: "a", offset: -1))
    }
}
