// Issue 17, items 3 and 9–13 on the `edgelm` binary: every bad flag, oversized input or unusable file ends
// with one line `Error: …; hint: …` naming the option (and range) or the cause; nothing runs.

import Foundation
@testable import ModelLifecycle
import Testing

@Suite("CLI: hostile and clumsy input", .serialized)
struct CLIHardeningTests {
    static let env = ["EDGELM_TELEMETRY": "off", "EDGELM_MODEL": "", "EDGELM_STORE": "/nonexistent-edgelm-store"]

    /// A tiny runnable model (context 512) in a fresh directory.
    static func model() throws -> (dir: String, path: String) {
        let dir = temporaryDirectory("cli")
        try RunnableTinyModel.write(to: dir + "/tiny.gguf")
        return (dir, dir + "/tiny.gguf")
    }

    /// Runs edgelm and checks the failure is exactly one `Error: …; hint: …` line with no control byte.
    static func fails(_ args: [String], _ fragments: [String], sourceLocation: SourceLocation = #_sourceLocation) throws {
        let (status, out, err) = try runEdgeLM(args, environment: env)
        #expect(status != 0, "\(args) succeeded: \(out)", sourceLocation: sourceLocation)
        let lines = err.split(separator: "\n", omittingEmptySubsequences: true)
        #expect(lines.count == 1, "\(args): \(err.debugDescription)", sourceLocation: sourceLocation)
        #expect(err.hasPrefix("Error: ") && err.contains("hint:"), "\(args): \(err)", sourceLocation: sourceLocation)
        #expect(!err.dropLast().unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F },
                "\(args): control byte in \(err.debugDescription)", sourceLocation: sourceLocation)
        for f in fragments { #expect(err.contains(f), "\(args): '\(f)' not in \(err)", sourceLocation: sourceLocation) }
    }

    @Test("item 3: --ctx beyond the model's context or absurd values are refused before allocating")
    func contextCap() throws {
        guard edgelmBinary() != nil else { return }
        let (dir, m) = try Self.model()
        defer { cleanup(dir) }
        try Self.fails(["generate", "--model", m, "--prompt", "hi", "--ctx", "20000000"], ["--ctx", "16777216"])
        try Self.fails(["generate", "--model", m, "--prompt", "hi", "--ctx", "9223372036854775807"], ["--ctx"])
        try Self.fails(["generate", "--model", m, "--prompt", "hi", "--ctx", "4096", "--max-tokens", "1"],
                       ["--ctx 4096 exceeds the model's context of 512 tokens"])
        try Self.fails(["classify", "--model", m, "--labels", "a,b", "--text", "x", "--ctx", "100000"], ["512 tokens"])
    }

    @Test("item 9: negative numbers name the option and the allowed range; all errors are one line")
    func negativeNumbers() throws {
        guard edgelmBinary() != nil else { return }
        let (dir, m) = try Self.model()
        defer { cleanup(dir) }
        let gen = ["generate", "--model", m, "--prompt", "hi"]
        try Self.fails(gen + ["--threads", "-1"], ["--threads must be in 1...256, got -1"])
        try Self.fails(gen + ["--ctx", "-5"], ["--ctx must be in 1...16777216, got -5"])
        try Self.fails(gen + ["--temperature", "-1"], ["--temperature must be in 0.0...100.0, got -1.0"])
        try Self.fails(gen + ["--temperature", "nan"], ["--temperature"])
        try Self.fails(gen + ["--top-k", "-3"], ["--top-k"])
        try Self.fails(gen + ["--top-p", "-0.5"], ["--top-p"])
        try Self.fails(gen + ["--min-p", "-.5"], ["--min-p"])
        try Self.fails(gen + ["--max-tokens", "-1"], ["--max-tokens"])
        try Self.fails(gen + ["--repeat-penalty", "-inf"], ["--repeat-penalty"])
        try Self.fails(gen + ["--seed", "-1"], ["--seed"])
        try Self.fails(["classify", "--model", m, "--labels", "a,b", "--text", "x", "--threshold", "-0.1"], ["--threshold"])
        try Self.fails(["classify", "--model", m, "--labels", "a,b", "--text", "x", "--remote-timeout", "-2"], ["--remote-timeout"])
        try Self.fails(["classify", "--model", m, "--labels", "a,b", "--text", "x", "--channel-skip", "1.5"], ["--channel-skip must be a probability in (0, 1], off or tuned"])
        try Self.fails(["classify", "--model", m, "--labels", "a,b", "--text", "x", "--channel-top-k", "0"], ["--channel-top-k must be a number of labels ≥ 1, all or tuned"])
        try Self.fails(["eval", "--model", m, "--task", "classify", "--data", m, "--channel-skip", "sometimes"], ["--channel-skip"])
        try Self.fails(["classify", "--model", m, "--labels", "a,b", "--text", "x", "--channel-coverage", "0"], ["--channel-coverage must be a probability in (0, 1], off or tuned"])
        try Self.fails(["eval", "--model", m, "--task", "classify", "--data", m, "--channel-coverage", "most"], ["--channel-coverage"])
        try Self.fails(["perplexity", "--model", m, "--file", m, "--ctx", "-1"], ["--ctx"])
        try Self.fails(["bench", "--model", m, "--repetitions", "-1"], ["--repetitions"])
        try Self.fails(["logits", "--model", m, "--prompt", "x", "--top", "-1"], ["--top"])
        try Self.fails(["models", "list", "--max-versions", "-1"], ["--max-versions"])
        // Other parse errors are one line too.
        try Self.fails(["generate", "--model", m], ["--prompt"])
        try Self.fails(["generate", "--prompt", "x", "--bogus"], ["--bogus"])
        try Self.fails(["nosuchcommand"], [])
        try Self.fails(["generate", "--model", m, "--prompt", "x", "--kv-policy", "bogus"], ["--kv-policy", "expected refuse"])
        // The kv-policy error says the option once (it repeated itself: "--kv-policy: … field 'kv_policy' …").
        let (_, _, kv) = try runEdgeLM(["generate", "--model", m, "--prompt", "x", "--kv-policy", "bogus"], environment: Self.env)
        #expect(kv.components(separatedBy: "kv-policy").count == 2 && !kv.contains("kv_policy"), "\(kv)")
        try Self.fails(["generate", "--model", m, "--prompt", "x", "--memory-cap", "-5"], ["--memory-cap"])
    }

