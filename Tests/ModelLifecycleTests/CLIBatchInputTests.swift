// `--input FILE.jsonl [--parallel N]` of classify / extract / rewrite on the `edgelm` binary: one line per
// input in input order, each the document the single-input command prints, the same whatever N, and a bad
// line gives an error object on its line instead of aborting the batch.

import Foundation
import Testing

@Suite("CLI: batch input", .serialized)
struct CLIBatchInputTests {
    static let env = CLIHardeningTests.env

    /// The JSON objects of `out`'s lines, with the measured timings removed (they differ run to run).
    static func documents(_ out: String) throws -> [NSDictionary] {
        try out.split(separator: "\n").map { line in
            let obj = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            var o = obj
            o["timings"] = nil
            return o as NSDictionary
        }
    }

    @Test("classify --input: ordered lines equal the single-input --json documents, for --parallel 1 and 3; bad lines get error objects")
    func classifyBatch() throws {
        guard edgelmBinary() != nil else { return }
        let (dir, m) = try CLIHardeningTests.model()
        defer { cleanup(dir) }
        let texts = ["hello there", "the cat sat", "abc", "one two three four", "zz"]
        var lines = texts.map { #"{"text": "\#($0)"}"# }
        lines.insert("this is not json", at: 2)
        lines.insert(#"{"text": "hello", "labels": ["set_alarm", "play-music", "weatherReport"]}"#, at: 4)
        lines.append(#"{"label": "missing text"}"#)
        let input = dir + "/in.jsonl"
        try lines.joined(separator: "\n").write(toFile: input, atomically: true, encoding: .utf8)
        let base = ["classify", "--model", m, "--labels", "a,b", "--threads", "2", "--ctx", "256"]

        var want: [NSDictionary] = []
        for t in texts {
            let (status, out, err) = try runEdgeLM(base + ["--text", t, "--json"], environment: Self.env)
            #expect(status == 0, "\(err)")
            want += try Self.documents(out)
        }
        let (s0, labelled, e0) = try runEdgeLM(["classify", "--model", m, "--labels", "set_alarm,play-music,weatherReport",
                                                "--threads", "2", "--ctx", "256", "--text", "hello", "--json"], environment: Self.env)
        #expect(s0 == 0, "\(e0)")
        for parallel in ["1", "3"] {
            let (status, out, err) = try runEdgeLM(base + ["--input", input, "--parallel", parallel], environment: Self.env)
            #expect(status == 0, "\(err)")
            let got = try Self.documents(out)
            #expect(got.count == lines.count)
            guard got.count == lines.count else { continue }
            #expect([got[0], got[1], got[3], got[5], got[6]] == want, "--parallel \(parallel)")
            #expect(got[4] == (try Self.documents(labelled))[0], "per-line labels")
            #expect(got[2]["line"] as? Int == 3 && (got[2]["error"] as? String)?.contains("not valid JSON") == true)
            #expect(got[7]["line"] as? Int == 8 && (got[7]["error"] as? String)?.contains("\"text\"") == true)
        }
    }

    @Test("--input and --text are exclusive; --parallel needs --input and is range-checked; a missing file is one error line")
    func batchFlags() throws {
        guard edgelmBinary() != nil else { return }
        let (dir, m) = try CLIHardeningTests.model()
        defer { cleanup(dir) }
        try CLIHardeningTests.fails(["classify", "--model", m, "--labels", "a,b", "--text", "x", "--input", dir + "/x.jsonl"], ["either --text or --input"])
        try CLIHardeningTests.fails(["classify", "--model", m, "--labels", "a,b"], ["--text TEXT or --input"])
        try CLIHardeningTests.fails(["extract", "--model", m, "--schema", "s.json", "--text", "x", "--parallel", "2"], ["--parallel needs --input"])
        try CLIHardeningTests.fails(["rewrite", "--model", m, "--instruction", "x", "--input", dir + "/x.jsonl", "--parallel", "0"], ["--parallel"])
        try CLIHardeningTests.fails(["classify", "--model", m, "--labels", "a,b", "--input", dir + "/missing.jsonl"], ["cannot read input file"])
    }

    @Test("extract and rewrite --input: --parallel 3 prints exactly what --parallel 1 prints")
    func extractRewriteParallelEqualsSerial() throws {
        guard edgelmBinary() != nil else { return }
        let (dir, m) = try CLIHardeningTests.model()
        defer { cleanup(dir) }
        let input = dir + "/in.jsonl"
        try ["hello there", "the cat sat", "abc def", "one two"].map { #"{"text": "\#($0)"}"# }.joined(separator: "\n")
            .write(toFile: input, atomically: true, encoding: .utf8)
        let schema = dir + "/schema.json"
        try #"{"type": "object", "properties": {"name": {"type": "string"}, "n": {"type": "integer"}}, "required": ["name", "n"]}"#
            .write(toFile: schema, atomically: true, encoding: .utf8)
        for args in [["extract", "--schema", schema, "--max-tokens", "24"], ["rewrite", "--instruction", "shorter", "--max-tokens", "12"]] {
            let base = args + ["--model", m, "--threads", "2", "--ctx", "256", "--input", input]
            let (s1, one, e1) = try runEdgeLM(base + ["--parallel", "1"], environment: Self.env)
            let (s3, three, e3) = try runEdgeLM(base + ["--parallel", "3"], environment: Self.env)
            #expect(s1 == 0 && s3 == 0, "\(e1) \(e3)")
            #expect(one.split(separator: "\n").count == 4)
            #expect(one == three, "\(args[0])")
        }
    }
}
