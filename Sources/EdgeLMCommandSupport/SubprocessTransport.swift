// The CLI's HTTPTransport: each request runs in `edgelm-http`, the executable built beside `edgelm`, so the
// model-running commands never map FoundationNetworking (libcurl, TLS) into their own process.

import EdgeLM
import EdgeLMEssentials
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

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
        var header: [UInt8] = [], inBody = false, stop = false
        var failure: (any Error)?
        var transportError: HTTPTransportError?
        let result = try withoutActuallyEscaping(onResponse) { onResponse in
            try withoutActuallyEscaping(onBody) { onBody in
                try run(input) { chunk in
                    guard !stop else { return false }
                    var rest = chunk[...]
                    if !inBody {
                        guard let nl = rest.firstIndex(of: UInt8(ascii: "\n")) else { header += rest; return true }
                        header += rest[..<nl]
                        rest = rest[(nl + 1)...]
                        inBody = true
                        let text = String(decoding: header, as: UTF8.self)
                        if text.hasPrefix("HTTP "), let status = Int(text.dropFirst(5)) {
                            do {
                                if try !onResponse(status) { stop = true; return false }
                            } catch { failure = error; stop = true; return false }
                        } else {
                            let parts = text.split(separator: " ", maxSplits: 2).map(String.init)
                            transportError = HTTPTransportError(url: request.url, reason: parts.count == 3 ? parts[2] : text,
                                                                timedOut: parts.count > 1 && parts[1] == "1")
                            stop = true
                            return false
                        }
                    }
                    if !rest.isEmpty {
                        do { try onBody(UnsafeRawBufferPointer(rebasing: rest)) } catch {
                            failure = error; stop = true; return false
                        }
                    }
                    return true
                }
            }
        }
        if let failure { throw failure }
        if let transportError { throw transportError }
        guard inBody || stop else {
            throw HTTPTransportError(url: request.url, reason: "edgelm-http ended (status \(result.status)) without an answer")
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

/// The executable named `name` in the directory of this process's executable, if it is there.
package func siblingExecutable(_ name: String) -> String? {
    let me = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    let path = URL(fileURLWithPath: me).deletingLastPathComponent().appendingPathComponent(name).path
    return FileManager.default.isExecutableFile(atPath: path) ? path : nil
}