    @Test("item 10: oversized classify/extract input names the token count and the context")
    func oversizedInput() throws {
        guard edgelmBinary() != nil else { return }
        let (dir, m) = try Self.model()
        defer { cleanup(dir) }
        let text = String(repeating: "lorem ipsum ", count: 400)
        try Self.fails(["classify", "--model", m, "--labels", "a,b", "--text", text, "--ctx", "256"],
                       ["tokens but the context holds 256"])
        let schema = dir + "/s.json"
        try Data(#"{"type":"object","properties":{"a":{"type":"string"}}}"#.utf8).write(to: URL(fileURLWithPath: schema))
        try Self.fails(["extract", "--model", m, "--schema", schema, "--text", text, "--ctx", "256"],
                       ["tokens but the context holds 256"])
    }

    @Test("item 11: labels (empty, duplicate ignoring case) and the remote URL (http(s) only) are validated")
    func labelsAndURL() throws {
        guard edgelmBinary() != nil else { return }
        let (dir, m) = try Self.model()
        defer { cleanup(dir) }
        let c = ["classify", "--model", m, "--text", "x"]
        try Self.fails(c + ["--labels", "yes,YES"], ["'yes' and 'YES'"])
        try Self.fails(c + ["--labels", "a,,b"], ["empty label"])
        try Self.fails(c + ["--labels", "a"], ["at least two"])
        try Self.fails(c + ["--labels", "a,b", "--remote-url", "file:///etc/passwd"], ["--remote-url must be an http"])
        try Self.fails(c + ["--labels", "a,b", "--remote-url", "::::"], ["--remote-url"])
    }

    @Test("item 13: perplexity on /dev/null, inspect errors, the Q8_0 norm hint, progress newline")
    func smallOnes() throws {
        guard edgelmBinary() != nil else { return }
        let (dir, m) = try Self.model()
        defer { cleanup(dir) }
        try Self.fails(["perplexity", "--model", m, "--file", "/dev/null"], ["is empty"])
        try Self.fails(["perplexity", "--model", m, "--file", dir + "/missing.txt"], ["no such file"])
        try Data("GGUX".utf8).write(to: URL(fileURLWithPath: dir + "/bad.gguf"))
        try Self.fails(["inspect", dir + "/bad.gguf"], ["not a GGUF file"])
        // Install progress ends its line before the error.
        let signer = Signer()
        let manifest = try signer.manifestFile(for: m, version: "1.0.0", in: dir) { $0.sha256 = String(repeating: "0", count: 64) }
        let pub = SigningKeys.publicKeyBase64(signer.publicKey)
        let (status, _, err) = try runEdgeLM(["models", "install", manifest, "--file", m, "--public-key", pub,
                                              "--store", dir + "/store"], environment: Self.env)
        #expect(status != 0)
        #expect(err.contains("\nError: wrong checksum"), "\(err.debugDescription)")
    }
}
