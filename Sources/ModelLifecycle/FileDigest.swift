// Streaming SHA-256 of files and the tokenizer fingerprint.

import Crypto
import EdgeLMEssentials
import GGUF

/// SHA-256 helpers that never load a whole file.
public enum FileDigest {
    /// Read size of the streaming hash.
    public static let chunkSize = 1 << 20

    /// SHA-256 of the file at `path`, read in 1 MiB chunks.
    /// - Returns: (lowercase hex digest, byte count).
    /// - Throws: ``LifecycleError/io(operation:path:errno:)``.
    /// - Complexity: O(file size) time, 1 MiB of memory.
    public static func sha256(ofFileAt path: String) throws -> (hex: String, size: Int) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw LifecycleError.io(operation: "open", path: path, errno: errno) }
        defer { close(fd) }
        var hasher = SHA256()
        let size = try update(&hasher, fd: fd, path: path)
        return (hex(hasher.finalize()), size)
    }

    /// Feeds the rest of `fd` into `hasher`; returns the bytes read.
    static func update(_ hasher: inout SHA256, fd: Int32, path: String) throws -> Int {
        let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 16)
        defer { buf.deallocate() }
        var total = 0
        while true {
            let n = read(fd, buf.baseAddress, chunkSize)
            if n < 0 {
                if errno == EINTR { continue }
                throw LifecycleError.io(operation: "read", path: path, errno: errno)
            }
            if n == 0 { return total }
            hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: buf[0..<n]))
            total += n
        }
    }

    /// Lowercase hex of a digest.
    public static func hex<D: Sequence>(_ digest: D) -> String where D.Element == UInt8 {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        for b in digest { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 15)]) }
        return String(decoding: out, as: UTF8.self)
    }

    /// The tokenizer fingerprint: SHA-256 over the tokenizer model name, every vocabulary token, every merge
    /// and every score, each section tagged and each string length-prefixed (u64 LE) so that no two different
    /// vocabularies hash the same byte stream. Scores are hashed as their f32 bit patterns (LE).
    ///
    /// - Throws: ``LifecycleError/unreadableModel(_:)`` when the file has no `tokenizer.ggml.tokens`.
    /// - Complexity: O(vocabulary bytes); no String is created per token.
    public static func tokenizerFingerprint(of metadata: GGUFMetadata) throws -> String {
        var h = SHA256()
        func tag(_ s: String) { h.update(data: Data(s.utf8)); h.update(data: Data([0])) }
        func u64(_ v: Int) { withUnsafeBytes(of: UInt64(v).littleEndian) { h.update(bufferPointer: $0) } }
        do {
            tag("edgelm-tokenizer-fingerprint-v1")
            tag("model")
            let model = try metadata.optionalString(GGUFKey.tokenizerModel) ?? ""
            u64(model.utf8.count); h.update(data: Data(model.utf8))
            guard metadata.contains(GGUFKey.tokens) else {
                throw LifecycleError.unreadableModel("no \(GGUFKey.tokens) in the metadata (a tokenizer is required)")
            }
            for (name, key) in [("tokens", GGUFKey.tokens), ("merges", GGUFKey.merges)] {
                tag(name)
                guard metadata.contains(key) else { u64(0); continue }
                let array = try metadata.array(key)
                guard array.elementType == .string else {
                    throw LifecycleError.unreadableModel("\(key) is not an array of strings")
                }
                u64(array.count)
                array.forEachStringBytes { _, bytes in u64(bytes.count); h.update(bufferPointer: bytes) }
            }
            tag("scores")
            if metadata.contains(GGUFKey.scores) {
                let scores = try metadata.floatArray(GGUFKey.scores)
                u64(scores.count)
                for s in scores { withUnsafeBytes(of: s.bitPattern.littleEndian) { h.update(bufferPointer: $0) } }
            } else {
                u64(0)
            }
        } catch let e as LifecycleError {
            throw e
        } catch {
            throw LifecycleError.unreadableModel("tokenizer metadata: \(error)")
        }
        return hex(h.finalize())
    }
}
