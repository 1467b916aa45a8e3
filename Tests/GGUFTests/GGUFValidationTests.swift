// One test per validation error: each builds a bad file by hand and asserts the exact GGUFError case.

import Foundation
import Testing
@testable import GGUF

/// A file with no metadata and the given tensor infos (name, dims, type, offset), padded to 32, then
/// `dataBytes` zero bytes.
private func tensorFile(_ infos: [(String, [Int64], UInt32, UInt64)], dataBytes: Int) -> Data {
    let b = Bytes.header(tensors: UInt64(infos.count), kvs: 0)
    for (name, dims, type, offset) in infos {
        b.str(name).u32(UInt32(dims.count))
        for d in dims { b.i64(d) }
        b.u32(type).u64(offset)
    }
    b.pad(to: 32).raw([UInt8](repeating: 0, count: dataBytes))
    return b.data
}

private func parse(_ data: Data) -> GGUFError? { ggufError { _ = try GGUFFile(data: data) } }

@Suite("GGUF validation errors")
struct GGUFValidationTests {
    @Test func badMagic() {
        var data = smallValidFile().data
        data[0] = UInt8(ascii: "X")
        #expect(parse(data) == .badMagic(found: 0x4655_4758))
        #expect(GGUFError.badMagic(found: 0x4655_4758).description.contains("byte offset 0"))
    }

    @Test(arguments: [UInt32(1), 4, 0x0300_0000])
    func unsupportedVersion(_ version: UInt32) {
        var data = smallValidFile().data
        withUnsafeBytes(of: version.littleEndian) { data.replaceSubrange(4..<8, with: $0) }
        #expect(parse(data) == .unsupportedVersion(version))
        #expect(GGUFError.unsupportedVersion(0x0300_0000).description.contains("big-endian"))
    }

