import Foundation
import Testing
@testable import Tasks
import EdgeLMNetworking
#if canImport(Glibc)
import Glibc
#endif

/// A local handler with a fixed confidence and fit, counting calls.
final class FakeLocal: LocalTaskHandler {
    var confidence: Double?
    var fitsInput: Bool
    var calls = 0
    init(confidence: Double?, fits: Bool) { self.confidence = confidence; self.fitsInput = fits }
    func run(_ task: TaskInput) throws -> (output: TaskOutput, confidence: Double?) {
        calls += 1
        return (.rewrite("local"), confidence)
    }
    func fits(_ task: TaskInput) -> Bool { fitsInput }
}

struct FakeRemote: RemoteTaskHandler {
    var fails: Bool
    func run(_ request: TaskRequest) throws -> TaskOutput {
        if fails { throw TasksError.remoteUnavailable("offline") }
        return .rewrite("remote")
    }
}

@Suite struct RouterTests {
    static let task = TaskInput.rewrite(text: "hi", instruction: "shorter", maxTokens: 8)

    /// The expected routing for every combination, written out as the rules say.
    static func expected(hasLocal: Bool, capability: Capability, highRisk: Bool, fits: Bool, confident: Bool?)
        -> (reason: RoutingReason, runsLocal: Bool) {
        if !hasLocal { return (.noLocalModel, false) }
        if capability == .decide && highRisk { return (.highRiskDecision, false) }
        if !fits { return (.inputTooLong, false) }
        if confident == false { return (.lowConfidence, true) }
        return (.localConfident, true)
    }

