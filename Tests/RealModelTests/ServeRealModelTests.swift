// `edgelm serve` on SmolLM2 through the built binary: greedy answers equal `edgelm generate --chat
// --temperature 0`, alone or batched with seven others; SIGTERM drains an in-flight stream and exits 0; and the
// official `openai` Python client (when installed: .ci/run installs it) drives chat, streaming and json_schema.
#if canImport(Glibc)
import Glibc
#endif
import EdgeLM
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing

private func edgelm() -> URL? { RealModel.edgelmBinary() }

private let smol = RealModel.path(RealModel.smolLM)
private let ready = smol != nil && edgelm() != nil

/// A running `edgelm serve` child process on a free loopback port.
final class ServerProcess: @unchecked Sendable {
    let process = Process()
    let port: Int
    private let errPipe = Pipe()

    init(_ extra: [String]) throws {
        process.executableURL = edgelm()!
        process.arguments = ["serve", "--model", smol!, "--port", "0", "--threads", "2"] + extra
        process.standardOutput = errPipe   // the listening line and logs go to stdout
        process.standardError = FileHandle.nullDevice
        try process.run()
        // "edgelm serve: listening on http://127.0.0.1:PORT (…)"
        var text = ""
        var found: Int?
        while found == nil {
            let d = errPipe.fileHandleForReading.availableData
            if d.isEmpty { break }
            text += String(decoding: d, as: UTF8.self)
            if let r = text.range(of: #"127\.0\.0\.1:(\d+)"#, options: .regularExpression) {
                found = Int(text[r].split(separator: ":").last!)
            }
        }
        guard let found else { process.terminate(); throw POSIXError(.EIO) }
        port = found
    }

    func request(_ method: String, _ path: String, body: String? = nil) throws -> (Int, Data) {
        var r = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
        r.httpMethod = method
        r.timeoutInterval = 120
        if let body { r.httpBody = Data(body.utf8); r.setValue("application/json", forHTTPHeaderField: "Content-Type") }
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var result: (Int, Data) = (0, Data())
        URLSession.shared.dataTask(with: r) { data, response, _ in
            result = ((response as? HTTPURLResponse)?.statusCode ?? 0, data ?? Data())
            done.signal()
        }.resume()
        done.wait()
        return result
    }

    func waitReady() throws {
        for _ in 0..<600 {
            if (try? request("GET", "/health"))?.0 == 200 { return }
            usleep(50_000)
        }
        throw POSIXError(.ETIMEDOUT)
    }

    func stop() { if process.isRunning { process.terminate(); process.waitUntilExit() } }
    deinit { stop() }
}

private func cliGenerate(_ prompt: String, maxTokens: Int) throws -> String {
    let p = Process()
    p.executableURL = edgelm()!
    p.arguments = ["generate", "--model", smol!, "--chat", "--temperature", "0", "--max-tokens", String(maxTokens),
                   "--prompt", prompt, "--json", "--threads", "2"]
    let out = Pipe()
    p.standardOutput = out
    p.standardError = FileHandle.nullDevice
    try p.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    let json = try JSONSerialization.jsonObject(with: data) as? [String: Any]
    return json?["text"] as? String ?? "<no text>"
}

private func chatBody(_ prompt: String, maxTokens: Int, stream: Bool = false) -> String {
    let doc: [String: Any] = ["model": "smollm2-135m-instruct-q4_1", "messages": [["role": "user", "content": prompt]],
                              "temperature": 0, "max_tokens": maxTokens, "stream": stream]
    return String(decoding: try! JSONSerialization.data(withJSONObject: doc), as: UTF8.self)
}

private func content(_ data: Data) -> String? {
    let doc = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
    let choice = (doc?["choices"] as? [[String: Any]])?.first
    return (choice?["message"] as? [String: Any])?["content"] as? String
}