    @Test func truncatedHeader() {
        #expect(parse(Data("GGUF".utf8) + Data([3, 0, 0, 0, 1]))
            == .truncated(section: "header", offset: 8, needed: 8, available: 1))
    }

    @Test func truncatedMetadata() {
        let b = Bytes.header(tensors: 0, kvs: 2)
        b.str("a").u32(4).u32(1)
        b.str("b").u32(4).u16(0)  // u32 value cut short
        // kv count check first: 2 kvs need >= 26 bytes; the body has 35 bytes, so the parse reaches the value.
        #expect(parse(b.data) == .truncated(section: "metadata", offset: b.data.count - 2, needed: 4, available: 2))
    }

    @Test func truncatedTensorTable() {
        let data = tensorFile([("w", [4], 0, 0)], dataBytes: 16)
        // Cut in the middle of the tensor's offset field (header 24 + name 9 + n_dims 4 + dim 8 + type 4).
        let cut = data.prefix(24 + 9 + 4 + 8 + 4 + 3)
        #expect(parse(Data(cut)) == .truncated(section: "tensor table", offset: 49, needed: 8, available: 3))
    }

    @Test func stringLengthBeyondFile() {
        let b = Bytes.header(tensors: 0, kvs: 1)
        b.str("k").u32(8).u64(1000).raw(Array("short".utf8))
        #expect(parse(b.data) == .lengthBeyondFile(what: "string value of 'k'", offset: 24 + 9 + 4, length: 1000,
                                                    remaining: 5))
    }

    @Test func keyLengthHuge() {
        let b = Bytes.header(tensors: 0, kvs: 1)
        b.u64(UInt64.max).raw([0, 0, 0, 0, 0])
        #expect(parse(b.data) == .lengthBeyondFile(what: "metadata key", offset: 24, length: UInt64.max, remaining: 5))
    }

    @Test func arrayCountBeyondFile() {
        var (data, layout) = smallValidFile()
        withUnsafeBytes(of: UInt64.max) { data.replaceSubrange(layout.arrayCountOffset..<layout.arrayCountOffset + 8, with: $0) }
        guard case let .countTooLarge(what, offset, count, _)? = parse(data) else {
            Issue.record("expected countTooLarge")
            return
        }
        #expect(what.contains("array") && offset == layout.arrayCountOffset && count == UInt64.max)
    }

    @Test func kvCountTooLarge() {
        var data = smallValidFile().data
        withUnsafeBytes(of: UInt64(1) << 40) { data.replaceSubrange(16..<24, with: $0) }
        guard case let .countTooLarge(what, offset, count, _)? = parse(data) else {
            Issue.record("expected countTooLarge")
            return
        }
        #expect(what == "metadata key/value" && offset == 16 && count == 1 << 40)
    }

    @Test func tensorCountTooLarge() {
        var data = smallValidFile().data
        withUnsafeBytes(of: UInt64.max) { data.replaceSubrange(8..<16, with: $0) }
        guard case let .countTooLarge(what, offset, _, _)? = parse(data) else {
            Issue.record("expected countTooLarge")
            return
        }
        #expect(what == "tensor" && offset == 8)
    }

    @Test func invalidValueType() {
        let b = Bytes.header(tensors: 0, kvs: 1)
        b.str("k").u32(13).u32(0)
        #expect(parse(b.data) == .invalidValueType(raw: 13, key: "k", offset: 33))
    }

    @Test func invalidArrayElementType() {
        let b = Bytes.header(tensors: 0, kvs: 1)
        b.str("k").u32(9).u32(99).u64(0)
        #expect(parse(b.data) == .invalidValueType(raw: 99, key: "k", offset: 37))
    }

    @Test func nestingTooDeep() {
        let b = Bytes.header(tensors: 0, kvs: 1)
        b.str("k").u32(9)
        for _ in 0..<40 { b.u32(9).u64(1) }
        b.u32(0).u64(0)
        guard case let .nestingTooDeep(key, _, limit)? = parse(b.data) else {
            Issue.record("expected nestingTooDeep")
            return
        }
        #expect(key == "k" && limit == GGUFParser.maxArrayNesting)
    }

    @Test func invalidBool() {
        let b = Bytes.header(tensors: 0, kvs: 1)
        b.str("k").u32(7).u8(2)
        #expect(parse(b.data) == .invalidBool(raw: 2, key: "k", offset: 37))
        let c = Bytes.header(tensors: 0, kvs: 1)
        c.str("k").u32(9).u32(7).u64(3).u8(0).u8(1).u8(5)
        #expect(parse(c.data) == .invalidBool(raw: 5, key: "k", offset: 51))
    }

    @Test func duplicateKey() {
        let b = Bytes.header(tensors: 0, kvs: 2)
        b.str("k").u32(0).u8(1)
        b.str("k").u32(0).u8(2)
        #expect(parse(b.data) == .duplicateKey(key: "k", offset: 38))
    }

    @Test(arguments: [UInt32(0), 3, 48])
    func invalidAlignment(_ value: UInt32) {
        let b = Bytes.header(tensors: 0, kvs: 1)
        b.str("general.alignment").u32(4).u32(value)
        #expect(parse(b.data) == .invalidAlignment(value: String(value), offset: 24 + 25 + 4))
    }

    @Test func alignmentOfWrongType() {
        let b = Bytes.header(tensors: 0, kvs: 1)
        b.str("general.alignment").u32(8).str("32")
        guard case .invalidAlignment? = parse(b.data) else {
            Issue.record("expected invalidAlignment")
            return
        }
    }

    @Test func duplicateTensor() {
        let data = tensorFile([("w", [8], 0, 0), ("w", [8], 0, 32)], dataBytes: 64)
        #expect(parse(data) == .duplicateTensor(name: "w", offset: 24 + 33))
    }

    @Test func unknownTensorType() {
        let data = tensorFile([("w", [8], 99, 0)], dataBytes: 32)
        #expect(parse(data) == .unknownTensorType(raw: 99, tensor: "w", offset: 24 + 9 + 4 + 8))
    }

    @Test func tooManyDimensions() {
        let data = tensorFile([("w", [1, 1, 1, 1, 1], 0, 0)], dataBytes: 32)
        #expect(parse(data) == .tooManyDimensions(count: 5, tensor: "w", offset: 33))
    }

    @Test(arguments: [Int64(0), -1, Int64.min])
    func invalidDimension(_ d: Int64) {
        let data = tensorFile([("w", [4, d], 0, 0)], dataBytes: 32)
        #expect(parse(data) == .invalidDimension(value: d, index: 1, tensor: "w", offset: 33 + 4 + 8))
    }

    @Test func elementCountOverflow() {
        let dims: [Int64] = [1 << 32, 1 << 32]
        #expect(parse(tensorFile([("w", dims, 0, 0)], dataBytes: 32))
            == .shapeOverflow(tensor: "w", shape: dims, offset: 33))
    }

    @Test func byteCountOverflow() {
        let dims: [Int64] = [Int64.max / 2]  // elements fit in Int, bytes (× 4) do not
        #expect(parse(tensorFile([("w", dims, 0, 0)], dataBytes: 32))
            == .shapeOverflow(tensor: "w", shape: dims, offset: 33))
        let rows: [Int64] = [32, Int64.max / 32]  // Q8_0: 34 bytes per 32 elements overflows
        #expect(parse(tensorFile([("q", rows, 8, 0)], dataBytes: 34))
            == .shapeOverflow(tensor: "q", shape: rows, offset: 33))
    }

    @Test func shapeNotBlockAligned() {
        #expect(parse(tensorFile([("q", [31, 2], 8, 0)], dataBytes: 128))
            == .shapeNotBlockAligned(tensor: "q", type: "Q8_0", ne0: 31, blockSize: 32, offset: 33))
    }

    @Test func misalignedTensor() {
        #expect(parse(tensorFile([("w", [4], 0, 16)], dataBytes: 64))
            == .misalignedTensor(tensor: "w", dataOffset: 16, alignment: 32, offset: 24))
    }

    @Test func tensorOutOfBounds() throws {
        let data = tensorFile([("w", [64], 0, 0)], dataBytes: 100)  // needs 256 bytes
        let dataOffset = data.count - 100
        #expect(parse(data) == .tensorOutOfBounds(tensor: "w", start: UInt64(dataOffset), byteCount: 256,
                                                  fileSize: data.count))
        let far = tensorFile([("w", [4], 0, UInt64.max - 31)], dataBytes: 32)  // start overflows
        guard case .tensorOutOfBounds? = parse(far) else {
            Issue.record("expected tensorOutOfBounds")
            return
        }
    }

    @Test func overlappingTensors() {
        let data = tensorFile([("a", [16], 0, 0), ("b", [4], 0, 32)], dataBytes: 96)  // a spans 0..<64
        #expect(parse(data) == .overlappingTensors(first: "a", second: "b", offset: 24 + 33))
    }

    @Test func removedTypeParsesButIsUnsupported() throws {
        // Q4_0_4_4 (id 31) was removed from ggml: the file parses, asking for the tensor throws.
        let data = tensorFile([("r", [32], 31, 0), ("w", [8], 0, 64)], dataBytes: 96)
        let file = try GGUFFile(data: data)
        let r = try #require(file.tensor(named: "r"))
        #expect(r.type == .q4_0_4_4 && !r.type.hasLayout && r.byteCount == 64)  // extent: up to the next tensor
        #expect(ggufError { _ = try file.requireTensor("r") } == .unsupportedType(name: "Q4_0_4_4", tensor: "r"))
        #expect(ggufError { _ = try file.requireTensor("nope") } == .tensorNotFound("nope"))
        #expect(try file.requireTensor("w").byteCount == 32)
    }

    @Test("every error message names a location or key and carries a hint")
    func messagesHaveHints() {
        let errors: [GGUFError] = [
            .cannotOpen(path: "p", reason: "r"), .cannotWrite(path: "p", reason: "r"), .badMagic(found: 0),
            .unsupportedVersion(1), .truncated(section: "header", offset: 1, needed: 2, available: 0),
            .lengthBeyondFile(what: "w", offset: 1, length: 2, remaining: 0),
            .countTooLarge(what: "w", offset: 1, count: 2, remaining: 0),
            .invalidValueType(raw: 1, key: "k", offset: 1), .nestingTooDeep(key: "k", offset: 1, limit: 2),
            .invalidBool(raw: 2, key: "k", offset: 1), .duplicateKey(key: "k", offset: 1),
            .invalidAlignment(value: "0", offset: 1), .duplicateTensor(name: "t", offset: 1),
            .unknownTensorType(raw: 1, tensor: "t", offset: 1), .tooManyDimensions(count: 5, tensor: "t", offset: 1),
            .invalidDimension(value: 0, index: 0, tensor: "t", offset: 1),
            .shapeOverflow(tensor: "t", shape: [1], offset: 1),
            .shapeNotBlockAligned(tensor: "t", type: "Q8_0", ne0: 1, blockSize: 32, offset: 1),
            .misalignedTensor(tensor: "t", dataOffset: 1, alignment: 32, offset: 1),
            .tensorOutOfBounds(tensor: "t", start: 1, byteCount: 1, fileSize: 1),
            .overlappingTensors(first: "a", second: "b", offset: 1), .keyNotFound("k"),
            .typeMismatch(key: "k", expected: "e", found: "f"), .valueOutOfRange(key: "k", value: "v"),
            .tensorNotFound("t"), .unsupportedType(name: "Q4_2", tensor: "t"), .invalidWriterInput("x"),
        ]
        for e in errors {
            #expect(e.description.contains("hint:"), "\(e)")
            #expect(!e.description.contains("\n"), "\(e)")
        }
    }
}
