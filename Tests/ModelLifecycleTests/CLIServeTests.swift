// `edgelm serve` as a process on a tiny model: bad flags are one-line errors; the server listens on a free
// port, answers /health without the key and 401 without it elsewhere, refuses sessions the memory cap cannot
// hold, and exits 0 on SIGINT.

#if canImport(Glibc)
import Glibc
#endif
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing

@Suite("CLI: serve", .serialized)
struct CLIServeTests {
    @Test func badFlagsAreOneLineErrors() throws {
        guard edgelmBinary() != nil else { return }
        let (dir, m) = try CLIHardeningTests.model()
        defer { cleanup(dir) }
        try CLIHardeningTests.fails(["serve", "--model", m, "--port", "70000"], ["--port"])
        try CLIHardeningTests.fails(["serve", "--model", m, "--max-sessions", "0"], ["--max-sessions"])
        try CLIHardeningTests.fails(["serve", "--model", m, "--api-key-env", "EDGELM_TEST_NO_SUCH_VARIABLE"], ["EDGELM_TEST_NO_SUCH_VARIABLE"])
        try CLIHardeningTests.fails(["serve", "--model", dir + "/missing.gguf"], ["model file not found"])
        // Four sequences of 512 tokens cannot fit 1 MiB: refused with the typed budget error (after listening).
        try CLIHardeningTests.fails(["serve", "--model", m, "--port", "0", "--max-sessions", "4", "--memory-cap", "1MiB"], ["memory"])
    }

    @Test func servesWithKeyAndStopsOnSIGINT() throws {
        guard let binary = edgelmBinary() else { return }
        let (dir, m) = try CLIHardeningTests.model()
        defer { cleanup(dir) }
        let p = Process()
        p.executableURL = binary
        p.arguments = ["serve", "--model", m, "--port", "0", "--threads", "1", "--ctx", "256", "--api-key-env", "EDGELM_TEST_KEY"]
        p.environment = ProcessInfo.processInfo.environment.merging(CLIHardeningTests.env.merging(["EDGELM_TEST_KEY": "k3y"]) { $1 }) { $1 }
        let err = Pipe()   // the listening line and logs go to stdout
        p.standardOutput = err
        p.standardError = FileHandle.nullDevice
        try p.run()
        var text = ""
        var port: Int?
        while port == nil {
            let d = err.fileHandleForReading.availableData
            if d.isEmpty { break }
            text += String(decoding: d, as: UTF8.self)
            if let r = text.range(of: #"127\.0\.0\.1:(\d+)"#, options: .regularExpression) { port = Int(text[r].split(separator: ":").last!) }
        }
        let port_ = try #require(port, "\(text)")
        func get(_ path: String, key: String? = nil) -> Int {
            var r = URLRequest(url: URL(string: "http://127.0.0.1:\(port_)\(path)")!)
            if let key { r.setValue("Bearer \(key)", forHTTPHeaderField: "Authorization") }
            let done = DispatchSemaphore(value: 0)
            nonisolated(unsafe) var status = 0
            URLSession.shared.dataTask(with: r) { _, resp, _ in status = (resp as? HTTPURLResponse)?.statusCode ?? 0; done.signal() }.resume()
            done.wait()
            return status
        }
        var health = 0
        for _ in 0..<200 where health != 200 { health = get("/health"); if health != 200 { usleep(20_000) } }
        #expect(health == 200)
        #expect(get("/v1/models") == 401)
        #expect(get("/v1/models", key: "k3y") == 200)
        kill(p.processIdentifier, SIGINT)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
    }
}
