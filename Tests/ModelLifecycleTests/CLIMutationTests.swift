// The issue-17 mutation run on the release binary: mutated GGUF files (fixed seed) through `inspect`,
// `tokenize`, `generate` and `classify`. Every run must exit (no signal), within 5 s, with at most 4 KiB of
// stderr and no control byte in it. EDGELM_CLI_MUTATIONS sets the number of runs (default 240, ~30 s;
// the figures in docs/lifecycle.md come from 2,000).

import Foundation
import GGUF
@testable import ModelLifecycle
import Testing

/// Runs `edgelm` with a deadline; returns (status, stderr, seconds, signalled, timedOut).
func runEdgeLMTimed(_ arguments: [String], deadline: Double, environment: [String: String]) throws
    -> (status: Int32, stderr: Data, seconds: Double, signalled: Bool, timedOut: Bool)
{
    guard let binary = edgelmBinary() else { throw CocoaError(.fileNoSuchFile) }
    let p = Process()
    p.executableURL = binary
    p.arguments = arguments
    p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    // stderr goes to a file (no reader thread; a flood cannot block the child on a full pipe).
    let errPath = NSTemporaryDirectory() + "edgelm-mutation-stderr-\(getpid())"
    FileManager.default.createFile(atPath: errPath, contents: nil)
    defer { try? FileManager.default.removeItem(atPath: errPath) }
    let errHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
    defer { try? errHandle.close() }
    p.standardOutput = FileHandle.nullDevice
    p.standardError = errHandle
    let done = DispatchSemaphore(value: 0)
    p.terminationHandler = { _ in done.signal() }
    let start = Date()
    try p.run()
    var timedOut = false
    if done.wait(timeout: .now() + deadline) == .timedOut {
        timedOut = true
        kill(p.processIdentifier, SIGKILL)
        done.wait()
    }
    let collected = FileManager.default.contents(atPath: errPath) ?? Data()
    return (p.terminationStatus, collected, Date().timeIntervalSince(start),
            p.terminationReason == .uncaughtSignal && !timedOut, timedOut)
}

@Suite("CLI mutation run", .serialized)
struct CLIMutationTests {
    /// Mutates bytes of the header/metadata/tensor-table region of `base` (fixed seed).
    struct Mutator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return state >> 17
        }
        mutating func below(_ n: Int) -> Int { Int(next() % UInt64(max(n, 1))) }
        mutating func mutate(_ base: Data, hot: Int) -> Data {
            var d = base
            let values: [UInt64] = [0, 1, 0xFFFF_FFFF, 0x7FFF_FFFF, 30_000_000, .max, 1 << 40]
            switch below(5) {
            case 0: for _ in 0...below(4) { d[below(hot)] ^= UInt8(1) << UInt8(below(8)) }
            case 1:
                let i = below(hot - 8), v = values[below(values.count)]
                withUnsafeBytes(of: v.littleEndian) { d.replaceSubrange(i..<i + 8, with: $0) }
            case 2:
                let i = below(hot - 4), v = UInt32(truncatingIfNeeded: values[below(values.count)])
                withUnsafeBytes(of: v.littleEndian) { d.replaceSubrange(i..<i + 4, with: $0) }
            case 3: d = d.prefix(below(d.count))
            default:
                let i = below(hot - 6)
                d.replaceSubrange(i..<i + 6, with: [0x1B, 0x5B, 0x32, 0x4A, 0x07, 0x9B])
            }
            return d
        }
    }

    @Test("mutated models through inspect, tokenize, generate and classify: no crash, hang, flood or control byte")
    func mutationRun() throws {
        guard edgelmBinary() != nil else { return }
        let dir = temporaryDirectory("mutation")
        defer { cleanup(dir) }
        let basePath = dir + "/base.gguf"
        try RunnableTinyModel.write(to: basePath, context: 256)
        let base = try #require(FileManager.default.contents(atPath: basePath))
        let hot = try GGUFFile(path: basePath).dataOffset  // header, metadata and tensor table
        let total = Int(ProcessInfo.processInfo.environment["EDGELM_CLI_MUTATIONS"] ?? "") ?? 240
        let env = ["EDGELM_TELEMETRY": "off", "EDGELM_MODEL": "", "EDGELM_STORE": dir + "/no-store"]
        var rng = Mutator(state: 17)
        var crashes = 0, hangs = 0, floods = 0, controls = 0, failures = 0, slowest = 0.0, largest = 0
        for i in 0..<total {
            let path = dir + "/m.gguf"
            FileManager.default.createFile(atPath: path, contents: rng.mutate(base, hot: hot))
            let args: [String]
            switch i % 4 {
            case 0: args = ["inspect", path]
            case 1: args = ["tokenize", "--model", path, "--text", "hi there"]
            case 2: args = ["generate", "--model", path, "--prompt", "hi", "--max-tokens", "2", "--threads", "1", "--ctx", "32"]
            default: args = ["classify", "--model", path, "--labels", "a,b", "--text", "hi", "--threads", "1", "--ctx", "128"]
            }
            let r = try runEdgeLMTimed(args, deadline: 5, environment: env)
            slowest = max(slowest, r.seconds)
            largest = max(largest, r.stderr.count)
            if r.status != 0 { failures += 1 }
            let err = String(decoding: r.stderr, as: UTF8.self)
            if r.signalled { crashes += 1; Issue.record("crash (signal \(r.status)) on \(args[0]) #\(i): \(err.prefix(300))") }
            if r.timedOut { hangs += 1; Issue.record("over 5 s on \(args[0]) #\(i)") }
            if r.stderr.count > 4096 { floods += 1; Issue.record("\(r.stderr.count) bytes of stderr on \(args[0]) #\(i)") }
            // Newlines separate lines; any other control byte (ESC, BEL, CR, C1) in stderr is a failure.
            if err.unicodeScalars.contains(where: { $0 != "\n" && SafeText.isControl($0) }) {
                controls += 1
                Issue.record("control byte in stderr of \(args[0]) #\(i): \(err.debugDescription.prefix(300))")
            }
        }
        print("CLI mutation run: \(total) runs (inspect/tokenize/generate/classify), \(failures) refused with an error, \(crashes) crashes, \(hangs) over 5 s (slowest \(String(format: "%.2f", slowest)) s), \(floods) with stderr over 4 KB (largest \(largest) B), \(controls) with a control byte")
        #expect(crashes == 0 && hangs == 0 && floods == 0 && controls == 0)
    }
}
