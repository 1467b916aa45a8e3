// Byte-level helpers for hand-built GGUF fixtures (independent of GGUFWriter) and a few shared fixtures.

import Foundation
@testable import GGUF

/// Appends little-endian fields by hand, so reader tests do not depend on the writer.
final class Bytes {
    var data = Data()
    init() {}

    @discardableResult func u8(_ v: UInt8) -> Bytes { data.append(v); return self }
    @discardableResult func i8(_ v: Int8) -> Bytes { u8(UInt8(bitPattern: v)) }
    @discardableResult func u16(_ v: UInt16) -> Bytes { le(v) }
    @discardableResult func i16(_ v: Int16) -> Bytes { le(v) }
    @discardableResult func u32(_ v: UInt32) -> Bytes { le(v) }
    @discardableResult func i32(_ v: Int32) -> Bytes { le(v) }
    @discardableResult func u64(_ v: UInt64) -> Bytes { le(v) }
    @discardableResult func i64(_ v: Int64) -> Bytes { le(v) }
    @discardableResult func f32(_ v: Float) -> Bytes { le(v.bitPattern) }
    @discardableResult func f64(_ v: Double) -> Bytes { le(v.bitPattern) }
    @discardableResult func raw(_ bytes: [UInt8]) -> Bytes { data.append(contentsOf: bytes); return self }
    @discardableResult func str(_ s: String) -> Bytes {
        let utf8 = Array(s.utf8)
        u64(UInt64(utf8.count))
        return raw(utf8)
    }
    @discardableResult func pad(to alignment: Int) -> Bytes {
        while data.count % alignment != 0 { data.append(0) }
        return self
    }
    @discardableResult private func le<T: FixedWidthInteger>(_ v: T) -> Bytes {
        withUnsafeBytes(of: v.littleEndian) { data.append(contentsOf: $0) }
        return self
    }

    /// "GGUF", version, tensor count, kv count.
    static func header(version: UInt32 = 3, tensors: UInt64, kvs: UInt64) -> Bytes {
        let b = Bytes()
        b.raw(Array("GGUF".utf8)).u32(version).u64(tensors).u64(kvs)
        return b
    }
}

/// Offsets of fields in ``smallValidFile()``, for targeted mutations.
struct SmallFileLayout {
    var kvCountOffset = 16
    var tensorCountOffset = 8
    var firstKeyLengthOffset = 24
    var arrayCountOffset = 0
    var tensorTableOffset = 0
    var firstTensorTypeOffset = 0
    var firstTensorDataOffsetField = 0
}

/// A small valid v3 file written byte by byte: 3 keys (string, u32, array of 2 strings) and two tensors
/// (F32 [4, 2] at offset 0, Q8_0 [32] at offset 32), alignment 32.
func smallValidFile() -> (data: Data, layout: SmallFileLayout) {
    var layout = SmallFileLayout()
    let b = Bytes.header(tensors: 2, kvs: 3)
    b.str("general.architecture").u32(8).str("llama")
    b.str("llama.block_count").u32(4).u32(2)
    b.str("tokenizer.ggml.tokens").u32(9).u32(8)
    layout.arrayCountOffset = b.data.count
    b.u64(2).str("a").str("bc")
    layout.tensorTableOffset = b.data.count
    b.str("w").u32(2).i64(4).i64(2)
    layout.firstTensorTypeOffset = b.data.count
    b.u32(0)
    layout.firstTensorDataOffsetField = b.data.count
    b.u64(0)
    b.str("q").u32(1).i64(32).u32(8).u64(32)
    b.pad(to: 32)
    for i in 0..<8 { b.f32(Float(i)) }  // 32 bytes of F32
    b.raw([UInt8](repeating: 7, count: 34))  // one Q8_0 block
    return (b.data, layout)
}

/// Runs `body` and returns the GGUFError it throws (nil if it throws nothing or another error).
func ggufError(_ body: () throws -> Void) -> GGUFError? {
    do { try body() } catch let e as GGUFError { return e } catch { return nil }
    return nil
}

func temporaryPath(_ name: String) -> String {
    let dir = FileManager.default.temporaryDirectory.path
    return "\(dir)/edgelm-gguf-\(ProcessInfo.processInfo.processIdentifier)-\(UInt32.random(in: 0...UInt32.max))-\(name)"
}
