// HTTPTransport: the one interface the model store (downloads, channels) and the remote task handler send
// HTTP requests through. The library modules do not import FoundationNetworking (it maps libcurl and its TLS
// stack into every process that loads it): a transport is injected — `URLSessionTransport` (EdgeLMNetworking)
// in apps and the server, a child process in the `edgelm` CLI.

/// One HTTP request.
public struct HTTPRequest: Sendable, Codable, Equatable {
    /// `GET`, `POST`, ….
    public var method: String
    /// An absolute `http` or `https` URL.
    public var url: String
    /// Header fields (e.g. `Range`, `Authorization`, `Content-Type`).
    public var headers: [String: String]
    /// Seconds without progress after which the transfer fails (``HTTPTransportError/timedOut``).
    public var timeout: Double
    /// Seconds the whole transfer may take (nil: no limit, as for a model download).
    public var deadline: Double?
    /// The body sent (empty for GET).
    public var body: [UInt8]

    public init(method: String = "GET", url: String, headers: [String: String] = [:], timeout: Double = 60,
                deadline: Double? = nil, body: [UInt8] = []) {
        self.method = method; self.url = url; self.headers = headers; self.timeout = timeout
        self.deadline = deadline; self.body = body
    }
}

/// A transfer that did not produce an HTTP response: DNS, refused or reset connection, TLS, timeout.
/// An HTTP error status is not one of these: the caller sees it in `onResponse`.
public struct HTTPTransportError: Error, Sendable, Equatable, CustomStringConvertible {
    public var url: String
    public var reason: String
    /// True when the request's timeout elapsed.
    public var timedOut: Bool

    public init(url: String, reason: String, timedOut: Bool = false) {
        self.url = url; self.reason = reason; self.timedOut = timedOut
    }

    public var description: String { "\(url): \(reason)" }
}

/// Sends HTTP requests. Implementations: `URLSessionTransport` (module EdgeLMNetworking) and the CLI's
/// child-process transport. Conformers are thread-safe.
public protocol HTTPTransport: Sendable {
    /// Performs `request`, streaming the response: `onResponse` gets the status before any body and returns
    /// false to reject it (the transfer stops; `perform` returns); `onBody` gets the body in order, in chunks.
    /// An error thrown by either callback stops the transfer and is rethrown.
    /// - Throws: ``HTTPTransportError`` when no response arrives, and the callbacks' errors.
    func perform(_ request: HTTPRequest, onResponse: (Int) throws -> Bool,
                 onBody: (UnsafeRawBufferPointer) throws -> Void) throws
}

extension HTTPTransport {
    /// The status and the whole body (for small responses: API answers, manifests, channel files).
    /// - Throws: ``HTTPTransportError``.
    public func fetch(_ request: HTTPRequest) throws -> (status: Int, body: [UInt8]) {
        var status = 0, body: [UInt8] = []
        try perform(request, onResponse: { status = $0; return true }, onBody: { body.append(contentsOf: $0) })
        return (status, body)
    }
}
