import Foundation
import Inference
import Testing

@Suite("Sampler")
struct SamplerTests {
    let logits: [Float] = [1.0, 3.0, 2.5, -1.0, 0.5, 2.9]

    func sample(_ p: SamplingParameters, _ l: [Float], history: [Int32] = []) throws -> Int32 {
        let s = try Sampler(parameters: p, vocabularySize: l.count)
        return l.withUnsafeBufferPointer { s.sample($0, history: history[...]) }
    }

    @Test("greedy picks the argmax")
    func greedy() throws {
        #expect(try sample(.greedy, logits) == 1)
    }

    @Test("top-k 1 at any temperature is the argmax", arguments: [0.5, 1.0, 5.0] as [Float])
    func topK1(temperature: Float) throws {
        for seed in 0..<20 as Range<UInt64> {
            let p = SamplingParameters(temperature: temperature, topK: 1, topP: 1, minP: 0, seed: seed)
            #expect(try sample(p, logits) == 1)
        }
    }

    @Test("the same seed gives the same draws; the draws follow the distribution")
    func seeded() throws {
        let p = SamplingParameters(temperature: 1, topK: 0, topP: 1, minP: 0, seed: 7)
        let s1 = try Sampler(parameters: p, vocabularySize: logits.count)
        let s2 = try Sampler(parameters: p, vocabularySize: logits.count)
        var counts = [Int](repeating: 0, count: logits.count)
        for _ in 0..<20_000 {
            let a = logits.withUnsafeBufferPointer { s1.sample($0) }
            let b = logits.withUnsafeBufferPointer { s2.sample($0) }
            #expect(a == b)
            counts[Int(a)] += 1
        }
        let z = logits.map { exp(Double($0)) }.reduce(0, +)
        for (i, l) in logits.enumerated() {
            let expected = exp(Double(l)) / z
            #expect(abs(Double(counts[i]) / 20_000 - expected) < 0.015, "token \(i)")
        }
    }

    @Test("top-p keeps only the nucleus; min-p drops unlikely tokens")
    func filters() throws {
        for seed in 0..<50 as Range<UInt64> {
            // p(1)≈0.36, p(5)≈0.33, p(2)≈0.22: top-p 0.5 keeps {1, 5}.
            let a = try sample(SamplingParameters(temperature: 1, topK: 0, topP: 0.5, minP: 0, seed: seed), logits)
            #expect([1, 5].contains(a))
            // min-p 0.5 keeps tokens with p ≥ 0.5·p(1): {1, 5, 2}.
            let b = try sample(SamplingParameters(temperature: 1, topK: 0, topP: 1, minP: 0.5, seed: seed), logits)
            #expect([1, 5, 2].contains(b))
        }
    }

    @Test("repetition penalty demotes recently seen tokens")
    func repetition() throws {
        let p = SamplingParameters(temperature: 0, topK: 0, topP: 1, minP: 0, repeatPenalty: 1.5)
        #expect(try sample(p, logits, history: [1]) == 5)      // 3.0/1.5 = 2.0 < 2.9
        #expect(try sample(p, logits, history: [2]) == 1)
    }

    @Test("out-of-range parameters are refused")
    func invalid() {
        #expect(throws: InferenceError.self) { try SamplingParameters(temperature: -1).validate() }
        #expect(throws: InferenceError.self) { try SamplingParameters(topP: 0).validate() }
        #expect(throws: InferenceError.self) { try SamplingParameters(minP: 2).validate() }
        #expect(throws: InferenceError.self) { try SamplingParameters(repeatPenalty: 0).validate() }
    }
}
