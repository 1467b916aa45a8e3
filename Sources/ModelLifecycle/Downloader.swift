// Resumable HTTP(S) download into the store's staging area.

import Crypto
import Dispatch
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Downloads with `Range` resume: bytes already in the partial file are re-hashed and the request asks for
/// the rest (`Range: bytes=N-`). A `206` appends; a `200` starts over. A failed attempt keeps the partial
/// file, so the next attempt (or the next install) continues where it stopped.
enum Downloader {
    static let maxAttempts = 3

    /// Returns the hex SHA-256 of the complete partial file.
    static func download(_ url: URL, to partial: String, expectedSize: Int, store: ModelStore,
                         progress: ((Int, Int) -> Void)?) throws -> String {
        guard let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https" else {
            throw LifecycleError.download(url: url.absoluteString, reason: "only http and https URLs are supported")
        }
        var lastError: LifecycleError = .download(url: url.absoluteString, reason: "no attempt made")
        for _ in 0..<maxAttempts {
            do {
                return try attempt(url, partial: partial, expectedSize: expectedSize, store: store, progress: progress)
            } catch let e as LifecycleError {
                lastError = e
                if case .download = e { continue }  // network trouble: retry with resume
                throw e
            }
        }
        throw lastError
    }

    private static func attempt(_ url: URL, partial: String, expectedSize: Int, store: ModelStore,
                                progress: ((Int, Int) -> Void)?) throws -> String {
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
        let sink = DownloadSink(fd: fd, path: partial, hasher: hasher, written: have, expected: expectedSize,
                                progress: progress, onBytes: { store.hit(.copying) })
        var request = URLRequest(url: url)
        request.timeoutInterval = 60
        if have > 0 { request.setValue("bytes=\(have)-", forHTTPHeaderField: "Range") }
        let session = URLSession(configuration: .ephemeral, delegate: sink, delegateQueue: nil)
        defer { session.finishTasksAndInvalidate() }
        session.dataTask(with: request).resume()
        sink.done.wait()
        if let error = sink.failure { throw error }
        guard sink.written == expectedSize else {
            throw LifecycleError.download(url: url.absoluteString,
                                          reason: "got \(sink.written) of \(expectedSize) bytes")
        }
        guard fsync(fd) == 0 else { throw AtomicFile.error("fsync", partial) }
        return FileDigest.hex(sink.hasher.finalize())
    }
}

/// Receives the response body, appending to the partial file and hashing. Delegate callbacks arrive on
/// the session's serial queue; the caller reads the results only after `done` is signalled.
private final class DownloadSink: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    let fd: Int32
    let path: String
    var hasher: SHA256
    var written: Int
    let expected: Int
    let progress: ((Int, Int) -> Void)?
    let onBytes: () -> Void
    var failure: LifecycleError?
    var reportedMid = false
    let done = DispatchSemaphore(value: 0)

    init(fd: Int32, path: String, hasher: SHA256, written: Int, expected: Int, progress: ((Int, Int) -> Void)?,
         onBytes: @escaping () -> Void) {
        self.fd = fd; self.path = path; self.hasher = hasher; self.written = written; self.expected = expected
        self.progress = progress; self.onBytes = onBytes
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
                    completionHandler: @escaping (URLSession.ResponseDisposition) -> Void) {
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        let url = response.url?.absoluteString ?? "?"
        switch status {
        case 206 where written > 0:
            completionHandler(.allow)
        case 200:
            if written > 0 {  // the server ignored Range: start over
                guard ftruncate(fd, 0) == 0, lseek(fd, 0, SEEK_SET) == 0 else {
                    failure = AtomicFile.error("truncate", path)
                    completionHandler(.cancel)
                    return
                }
                hasher = SHA256()
                written = 0
            }
            completionHandler(.allow)
        default:
            // A 4xx/5xx is not retried as network trouble.
            failure = .io(operation: "download (HTTP \(status)) of \(url)", path: path, errno: EIO)
            completionHandler(.cancel)
        }
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        guard failure == nil else { return }
        if written + data.count > expected {
            failure = .sizeMismatch(expected: expected, actual: written + data.count)
            dataTask.cancel()
            return
        }
        do {
            try data.withUnsafeBytes { bytes in
                hasher.update(bufferPointer: bytes)
                try AtomicFile.writeAll(fd, bytes, path: path)
            }
        } catch let e as LifecycleError {
            failure = e
            dataTask.cancel()
            return
        } catch {}
        written += data.count
        progress?(written, expected)
        if !reportedMid, written * 2 >= expected { reportedMid = true; onBytes() }
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: Error?) {
        if let error, failure == nil {
            failure = .download(url: task.originalRequest?.url?.absoluteString ?? "?", reason: error.localizedDescription)
        }
        done.signal()
    }
}
