// edgelm-http: performs one HTTP request for the `edgelm` CLI, so that the CLI itself never loads
// FoundationNetworking (libcurl, TLS): ~5 MB of peak RSS in every model-running command (docs/performance.md).
//
// stdin:  one line of JSON (HTTPRequest without its body: method, url, headers, timeout, deadline), then the
//         body bytes to the end of input. Headers travel here, not in argv, so a bearer key is never visible
//         in the process list.
// stdout: `HTTP <status>\n` then the response body as it arrives; or `ERROR <timed-out 0|1> <reason>\n`.
// Exit status 0 once a response or an error line was written.

import EdgeLMNetworking
import Foundation

let input = FileHandle.standardInput.readDataToEndOfFile()
let out = FileHandle.standardOutput
func line(_ s: String) { out.write(Data((s + "\n").utf8)) }

guard let newline = input.firstIndex(of: UInt8(ascii: "\n")),
      var request = try? JSONDecoder().decode(HTTPRequest.self, from: input[input.startIndex..<newline]) else {
    line("ERROR 0 edgelm-http: malformed request on stdin")
    exit(2)
}
request.body = Array(input[(newline + 1)...])
do {
    try URLSessionTransport().perform(request, onResponse: { status in
        line("HTTP \(status)")
        return true
    }, onBody: { chunk in
        out.write(Data(chunk))
    })
} catch let e as HTTPTransportError {
    line("ERROR \(e.timedOut ? 1 : 0) \(e.reason.split(whereSeparator: \.isNewline).joined(separator: " "))")
} catch {
    line("ERROR 0 \(error)")
}
