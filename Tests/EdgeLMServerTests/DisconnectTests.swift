#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Hummingbird
import HummingbirdTesting
import Inference
import InferenceTestSupport
import Synchronization
import Testing
import Tasks
@testable import EdgeLMServer

/// A client that goes away stops its sequence: waiting in the queue, or mid-stream. Over a real socket (live
/// server on loopback), since only a real connection can close.
@Suite(.serialized) struct DisconnectTests {
    /// A blocking loopback HTTP/1.1 client that can hang up whenever it likes.
    final class RawClient {
        let fd: Int32
        init(port: Int) throws {
            fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_port = in_port_t(UInt16(port).bigEndian)
            addr.sin_addr.s_addr = inet_addr("127.0.0.1")
            let rc = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard rc == 0 else { close(fd); throw POSIXError(.ECONNREFUSED) }
        }
        func send(post path: String, body: String) {
            let text = "POST \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
            _ = text.withCString { write(fd, $0, strlen($0)) }
        }
        /// Reads until `marker` appears (or EOF); returns what was read.
        func read(until marker: String) -> String {
            var out = [UInt8]()
            var buf = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = Glibc.read(fd, &buf, buf.count)
                if n <= 0 { break }
                out += buf[0..<n]
                if String(decoding: out, as: UTF8.self).contains(marker) { break }
            }
            return String(decoding: out, as: UTF8.self)
        }
        func hangUp() { close(fd) }
    }

    static func waitUntil(_ seconds: Double = 90, _ condition: () -> Bool) async throws -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            try await Task.sleep(for: .milliseconds(5))
        }
        return condition()
    }

    /// A request waiting for the only slot is dropped from the queue when its client hangs up.
    @Test func hangUpWhileQueuedLeavesTheQueue() async throws {
        let (server, engine) = try ServerTests.server(sessions: 1, queue: 4)
        let blocker = try await LaneBlocker(engine)
        try await server.application().test(.live) { client in
            let raw = try RawClient(port: client.port!)
            raw.send(post: "/v1/chat/completions", body: ServerTests.chatBody("a", maxTokens: 50))
            #expect(try await Self.waitUntil { engine.statistics.queued == 1 })
            raw.hangUp()
            #expect(try await Self.waitUntil { engine.statistics.queued == 0 })
            #expect(engine.statistics.cancelled == 1)
            try await blocker.release()
            #expect(engine.statistics.admitted == 1)   // the blocker only: the hung-up request never ran
            let m = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
            #expect(m.contains("edgelm_requests_cancelled_total 1"))
        }
    }

    /// A streaming client that reads the first chunk and hangs up: its sequence stops within a step, its KV
    /// pages go back, and a request running beside it is unaffected.
    @Test func hangUpMidStreamStopsTheSequence() async throws {
        // A model slow enough (a few ms per token) that a long generation is surely still running at the hang-up.
        let (path, _) = try TinyModel(dim: 256, heads: 4, kvHeads: 2, ffn: 768, layers: 6, context: 2048, merges: ["a b"]).write()
        defer { try? FileManager.default.removeItem(atPath: path) }
        // A prompt whose greedy text does not end by itself within 200 tokens.
        let model = try Model(path: path)
        let session = try Session(model: model, options: SessionOptions(contextLength: 2048, batchSize: 32, threads: 1))
        var prompt: String?
        for p in ["a", "b", "ab", "ba", "aab", "bba", "abab", "baba"] {
            session.reset()
            var r = GenerationRequest(prompt: "", maxTokens: 200, sampling: .greedy)
            r.messages = [.user(p)]
            if try session.generate(r).stopReason == .maxTokens { prompt = p; break }
        }
        guard let prompt else { Issue.record("no prompt runs 200 tokens on this model"); return }
        let beside = try { () throws -> String in
            session.reset()
            var r = GenerationRequest(prompt: "", maxTokens: 30, sampling: .greedy)
            r.messages = [.user("b a")]
            return try session.generate(r).text
        }()

        // What the neighbour's lane keeps after its request (a lane keeps its last KV until the next request).
        let (_, lone) = try ServerTests.server(sessions: 2, context: 2048, path: path)
        var r = GenerationRequest(prompt: "", maxTokens: 30, sampling: .greedy)
        r.messages = [.user("b a")]
        _ = try await lone.complete(r)
        let kvNeighbourOnly = lone.statistics.kvResidentBytes

        let (server, engine) = try ServerTests.server(sessions: 2, context: 2048, path: path)
        try await server.application().test(.live) { client in
            // The neighbour runs to its end while the other is cut off.
            async let neighbour = ServerTests.post(client, "/v1/chat/completions", ServerTests.chatBody("b a", maxTokens: 30))
            let raw = try RawClient(port: client.port!)
            raw.send(post: "/v1/chat/completions", body: ServerTests.chatBody(prompt, maxTokens: 1500, stream: true))
            let first = raw.read(until: "\"content\":\"")
            #expect(first.contains("200 OK"))
            raw.hangUp()
            #expect(try await Self.waitUntil { engine.statistics.cancelled == 1 && engine.statistics.running == 0 })
            let n = try await neighbour
            // The hung-up sequence's KV pages are back: only the neighbour's remain.
            #expect(try await Self.waitUntil { engine.statistics.kvResidentBytes == kvNeighbourOnly })
            #expect(try ServerTests.json(n)["choices"]?[0]?["message"]?["content"] == .string(beside))
        }
    }
}
