// edgelm-http: performs one HTTP request for the `edgelm` CLI, so that the CLI itself never loads
// FoundationNetworking (libcurl, TLS): ~5 MB of peak RSS in every model-running command (docs/performance.md).
//
// stdin:  one line of JSON (HTTPRequest without its body: method, url, headers, timeout, deadline), then the
//         body bytes to the end of input. Headers travel here, not in argv, so a bearer key is never visible
//         in the process list.
// stdout: frames, each a header line and its bytes:
//           `H <status>\n`          the response status (once, before any body)
//           `D <n>\n` + n bytes     a piece of the body
//           `E\n`                   the transfer completed
//           `X <0|1> <reason>\n`    it failed (1: timed out), before or after the status — a parent that got
//                                   part of a body knows it is partial (a download resumes from there)
// Exit status 0 once `E` or `X` was written; anything else means the helper itself failed.

import EdgeLMNetworking
import Foundation

let input = FileHandle.standardInput.readDataToEndOfFile()
let out = FileHandle.standardOutput
func line(_ s: String) { out.write(Data((s + "\n").utf8)) }
func failed(_ timedOut: Bool, _ reason: String) {
    line("X \(timedOut ? 1 : 0) \(reason.split(whereSeparator: \.isNewline).joined(separator: " "))")
}

guard let newline = input.firstIndex(of: UInt8(ascii: "\n")),
      var request = try? JSONDecoder().decode(HTTPRequest.self, from: input[input.startIndex..<newline]) else {
    failed(false, "edgelm-http: malformed request on stdin")
    exit(2)
}
request.body = Array(input[(newline + 1)...])
do {
    try URLSessionTransport().perform(request, onResponse: { status in
        line("H \(status)")
        return true
    }, onBody: { chunk in
        line("D \(chunk.count)")
        out.write(Data(chunk))
    })
    line("E")
} catch let e as HTTPTransportError {
    failed(e.timedOut, e.reason)
} catch {
    failed(false, "\(error)")
}
