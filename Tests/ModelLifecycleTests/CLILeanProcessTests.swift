// The `edgelm` executable stays lean: it does not load Foundation, ICU or FoundationNetworking (libcurl and
// its TLS stack) — docs/performance.md, "Process memory" — and its HTTP requests go through `edgelm-http`.

#if os(Linux)
import Foundation
import Testing

@Suite("CLI: a lean process")
struct CLILeanProcessTests {
    /// The shared libraries the dynamic loader maps for `edgelm` (`ldd`).
    static func loadedLibraries(_ binary: URL) throws -> [String] {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/ldd")
        p.arguments = [binary.path]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        return text.split(separator: "\n").compactMap { $0.split(whereSeparator: \.isWhitespace).first.map(String.init) }
    }

    @Test func edgelmLoadsNoFoundationNorNetworking() throws {
        let binary = try #require(edgelmBinary(), "edgelm is built beside the tests")
        let libs = try Self.loadedLibraries(binary)
        #expect(libs.contains { $0.hasPrefix("libc.so") })  // the listing is real
        for banned in ["libFoundation.so", "libFoundationNetworking", "libFoundationInternationalization",
                       "lib_FoundationICU", "libcurl", "libssl"] {
            #expect(!libs.contains { $0.hasPrefix(banned) }, "edgelm maps \(banned)")
        }
    }

    /// The server and the HTTP helper are the processes that may load networking; they are built beside it.
    @Test func helpersAreBuiltBeside() throws {
        let dir = try #require(edgelmBinary()).deletingLastPathComponent()
        for name in ["edgelm-http", "edgelm-server"] {
            #expect(FileManager.default.isExecutableFile(atPath: dir.appendingPathComponent(name).path), "\(name) missing")
        }
    }
}
#endif
