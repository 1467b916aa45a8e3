import InferenceTestSupport
import Foundation
import GGUF
import Inference
import Kernels
import Testing

@Suite("Session forward pass on tiny models")
struct SessionTests {
    static let prompt: [Int32] = [72, 101, 108, 108, 111, 32, 119, 111, 114, 108, 100, 33, 10, 256, 84, 104, 101]

    func logits(_ session: Session, _ ids: [Int32]) throws -> [Float] {
        Array(try session.prefill(ids))
    }

    @Test("f32 weights: logits equal a double-precision reference forward pass")
    func matchesReference() throws {
        let tiny = TinyModel(matrixType: .f32, embeddingType: .f32)
        let (path, weights) = try tiny.write()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let model = try Model(path: path)
        let session = try Session(model: model, options: SessionOptions(contextLength: 64, batchSize: 8, threads: 2))
        let got = try logits(session, Self.prompt)
        let want = tiny.referenceLogits(Self.prompt, weights: weights)
        let scale = want.map(abs).max()!
        let err = zip(got, want).map { abs(Double($0) - $1) }.max()!
        // Only f16 rounding of the KV cache separates the two.
        #expect(err < 2e-3 * scale, "max |Δlogit| = \(err), logit scale \(scale)")
    }

    @Test("quantized weights stay close to the reference (activation quantization noise only)")
    func quantizedCloseToReference() throws {
        let tiny = TinyModel(matrixType: .q4_1, embeddingType: .q8_0)
        let (path, weights) = try tiny.write()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let session = try Session(model: try Model(path: path), options: SessionOptions(contextLength: 64, threads: 2))
        let got = try logits(session, Self.prompt)
        let want = tiny.referenceLogits(Self.prompt, weights: weights)
        let scale = want.map(abs).max()!
        let err = zip(got, want).map { abs(Double($0) - $1) }.max()!
        #expect(err < 0.05 * scale, "max |Δlogit| = \(err), logit scale \(scale)")
    }

    @Test("prefill in one batch = prefill in small batches = token-by-token decode", arguments: [GGMLType.q4_1, .q8_0, .f32])
    func batchingInvariance(type: GGMLType) throws {
        let (path, _) = try TinyModel(matrixType: type).write()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let model = try Model(path: path)
        let whole = try logits(try Session(model: model, options: SessionOptions(contextLength: 64, batchSize: 64, threads: 2)), Self.prompt)
        let small = try logits(try Session(model: model, options: SessionOptions(contextLength: 64, batchSize: 3, threads: 2)), Self.prompt)
        let stepSession = try Session(model: model, options: SessionOptions(contextLength: 64, batchSize: 64, threads: 2))
        var stepped: [Float] = []
        for id in Self.prompt { stepped = Array(try stepSession.decode(id)) }
        let scale = whole.map(abs).max()!
        #expect(zip(whole, small).map { abs($0 - $1) }.max()! <= 1e-4 * scale)
        #expect(zip(whole, stepped).map { abs($0 - $1) }.max()! <= 1e-4 * scale)
        #expect(stepSession.position == Self.prompt.count)
    }

    @Test("results do not depend on the thread count", arguments: [1, 3])
    func threadDeterminism(threads: Int) throws {
        let (path, _) = try TinyModel().write()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let model = try Model(path: path)
        let a = try logits(try Session(model: model, options: SessionOptions(contextLength: 64, threads: 2)), Self.prompt)
        let b = try logits(try Session(model: model, options: SessionOptions(contextLength: 64, threads: threads)), Self.prompt)
        #expect(a == b)
    }

    @Test("reset and truncate re-use the cache consistently")
    func truncateThenContinue() throws {
        let (path, _) = try TinyModel().write()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let session = try Session(model: try Model(path: path), options: SessionOptions(contextLength: 64, threads: 2))
        let full = try logits(session, Self.prompt)
        session.truncate(to: 5)
        let resumed = try logits(session, Array(Self.prompt[5...]))
        #expect(full == resumed)
        session.reset()
        #expect(session.position == 0)
        #expect(try logits(session, Self.prompt) == full)
    }

    @Test("context overflow, bad token ids and an empty prompt are typed errors")
    func errors() throws {
        let (path, _) = try TinyModel().write()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let session = try Session(model: try Model(path: path), options: SessionOptions(contextLength: 8, threads: 1))
        #expect(throws: InferenceError.contextOverflow(needed: 9, contextLength: 8)) {
            try session.prefill([Int32](repeating: 65, count: 9))
        }
        #expect(throws: InferenceError.invalidToken(999, vocabularySize: TinyModel().vocabularySize)) {
            try session.prefill([65, 999])
        }
        #expect(throws: InferenceError.emptyPrompt) { try session.prefill([]) }
        #expect(session.position == 0, "a refused input leaves the session untouched")
        try session.prefill([Int32](repeating: 65, count: 8))
        #expect(throws: InferenceError.contextOverflow(needed: 9, contextLength: 8)) { try session.decode(65) }
    }

    @Test("an unknown architecture and a missing tensor are refused by name")
    func loadErrors() throws {
        let (p1, _) = try TinyModel(architecture: "mamba").write()
        defer { try? FileManager.default.removeItem(atPath: p1) }
        #expect(throws: InferenceError.unsupportedArchitecture("mamba")) { _ = try Model(path: p1) }
        let (p2, _) = try TinyModel(omitTensor: "blk.1.ffn_up.weight").write()
        defer { try? FileManager.default.removeItem(atPath: p2) }
        #expect(throws: InferenceError.missingTensor("blk.1.ffn_up.weight")) { _ = try Model(path: p2) }
        #expect(throws: InferenceError.modelNotFound(path: "/nonexistent/model.gguf")) { _ = try Model(path: "/nonexistent/model.gguf") }
    }

    @Test("invalid session options are refused")
    func badOptions() throws {
        let (path, _) = try TinyModel().write()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let model = try Model(path: path)
        #expect(throws: InferenceError.self) { _ = try Session(model: model, options: SessionOptions(contextLength: 0)) }
        #expect(throws: InferenceError.self) { _ = try Session(model: model, options: SessionOptions(threads: 0)) }
        #expect(throws: InferenceError.self) { _ = try Session(model: model, options: SessionOptions(batchSize: 0)) }
    }
}
