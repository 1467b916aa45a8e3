// The CLI's HTTPTransport: each request runs in `edgelm-http`, the executable built beside `edgelm`, so the
// model-running commands never map FoundationNetworking (libcurl, TLS) into their own process.

import EdgeLM
import EdgeLMEssentials

/// ``HTTPTransport`` through a child process (`edgelm-http`; its header documents the pipe protocol).
/// Cost per request: one process start (~10–20 ms) on top of the transfer; the body streams through a pipe.
package struct SubprocessTransport: HTTPTransport {
    /// The helper executable.
    package var executable: String

    package init(executable: String) { self.executable = executable }

    /// The transport of the `edgelm` executables: `edgelm-http` beside the running executable (a request
    /// fails with an ``HTTPTransportError`` saying so when it is missing).
    package static var beside: SubprocessTransport {
        SubprocessTransport(executable: siblingExecutable("edgelm-http") ?? "edgelm-http")
    }

    package func perform(_ request: HTTPRequest, onResponse: (Int) throws -> Bool,
                         onBody: (UnsafeRawBufferPointer) throws -> Void) throws {
        var head = request
        head.body = []
        var input = Array(try JSONEncoder().encode(head))
        input.append(UInt8(ascii: "\n"))
        input += request.body
        var reader = FrameReader()
        var outcome: Result<Void, any Error>?
        let result = try withoutActuallyEscaping(onResponse) { onResponse in
            try withoutActuallyEscaping(onBody) { onBody in
                try run(input) { chunk in
                    do {
                        try reader.feed(chunk) { frame in
                            switch frame {
                            case .status(let status):
                                if try !onResponse(status) { outcome = .success(()) }
                            case .body(let bytes): try onBody(bytes)
                            case .end: outcome = .success(())
                            case .failed(let timedOut, let reason):
                                outcome = .failure(HTTPTransportError(url: request.url, reason: reason, timedOut: timedOut))
                            }
                            return outcome == nil
                        }
                    } catch {
                        outcome = .failure(error)
                    }
                    return outcome == nil
                }
            }
        }
        switch outcome {
        case .success?: return
        case .failure(let error)?: throw error
        case nil:
            throw HTTPTransportError(url: request.url, reason: "edgelm-http ended (status \(result.status)) mid-answer")
        }
    }
}

/// Parses `edgelm-http`'s frames (its header documents them) from stdout chunks of any size.
private struct FrameReader {
    enum Frame {
        case status(Int)
        case body(UnsafeRawBufferPointer)
        case end
        case failed(timedOut: Bool, reason: String)
    }

    private var line: [UInt8] = []
    private var bodyLeft = 0

    /// Calls `handle` for each complete frame in order; `handle` returns false to stop reading.
    mutating func feed(_ chunk: UnsafeRawBufferPointer, _ handle: (Frame) throws -> Bool) throws {
        var i = 0
        while i < chunk.count {
            if bodyLeft > 0 {
                let n = min(bodyLeft, chunk.count - i)
                bodyLeft -= n
                i += n
                guard try handle(.body(UnsafeRawBufferPointer(rebasing: chunk[(i - n)..<i]))) else { return }
                continue
            }
            let byte = chunk[i]
            i += 1
            guard byte == UInt8(ascii: "\n") else { line.append(byte); continue }
            let text = String(decoding: line, as: UTF8.self)
            line.removeAll(keepingCapacity: true)
            let parts = text.split(separator: " ", maxSplits: 2).map(String.init)
            switch parts.first {
            case "H": guard try handle(.status(Int(parts.count > 1 ? parts[1] : "") ?? 0)) else { return }
            case "D": bodyLeft = Int(parts.count > 1 ? parts[1] : "") ?? 0
            case "E": _ = try handle(.end); return
            case "X":
                _ = try handle(.failed(timedOut: parts.count > 1 && parts[1] == "1", reason: parts.count > 2 ? parts[2] : text))
                return
            default:
                _ = try handle(.failed(timedOut: false, reason: "edgelm-http wrote an unreadable frame"))
                return
            }
        }
    }
}

extension SubprocessTransport {
    private func run(_ input: [UInt8], _ onOutput: (UnsafeRawBufferPointer) -> Bool) throws -> SubprocessResult {
        do {
            return try withoutActuallyEscaping(onOutput) { try runSubprocess(executable, [], input: input, collect: false, onOutput: $0) }
        } catch {
            throw HTTPTransportError(url: "", reason: "\(error) (edgelm-http is built beside edgelm: swift build -c release)")
        }
    }
}

/// The path of this process's executable (`/proc/self/exe` resolved; `argv[0]` where that is unavailable).
package func currentExecutablePath() -> String {
    (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
}

/// The executable named `name` in the directory of this process's executable, if it is there.
package func siblingExecutable(_ name: String) -> String? {
    let path = URL(fileURLWithPath: currentExecutablePath()).deletingLastPathComponent().appendingPathComponent(name).path
    return FileManager.default.isExecutableFile(atPath: path) ? path : nil
}
