// EdgeLMNetworking: HTTPTransport on Foundation's URLSession. Linking this module maps FoundationNetworking
// (libcurl and its TLS stack) into the process; the `edgelm` CLI runs it in a child (`edgelm-http`) instead.

import Dispatch
import Foundation
@_exported import HTTPTransport
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// ``HTTPTransport`` on `URLSession` (an ephemeral session per request: no cookies, no cache, no credentials
/// on disk). The body is streamed to the callbacks from URLSession's delegate queue while the caller waits.
public struct URLSessionTransport: HTTPTransport {
    public init() {}

    public func perform(_ request: HTTPRequest, onResponse: (Int) throws -> Bool,
                        onBody: (UnsafeRawBufferPointer) throws -> Void) throws {
        guard let url = URL(string: request.url), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https" else {
            throw HTTPTransportError(url: request.url, reason: "only http and https URLs are supported")
        }
        var req = URLRequest(url: url, cachePolicy: .reloadIgnoringLocalCacheData, timeoutInterval: request.timeout)
        req.httpMethod = request.method
        for (k, v) in request.headers { req.setValue(v, forHTTPHeaderField: k) }
        if !request.body.isEmpty { req.httpBody = Data(request.body) }
        try withoutActuallyEscaping(onResponse) { onResponse in
            try withoutActuallyEscaping(onBody) { onBody in
                let sink = Sink(onResponse: onResponse, onBody: onBody)
                let config = URLSessionConfiguration.ephemeral
                config.timeoutIntervalForRequest = request.timeout
                if let deadline = request.deadline { config.timeoutIntervalForResource = deadline }
                let session = URLSession(configuration: config, delegate: sink, delegateQueue: nil)
                defer { session.finishTasksAndInvalidate() }
                let task = session.dataTask(with: req)
                task.resume()
                // A hard deadline on top of URLSession's own, so a call never hangs past it.
                if let deadline = request.deadline, sink.done.wait(timeout: .now() + deadline + 1) == .timedOut {
                    task.cancel()
                    sink.done.wait()
                    sink.onResponse = nil
                    sink.onBody = nil
                    throw HTTPTransportError(url: request.url, reason: "no answer within \(deadline) s", timedOut: true)
                }
                if request.deadline == nil { sink.done.wait() }
                // The session keeps its delegate until it is invalidated, later: the callbacks may not escape.
                sink.onResponse = nil
                sink.onBody = nil
                if let failure = sink.failure { throw failure }
            }
        }
    }
}

/// Receives the response on the session's serial delegate queue; the caller reads `failure` after `done`.
private final class Sink: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    var onResponse: ((Int) throws -> Bool)?
    var onBody: ((UnsafeRawBufferPointer) throws -> Void)?
    var failure: (any Error)?
    var stopped = false
    let done = DispatchSemaphore(value: 0)

    init(onResponse: @escaping (Int) throws -> Bool, onBody: @escaping (UnsafeRawBufferPointer) throws -> Void) {
        self.onResponse = onResponse; self.onBody = onBody
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
                    completionHandler: @escaping (URLSession.ResponseDisposition) -> Void) {
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        do {
            if try onResponse?(status) == true { completionHandler(.allow); return }
        } catch { failure = error }
        stopped = true
        completionHandler(.cancel)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        guard !stopped else { return }
        do { try data.withUnsafeBytes { try onBody?($0) } } catch {
            failure = error
            stopped = true
            dataTask.cancel()
        }
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: (any Error)?) {
        if let error, failure == nil, !stopped {
            let url = task.originalRequest?.url?.absoluteString ?? "?"
            let timedOut = (error as? URLError)?.code == .timedOut
            failure = HTTPTransportError(url: url, reason: timedOut ? "timed out" : error.localizedDescription,
                                         timedOut: timedOut)
        }
        done.signal()
    }
}