    /// Exhaustive: local present/absent × capability × risk × domain × fit × confidence (none/low/high) ×
    /// remote up/down/absent × offline policy.
    @Test func routingRulesExhaustive() throws {
        var cases = 0
        for hasLocal in [true, false] {
            for capability in Capability.allCases {
                for risk in RiskLevel.allCases {
                    for domain in RiskDomain.allCases {
                        for fits in [true, false] {
                            for confidence in [nil, 0.3, 0.9] as [Double?] {
                                for remoteState in 0..<3 {   // 0 up, 1 failing, 2 absent
                                    for offline in [RouterPolicy.Offline.localLowConfidence, .fail] {
                                        cases += 1
                                        let local = hasLocal ? FakeLocal(confidence: confidence, fits: fits) : nil
                                        let remote: RemoteTaskHandler? = remoteState == 2 ? nil : FakeRemote(fails: remoteState == 1)
                                        let router = Router(local: local, remote: remote,
                                                            policy: RouterPolicy(confidenceThreshold: 0.6, offline: offline))
                                        let request = TaskRequest(task: Self.task, capability: capability, risk: risk, domain: domain)
                                        let highRisk = risk == .high || domain != .general
                                        let confident: Bool? = confidence.map { $0 >= 0.6 }
                                        let exp = Self.expected(hasLocal: hasLocal, capability: capability, highRisk: highRisk,
                                                                fits: fits, confident: confident)
                                        let context = "\(hasLocal) \(capability) \(risk) \(domain) fits=\(fits) conf=\(String(describing: confidence)) remote=\(remoteState) \(offline)"
                                        if !hasLocal && remoteState == 2 {
                                            #expect(throws: TasksError.noHandler, "\(context)") { try router.run(request) }
                                            continue
                                        }
                                        if exp.reason == .localConfident {
                                            let r = try router.run(request)
                                            #expect(r.origin == .local && !r.escalated && !r.lowConfidence && r.reason == .localConfident, "\(context)")
                                            #expect(r.output == .rewrite("local"))
                                        } else if remoteState == 0 {
                                            let r = try router.run(request)
                                            #expect(r.origin == .remote && r.escalated && r.reason == exp.reason, "\(context)")
                                            #expect(r.output == .rewrite("remote"))
                                        } else if exp.reason == .lowConfidence && offline == .localLowConfidence {
                                            let r = try router.run(request)
                                            #expect(r.origin == .local && r.lowConfidence && r.reason == .lowConfidence, "\(context)")
                                            #expect(r.escalated == (remoteState == 1))
                                        } else {
                                            #expect(throws: TasksError.self, "\(context)") { try router.run(request) }
                                            do { _ = try router.run(request) } catch let e as TasksError {
                                                if case .remoteUnavailable = e {} else { Issue.record("\(context): \(e)") }
                                            }
                                        }
                                        // The local model never runs for high-risk decisions or inputs that do not fit.
                                        if let local, !exp.runsLocal { #expect(local.calls == 0, "\(context)") }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        #expect(cases == 2 * 5 * 3 * 5 * 2 * 3 * 3 * 2)
    }
}

/// A minimal HTTP/1.1 server on 127.0.0.1 (POSIX sockets) answering every request with `body`,
/// or never answering when `hang` is set. Records the last request. (Serves until the test process exits.)
final class FakeHTTPServer: @unchecked Sendable {
    let port: UInt16
    private let fd: Int32
    private let lock = NSLock()
    private var _lastRequest = ""
    var lastRequest: String { lock.lock(); defer { lock.unlock() }; return _lastRequest }

    init(status: Int = 200, body: String, hang: Bool = false) throws {
        let sock = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: Int32 = 1
        setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = 0
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(sock, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard bound == 0, listen(sock, 8) == 0 else { throw TasksError.remoteUnavailable("test server: bind failed") }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(sock, $0, &len) } }
        port = UInt16(bigEndian: addr.sin_port)
        fd = sock
        serve(status: status, body: body, hang: hang)
    }

    private func serve(status: Int, body: String, hang: Bool) {
        let listenFD = self.fd
        Thread.detachNewThread { [self] in
            while true {
                let c = accept(listenFD, nil, nil)
                if c < 0 { return }
                var data = [UInt8]()
                var buf = [UInt8](repeating: 0, count: 4096)
                // Read headers, then Content-Length bytes of body.
                while true {
                    let n = read(c, &buf, buf.count)
                    if n <= 0 { break }
                    data += buf[0..<n]
                    let text = String(decoding: data, as: UTF8.self)
                    if let h = text.range(of: "\r\n\r\n") {
                        let headers = text[..<h.lowerBound].lowercased()
                        var length = 0
                        if let r = headers.range(of: "content-length: ") {
                            length = Int(headers[r.upperBound...].prefix { $0.isNumber }) ?? 0
                        }
                        if data.count - text.utf8.distance(from: text.startIndex, to: h.upperBound) >= length { break }
                    }
                }
                lock.lock(); _lastRequest = String(decoding: data, as: UTF8.self); lock.unlock()
                if hang { Thread.sleep(forTimeInterval: 5); close(c); continue }
                let response = "HTTP/1.1 \(status) OK\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
                _ = response.withCString { write(c, $0, strlen($0)) }
                close(c)
            }
        }
    }

    var url: URL { URL(string: "http://127.0.0.1:\(port)/v1/chat/completions")! }
    deinit { shutdown(fd, Int32(SHUT_RDWR)); close(fd) }

    static func completion(_ content: String) -> String {
        let escaped = JSONValue.string(content).description
        return #"{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"# + escaped + "}}]}"
    }
}

@Suite(.serialized) struct RemoteHandlerTests {
    @Test func classifiesThroughTheFakeServerAndSendsTheKey() throws {
        let server = try FakeHTTPServer(body: FakeHTTPServer.completion("Negative."))
        setenv("EDGELM_TEST_KEY", "sk-test-123", 1)
        let h = OpenAICompatibleHandler(url: server.url, model: "m", apiKeyVariable: "EDGELM_TEST_KEY", timeout: 5,
                                            transport: URLSessionTransport())
        let out = try h.run(TaskRequest(task: .classify(text: "bad", labels: ["positive", "negative"], instruction: nil),
                                        capability: .classify))
        guard case .classification(let c) = out else { Issue.record("wrong output"); return }
        #expect(c.label == "negative" && c.probabilities == [0, 1])
        #expect(server.lastRequest.contains("Bearer sk-test-123"))
        #expect(server.lastRequest.contains("\"model\":\"m\"") || server.lastRequest.contains("\"model\" : \"m\""))
    }

    @Test func extractionFromRemoteIsValidated() throws {
        let schema = try JSONSchema(json: Schemas.contact)
        let good = try FakeHTTPServer(body: FakeHTTPServer.completion(#"Sure: {"name":"Ann","age":3}"#))
        let out = try OpenAICompatibleHandler(url: good.url, timeout: 5, transport: URLSessionTransport())
            .run(TaskRequest(task: .extract(text: "Ann, 3", schema: schema), capability: .prefill))
        #expect(out == .extraction(try JSONValue.parse(#"{"name":"Ann","age":3}"#)))
        let bad = try FakeHTTPServer(body: FakeHTTPServer.completion(#"{"name":"Ann"}"#))
        #expect(throws: TasksError.self) {
            try OpenAICompatibleHandler(url: bad.url, timeout: 5, transport: URLSessionTransport()).run(TaskRequest(task: .extract(text: "Ann", schema: schema), capability: .prefill))
        }
    }

    @Test func httpErrorIsRemoteFailed() throws {
        let server = try FakeHTTPServer(status: 500, body: "{}")
        #expect { try OpenAICompatibleHandler(url: server.url, timeout: 5, transport: URLSessionTransport()).complete(system: "s", user: "u", maxTokens: 4) } throws: {
            if case TasksError.remoteFailed = $0 { return true }; return false
        }
    }

    /// A server that never answers: the call gives up after the timeout (never hangs), and the router
    /// falls back to the local low-confidence result or throws remoteUnavailable per policy.
    @Test func hangingServerTimesOutAndRouterFallsBack() throws {
        let server = try FakeHTTPServer(body: "", hang: true)
        let remote = OpenAICompatibleHandler(url: server.url, timeout: 1, transport: URLSessionTransport())
        let request = TaskRequest(task: RouterTests.task, capability: .draft)
        let fallback = Router(local: FakeLocal(confidence: 0.2, fits: true), remote: remote)
        let r = try fallback.run(request)
        #expect(r.origin == .local && r.lowConfidence && r.escalated && r.reason == .lowConfidence)
        let strict = Router(local: FakeLocal(confidence: 0.2, fits: true), remote: remote, policy: RouterPolicy(offline: .fail))
        #expect { try strict.run(request) } throws: {
            if case TasksError.remoteUnavailable = $0 { return true }; return false
        }
    }

    @Test func unreachablePortIsRemoteUnavailable() throws {
        // Bind a socket to get a free port, then close it: nobody listens there.
        let sock = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(sock, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(sock, $0, &len) } }
        let port = UInt16(bigEndian: addr.sin_port)
        close(sock)
        let h = OpenAICompatibleHandler(url: URL(string: "http://127.0.0.1:\(port)/v1/chat/completions")!, timeout: 2,
                                        transport: URLSessionTransport())
        #expect { try h.complete(system: "s", user: "u", maxTokens: 4) } throws: {
            if case TasksError.remoteUnavailable = $0 { return true }; return false
        }
    }
}
