// Resumable HTTP(S) download into the store's staging area.

import Crypto
import EdgeLMEssentials
import HTTPTransport

/// Downloads with `Range` resume: bytes already in the partial file are re-hashed and the request asks for
/// the rest (`Range: bytes=N-`). A `206` appends; a `200` starts over. A failed attempt keeps the partial
/// file, so the next attempt (or the next install) continues where it stopped. The bytes come through the
/// store's ``HTTPTransport``.
enum Downloader {
    static let maxAttempts = 3

    /// Returns the hex SHA-256 of the complete partial file.
    static func download(_ url: URL, to partial: String, expectedSize: Int, store: ModelStore,
                         transport: any HTTPTransport, progress: ((Int, Int) -> Void)?) throws -> String {
        guard let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https" else {
            throw LifecycleError.download(url: url.absoluteString, reason: "only http and https URLs are supported")
        }
        var lastError: LifecycleError = .download(url: url.absoluteString, reason: "no attempt made")
        for _ in 0..<maxAttempts {
            do {
                return try attempt(url, partial: partial, expectedSize: expectedSize, store: store, transport: transport,
                                   progress: progress)
            } catch let e as LifecycleError {
                lastError = e
                if case .download = e { continue }  // network trouble: retry with resume
                throw e
            }
        }
        throw lastError
    }

    private static func attempt(_ url: URL, partial: String, expectedSize: Int, store: ModelStore,
                                transport: any HTTPTransport, progress: ((Int, Int) -> Void)?) throws -> String {
        let fd = open(partial, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o644)
        guard fd >= 0 else { throw AtomicFile.error("create", partial) }
        defer { close(fd) }
        var hasher = SHA256()
        var have = try FileDigest.update(&hasher, fd: fd, path: partial)  // leaves the offset at the end
        if have > expectedSize {
            guard ftruncate(fd, 0) == 0, lseek(fd, 0, SEEK_SET) == 0 else { throw AtomicFile.error("truncate", partial) }
            hasher = SHA256()
            have = 0
        }
        if have == expectedSize {
            guard fsync(fd) == 0 else { throw AtomicFile.error("fsync", partial) }
            return FileDigest.hex(hasher.finalize())
        }
        if let free = store.availableBytes(store.stagingDir), free < expectedSize - have {
            throw LifecycleError.diskFull(path: partial, needed: expectedSize - have)
        }
        var request = HTTPRequest(url: url.absoluteString, timeout: 60)
        if have > 0 { request.headers["Range"] = "bytes=\(have)-" }
        var written = have, reportedMid = false
        do {
            try transport.perform(request, onResponse: { status in
                switch status {
                case 206 where written > 0:
                    return true
                case 200:
                    if written > 0 {  // the server ignored Range: start over
                        guard ftruncate(fd, 0) == 0, lseek(fd, 0, SEEK_SET) == 0 else { throw AtomicFile.error("truncate", partial) }
                        hasher = SHA256()
                        written = 0
                    }
                    return true
                default:
                    // A 4xx/5xx is not retried as network trouble.
                    throw LifecycleError.io(operation: "download (HTTP \(status)) of \(url.absoluteString)", path: partial, errno: EIO)
                }
            }, onBody: { bytes in
                if written + bytes.count > expectedSize {
                    throw LifecycleError.sizeMismatch(expected: expectedSize, actual: written + bytes.count)
                }
                hasher.update(bufferPointer: bytes)
                try AtomicFile.writeAll(fd, bytes, path: partial)
                written += bytes.count
                progress?(written, expectedSize)
                if !reportedMid, written * 2 >= expectedSize { reportedMid = true; store.hit(.copying) }
            })
        } catch let e as HTTPTransportError {
            throw LifecycleError.download(url: url.absoluteString, reason: e.reason)
        }
        guard written == expectedSize else {
            throw LifecycleError.download(url: url.absoluteString, reason: "got \(written) of \(expectedSize) bytes")
        }
        guard fsync(fd) == 0 else { throw AtomicFile.error("fsync", partial) }
        return FileDigest.hex(hasher.finalize())
    }
}
