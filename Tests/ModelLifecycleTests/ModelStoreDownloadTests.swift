// Install from an HTTP URL against a tiny POSIX-socket server on 127.0.0.1 (no network needed).

#if os(Linux)  // the tiny server uses Glibc socket calls
import Foundation
@testable import ModelLifecycle
import Testing
import EdgeLMNetworking
import EdgeLMCommandSupport
import Tasks
import InferenceTestSupport

/// A minimal HTTP/1.1 file server: GET only, honours `Range: bytes=N-`, one connection at a time.
/// With `truncateFirst`, the first response promises the whole body but sends only half and closes.
final class TinyHTTPServer: @unchecked Sendable {
    let body: Data
    let truncateFirst: Bool
    let status404: Bool
    private(set) var port: UInt16 = 0
    private let fd: Int32
    private let lock = NSLock()
    private var _ranges: [Int?] = []
    var ranges: [Int?] { lock.lock(); defer { lock.unlock() }; return _ranges }
    private var _lastRequest = ""
    /// The last request's head and body as text.
    var lastRequest: String { lock.lock(); defer { lock.unlock() }; return _lastRequest }

    init(body: Data, truncateFirst: Bool = false, status404: Bool = false) throws {
        self.body = body
        self.truncateFirst = truncateFirst
        self.status404 = status404
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        let ok = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard ok == 0, listen(fd, 8) == 0 else { throw CocoaError(.fileWriteUnknown) }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        port = UInt16(bigEndian: addr.sin_port)
        let thread = Thread { [self] in serve() }
        thread.start()
    }

    func stop() {
        shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
    }

    private func serve() {
        var served = 0
        while true {
            let c = accept(fd, nil, nil)
            if c < 0 { return }
            handle(c, first: served == 0)
            served += 1
            close(c)
        }
    }

    private func handle(_ c: Int32, first: Bool) {
        var request = [UInt8]()
        var buf = [UInt8](repeating: 0, count: 4096)
        var headEnd: Int?  // the head and the start of a body may arrive in one read
        while headEnd == nil {
            let n = recv(c, &buf, buf.count, 0)
            if n <= 0 { return }
            request += buf[0..<n]
            headEnd = (0..<max(0, request.count - 3)).first { request[$0..<$0 + 4].elementsEqual([13, 10, 13, 10]) }
        }
        var bodyBytes = Array(request[(headEnd! + 4)...])
        request = Array(request[..<(headEnd! + 4)])
        var text = String(decoding: request, as: UTF8.self)
        var length = 0
        for line in text.split(separator: "\r\n") where line.lowercased().hasPrefix("content-length:") {
            length = Int(line.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) ?? 0
        }
        while bodyBytes.count < length {
            let n = recv(c, &buf, min(buf.count, length - bodyBytes.count), 0)
            if n <= 0 { break }
            bodyBytes += buf[0..<n]
        }
        text += String(decoding: bodyBytes, as: UTF8.self)
        lock.lock(); _lastRequest = text; lock.unlock()
        var start: Int?
        for line in text.split(separator: "\r\n") where line.lowercased().hasPrefix("range: bytes=") {
            start = Int(line.dropFirst("range: bytes=".count).split(separator: "-").first ?? "")
        }
        lock.lock(); _ranges.append(start); lock.unlock()
        if status404 {
            send(c, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return
        }
        let from = start ?? 0
        var slice = body[from...]
        if let start {
            send(c, "HTTP/1.1 206 Partial Content\r\nContent-Length: \(slice.count)\r\n"
                    + "Content-Range: bytes \(start)-\(body.count - 1)/\(body.count)\r\nConnection: close\r\n\r\n")
        } else {
            send(c, "HTTP/1.1 200 OK\r\nContent-Length: \(slice.count)\r\nConnection: close\r\n\r\n")
        }
        if truncateFirst && first { slice = slice.prefix(slice.count / 2) }
        slice.withUnsafeBytes { p in
            var off = 0
            while off < p.count {
                let n = Glibc.send(c, p.baseAddress! + off, p.count - off, Int32(MSG_NOSIGNAL))
                if n <= 0 { return }
                off += n
            }
        }
    }

    private func send(_ c: Int32, _ s: String) {
        let d = Array(s.utf8)
        _ = Glibc.send(c, d, d.count, Int32(MSG_NOSIGNAL))
    }
}

/// The two transports downloads go through: URLSession in process (apps, the server) and `edgelm-http`
/// in a child process (the CLI).
enum TransportKind: String, CaseIterable, CustomTestStringConvertible {
    case urlSession, subprocess
    var testDescription: String { rawValue }

