// libFuzzer entry point for the GGUF reader (built by Fuzz/run-gguf-fuzzer.sh with `swiftc -sanitize=fuzzer`,
// the GGUF sources compiled into this module). Every input must either parse — and then every metadata value
// and tensor byte must be readable — or throw a GGUFError whose message is short (≤ 4 KiB) and holds no
// control byte. Anything else (trap, out-of-bounds read under ASan, oversized or unsafe message) is a crash.

#if canImport(Glibc)
import Glibc
#endif
import Foundation

private func fail(_ why: String) -> Never {
    FileHandle.standardError.write(Data("fuzz invariant broken: \(why)\n".utf8))
    abort()
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let storage = GGUFStorage(copying: UnsafeRawBufferPointer(start: data, count: size))
    let file: GGUFFile
    do {
        file = try GGUFFile(storage: storage, path: "<fuzz>")
    } catch let e as GGUFError {
        let text = e.description
        if text.utf8.count > 4096 { fail("message of \(text.utf8.count) bytes") }
        if text.unicodeScalars.contains(where: SafeText.isControl) { fail("control byte in \(text.debugDescription)") }
        return 0
    } catch {
        fail("non-GGUFError \(error)")
    }
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
        _ = try? file.metadata.float(key)
        _ = try? file.metadata.stringArray(key)
    }
    for t in file.tensors {
        if t.fileOffset < file.dataOffset || t.fileOffset + t.byteCount > file.fileSize { fail("tensor outside the file") }
        for b in t.bytes { checksum &+= Int(b) }
    }
    if checksum == 42 { return 0 }
    return 0
}