@Suite("edgelm serve on SmolLM2", .serialized, .enabled(if: ready, "needs weights/\(RealModel.smolLM) and the edgelm binary"))
struct ServeRealModelTests {
    static let prompts = [
        "What is the capital of France?", "Write a haiku about rain.", "List three primary colors.",
        "Translate 'good morning' to Spanish.", "What is 12 times 12?", "Name a famous physicist.",
        "Give me a synonym for happy.", "Describe a cat in one sentence.",
    ]

    /// The same greedy text as `edgelm generate --chat --temperature 0`, for a request alone and for eight
    /// requests running at once.
    @Test func greedyEqualsGenerateAloneAndBatched() async throws {
        let expected = try Self.prompts.map { try cliGenerate($0, maxTokens: 40) }
        let server = try ServerProcess(["--max-sessions", "8", "--ctx", "512"])
        defer { server.stop() }
        try server.waitReady()
        let (status, alone) = try server.request("POST", "/v1/chat/completions", body: chatBody(Self.prompts[0], maxTokens: 40))
        #expect(status == 200)
        #expect(content(alone) == expected[0])
        let texts = try await withThrowingTaskGroup(of: (Int, String?).self) { group in
            for (i, p) in Self.prompts.enumerated() {
                group.addTask { (i, content(try server.request("POST", "/v1/chat/completions", body: chatBody(p, maxTokens: 40)).1)) }
            }
            var out = [String?](repeating: nil, count: Self.prompts.count)
            for try await (i, t) in group { out[i] = t }
            return out
        }
        for i in Self.prompts.indices { #expect(texts[i] == expected[i], "prompt \(i)") }
    }

    /// SIGTERM while a stream is running: the stream still ends with [DONE], the process exits 0.
    @Test func sigtermDrainsInFlightRequests() async throws {
        let server = try ServerProcess(["--ctx", "512"])
        try server.waitReady()
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(server.port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        #expect(rc == 0)
        let body = chatBody("Tell me a long story about a lighthouse keeper.", maxTokens: 200, stream: true)
        let head = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n"
        _ = (head + body).withCString { write(fd, $0, strlen($0)) }
        var received = [UInt8]()
        var buf = [UInt8](repeating: 0, count: 4096)
        var signalled = false
        while true {
            let n = read(fd, &buf, buf.count)
            if n <= 0 { break }
            received += buf[0..<n]
            let text = String(decoding: received, as: UTF8.self)
            if !signalled && text.contains("\"content\":\"") {
                kill(server.process.processIdentifier, SIGTERM)
                signalled = true
            }
            if text.contains("data: [DONE]") { break }
        }
        close(fd)
        let text = String(decoding: received, as: UTF8.self)
        #expect(signalled)
        #expect(text.contains("\"finish_reason\":\"length\"") || text.contains("\"finish_reason\":\"stop\""))
        #expect(text.contains("data: [DONE]"))
        server.process.waitUntilExit()
        #expect(server.process.terminationStatus == 0)
    }

    /// The official `openai` Python package against the server (skipped when it is not installed).
    @Test func officialOpenAIClient() throws {
        guard let script = RealModel.repositoryRoot?.appendingPathComponent("Tests/Clients/openai_client.py").path,
              FileManager.default.fileExists(atPath: script) else {
            Issue.record("Tests/Clients/openai_client.py is missing"); return
        }
        let check = Process()
        check.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        check.arguments = ["python3", "-c", "import openai"]
        check.standardError = FileHandle.nullDevice
        try check.run(); check.waitUntilExit()
        guard check.terminationStatus == 0 else {
            print("skipped: the openai Python package is not installed (pip install openai)")
            return
        }
        let server = try ServerProcess(["--ctx", "1024"])
        defer { server.stop() }
        try server.waitReady()
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", script, "--base-url", "http://127.0.0.1:\(server.port)/v1", "--model", "smollm2-135m-instruct-q4_1"]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let log = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0, "\(log)")
    }
}