    func make() throws -> any HTTPTransport {
        switch self {
        case .urlSession: return URLSessionTransport()
        case .subprocess:
            let helper = try #require(builtExecutable("edgelm-http"), "edgelm-http is built beside the tests")
            return SubprocessTransport(executable: helper.path)
        }
    }
}

@Suite("ModelStore download", .serialized)
struct ModelStoreDownloadTests {
    @Test("installs from the manifest's URL with progress", arguments: TransportKind.allCases)
    func download(_ kind: TransportKind) throws {
        let f = try Fixture(padFloats: 400_000)
        defer { cleanup(f.dir) }
        let server = try TinyHTTPServer(body: try Data(contentsOf: URL(fileURLWithPath: f.v2Model)))
        defer { server.stop() }
        let manifest = try f.signer.manifestFile(for: f.v2Model, version: "1.1.0", in: f.dir) {
            $0.url = "http://127.0.0.1:\(server.port)/v2.gguf"
        }
        let store = try f.openStore()
        store.transport = try kind.make()
        var last = 0
        try store.install(manifestAt: manifest, publicKey: f.signer.publicKey, source: .manifestURL,
                          progress: { done, total in #expect(done <= total); last = done })
        #expect(last == server.body.count)
        #expect(store.active == "tiny@1.1.0")
        #expect(store.verify().isEmpty)
        #expect(server.ranges == [nil])
    }

    @Test("a dropped connection resumes with a Range request from the bytes already on disk",
          arguments: TransportKind.allCases)
    func resume(_ kind: TransportKind) throws {
        let f = try Fixture(padFloats: 400_000)
        defer { cleanup(f.dir) }
        let server = try TinyHTTPServer(body: try Data(contentsOf: URL(fileURLWithPath: f.v2Model)), truncateFirst: true)
        defer { server.stop() }
        let store = try f.openStore()
        store.transport = try kind.make()
        try store.install(manifestAt: f.v1Manifest, publicKey: f.signer.publicKey, source: .file(f.v1Model))
        try store.install(manifestAt: f.v2Manifest, publicKey: f.signer.publicKey,
                          source: .url(URL(string: "http://127.0.0.1:\(server.port)/v2.gguf")!))
        #expect(store.active == "tiny@1.1.0")
        #expect(store.verify().isEmpty)
        let ranges = server.ranges
        #expect(ranges.count == 2)
        #expect(ranges.first == .some(nil))
        let resumedAt = try #require(ranges.last ?? nil)
        #expect(resumedAt > 0 && resumedAt < server.body.count)
    }

    @Test("an HTTP error is a typed error and the active model stays", arguments: TransportKind.allCases)
    func notFound(_ kind: TransportKind) throws {
        let f = try Fixture()
        defer { cleanup(f.dir) }
        let server = try TinyHTTPServer(body: Data(), status404: true)
        defer { server.stop() }
        let store = try f.openStore()
        store.transport = try kind.make()
        try store.install(manifestAt: f.v1Manifest, publicKey: f.signer.publicKey, source: .file(f.v1Model))
        #expect(throws: LifecycleError.self) {
            try store.install(manifestAt: f.v2Manifest, publicKey: f.signer.publicKey,
                              source: .url(URL(string: "http://127.0.0.1:\(server.port)/missing")!))
        }
        #expect(store.active == "tiny@1.0.0")
    }

    @Test("a refused connection is a download error naming the URL", arguments: TransportKind.allCases)
    func refused(_ kind: TransportKind) throws {
        let f = try Fixture()
        defer { cleanup(f.dir) }
        let port = try { let s = try TinyHTTPServer(body: Data()); defer { s.stop() }; return s.port }()
        let store = try f.openStore()
        store.transport = try kind.make()
        #expect {
            try store.install(manifestAt: f.v2Manifest, publicKey: f.signer.publicKey,
                              source: .url(URL(string: "http://127.0.0.1:\(port)/gone")!))
        } throws: { error in
            guard case LifecycleError.download(let url, _) = error else { return false }
            return url.contains("127.0.0.1:\(port)")
        }
        #expect(store.active == nil)
    }

    @Test("a missing edgelm-http is a download error that says how to build it")
    func missingHelper() throws {
        let f = try Fixture()
        defer { cleanup(f.dir) }
        let store = try f.openStore()
        store.transport = SubprocessTransport(executable: f.dir + "/no-such/edgelm-http")
        #expect {
            try store.install(manifestAt: f.v2Manifest, publicKey: f.signer.publicKey,
                              source: .url(URL(string: "http://127.0.0.1:9/model.gguf")!))
        } throws: { error in
            guard case LifecycleError.download(_, let reason) = error else { return false }
            return reason.contains("edgelm-http") && reason.contains("swift build")
        }
        #expect(store.active == nil)
    }

    @Test("without a transport a URL install says so and nothing changes")
    func noTransport() throws {
        let f = try Fixture()
        defer { cleanup(f.dir) }
        let store = try f.openStore()
        #expect {
            try store.install(manifestAt: f.v2Manifest, publicKey: f.signer.publicKey,
                              source: .url(URL(string: "http://127.0.0.1:9/model.gguf")!))
        } throws: { error in
            guard case LifecycleError.download(_, let reason) = error else { return false }
            return reason.contains("no HTTP transport")
        }
    }

    @Test("the remote task handler posts through edgelm-http: bearer key, body and answer")
    func remoteHandlerThroughChild() throws {
        let answer = #"{"choices":[{"message":{"role":"assistant","content":"negative"}}]}"#
        let server = try TinyHTTPServer(body: Data(answer.utf8))
        defer { server.stop() }
        setenv("EDGELM_CHILD_TEST_KEY", "sk-child-7", 1)
        let handler = OpenAICompatibleHandler(url: URL(string: "http://127.0.0.1:\(server.port)/v1/chat/completions")!,
                                              model: "m", apiKeyVariable: "EDGELM_CHILD_TEST_KEY", timeout: 10,
                                              transport: try TransportKind.subprocess.make())
        let out = try handler.run(TaskRequest(task: .classify(text: "awful", labels: ["positive", "negative"], instruction: nil),
                                              capability: .classify))
        guard case .classification(let c) = out else { Issue.record("not a classification: \(out)"); return }
        #expect(c.label == "negative")
        #expect(server.lastRequest.contains("Bearer sk-child-7"))
        #expect(server.lastRequest.contains(#""model":"m""#))
    }
}
#endif
