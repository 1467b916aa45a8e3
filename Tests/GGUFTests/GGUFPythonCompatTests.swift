// gguf-python compatibility: a GGUFWriter fixture must read back identically with llama.cpp's gguf.GGUFReader.
// Runs only when EDGELM_GGUF_PY_CHECK=1 (CI sets it after `pip install gguf`); needs python3 on PATH.

import Foundation
import Testing
@testable import GGUF

private let pythonCheckEnabled = ProcessInfo.processInfo.environment["EDGELM_GGUF_PY_CHECK"] == "1"

/// The repository root: the first ancestor of this file that holds scripts/check_gguf_python.py.
private func repositoryRoot(from file: String = #filePath) -> URL? {
    let starts = [URL(fileURLWithPath: file).resolvingSymlinksInPath().deletingLastPathComponent(),
                  URL(fileURLWithPath: FileManager.default.currentDirectoryPath)]
    for start in starts {
        var dir = start
        while dir.path != "/" {
            if FileManager.default.fileExists(atPath: dir.appendingPathComponent("scripts/check_gguf_python.py").path) {
                return dir
            }
            dir = dir.deletingLastPathComponent()
        }
    }
    return nil
}

/// FNV-1a 64 of `bytes` (the script computes the same checksum of each tensor's data).
func fnv1a64(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
    var h: UInt64 = 0xCBF2_9CE4_8422_2325
    for b in bytes {
        h ^= UInt64(b)
        h = h &* 0x100_0000_01B3
    }
    return h
}

/// gguf-python's GGUFValueType name.
private func pythonTypeName(_ t: GGUFValueType) -> String {
    switch t {
    case .uint8: "UINT8"
    case .int8: "INT8"
    case .uint16: "UINT16"
    case .int16: "INT16"
    case .uint32: "UINT32"
    case .int32: "INT32"
    case .float32: "FLOAT32"
    case .bool: "BOOL"
    case .string: "STRING"
    case .array: "ARRAY"
    case .uint64: "UINT64"
    case .int64: "INT64"
    case .float64: "FLOAT64"
    }
}

private func jsonScalar(_ v: GGUFValue) -> Any {
    switch v {
    case let .uint8(x): NSNumber(value: x)
    case let .int8(x): NSNumber(value: x)
    case let .uint16(x): NSNumber(value: x)
    case let .int16(x): NSNumber(value: x)
    case let .uint32(x): NSNumber(value: x)
    case let .int32(x): NSNumber(value: x)
    case let .uint64(x): NSNumber(value: x)
    case let .int64(x): NSNumber(value: x)
    case let .float32(x): NSNumber(value: Double(x))
    case let .float64(x): NSNumber(value: x)
    case let .bool(x): NSNumber(value: x)
    case let .string(s): s
    case .array: NSNull()
    }
}

/// The expectation document check_gguf_python.py --expect reads, built from what the file holds.
func pythonExpectation(for file: GGUFFile) throws -> Data {
    var kv: [String: Any] = [:]
    for (key, value) in file.metadata.entries {
        var spec: [String: Any] = ["type": pythonTypeName(value.type)]
        if case let .array(a) = value {
            spec["element_type"] = pythonTypeName(a.elementType)
            if a.elementType != .array { spec["value"] = a.values.map(jsonScalar) }
        } else {
            spec["value"] = jsonScalar(value)
        }
        kv[key] = spec
    }
    let tensors: [[String: Any]] = file.tensors.map { t in
        ["name": t.name, "type": t.type.name, "shape": t.shape, "bytes": t.byteCount,
         "fnv1a64": NSNumber(value: fnv1a64(t.bytes))]
    }
    return try JSONSerialization.data(withJSONObject: ["kv": kv, "tensors": tensors], options: [.sortedKeys])
}

@Suite("gguf-python compatibility")
struct GGUFPythonCompatTests {
    @Test("expectation JSON describes the fixture (always runs)")
    func expectationDocument() throws {
        let file = try GGUFFile(data: try fixtureWriter().data())
        let json = try #require(try JSONSerialization.jsonObject(with: pythonExpectation(for: file)) as? [String: Any])
        let kv = try #require(json["kv"] as? [String: Any])
        #expect(kv.count == file.metadata.count)
        let u64 = try #require(kv["test.u64"] as? [String: Any])
        #expect((u64["value"] as? NSNumber)?.uint64Value == UInt64.max)
        #expect((json["tensors"] as? [Any])?.count == fixtureTensors.count)
    }

    @Test(
        "gguf.GGUFReader reads a GGUFWriter fixture identically",
        .enabled(if: pythonCheckEnabled, "set EDGELM_GGUF_PY_CHECK=1 (after `pip install gguf`) to run"))
    func pythonReadsFixture() throws {
        let root = try #require(repositoryRoot(), "scripts/check_gguf_python.py not found above \(#filePath)")
        let path = temporaryPath("pycheck.gguf")
        let expectPath = path + ".expect.json"
        defer {
            try? FileManager.default.removeItem(atPath: path)
            try? FileManager.default.removeItem(atPath: expectPath)
        }
        let writer = try fixtureWriter()
        try writer.write(to: path)
        try pythonExpectation(for: GGUFFile(path: path)).write(to: URL(fileURLWithPath: expectPath))

        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", root.appendingPathComponent("scripts/check_gguf_python.py").path,
                             "--quiet", "--expect", expectPath, path]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "check_gguf_python.py failed:\n\(text)")
    }
}
