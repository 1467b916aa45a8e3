import EdgeLMEssentials

/// Sampling parameters. `temperature <= 0` is greedy (argmax; the other filters are then irrelevant).
public struct SamplingParameters: Sendable, Equatable, Codable {
    public var temperature: Float = 0.8
    /// Keep the k most likely tokens (0 = off).
    public var topK: Int = 40
    /// Keep the smallest set whose probability reaches p (1 = off).
    public var topP: Float = 0.95
    /// Drop tokens whose probability is below minP × the best one's (0 = off).
    public var minP: Float = 0.05
    /// Divide positive / multiply negative logits of recently seen tokens by this (1 = off).
    public var repeatPenalty: Float = 1.0
    /// How many recent tokens the repetition penalty looks at.
    public var repeatLastN: Int = 64
    /// RNG seed; the same seed reproduces the same text.
    public var seed: UInt64 = 0

    public init(temperature: Float = 0.8, topK: Int = 40, topP: Float = 0.95, minP: Float = 0.05,
                repeatPenalty: Float = 1.0, repeatLastN: Int = 64, seed: UInt64 = 0) {
        self.temperature = temperature; self.topK = topK; self.topP = topP; self.minP = minP
        self.repeatPenalty = repeatPenalty; self.repeatLastN = repeatLastN; self.seed = seed
    }

    /// Greedy decoding.
    public static let greedy = SamplingParameters(temperature: 0, topK: 0, topP: 1, minP: 0)

    /// Checks ranges. - Throws: ``InferenceError/invalidParameter(_:)``.
    public func validate() throws {
        guard temperature.isFinite, temperature >= 0 else { throw InferenceError.invalidParameter("temperature must be ≥ 0, got \(temperature)") }
        guard topK >= 0 else { throw InferenceError.invalidParameter("top-k must be ≥ 0, got \(topK)") }
        guard topP > 0, topP <= 1 else { throw InferenceError.invalidParameter("top-p must be in (0, 1], got \(topP)") }
        guard minP >= 0, minP <= 1 else { throw InferenceError.invalidParameter("min-p must be in [0, 1], got \(minP)") }
        guard repeatPenalty.isFinite, repeatPenalty > 0 else { throw InferenceError.invalidParameter("repeat penalty must be > 0, got \(repeatPenalty)") }
        guard repeatLastN >= 0 else { throw InferenceError.invalidParameter("repeat-last-n must be ≥ 0") }
    }
}

/// Picks the next token from logits. Buffers are allocated once (vocabulary-sized); `sample` allocates nothing.
///
/// Order of the chain (as llama.cpp's default): repetition penalty → top-k → top-p → min-p → temperature →
/// draw. - Complexity: O(vocab) for greedy; O(vocab + k log k) otherwise (O(vocab log vocab) when top-k is off).
public final class Sampler {
    public let parameters: SamplingParameters
    private var rng: SeededGenerator
    private var ids: [Int32]
    private var values: [Float]
    private var seen: Set<Int32> = []

    public init(parameters: SamplingParameters, vocabularySize: Int) throws {
        try parameters.validate()
        self.parameters = parameters
        self.rng = SeededGenerator(seed: parameters.seed)
        self.ids = [Int32](repeating: 0, count: vocabularySize)
        self.values = [Float](repeating: 0, count: vocabularySize)
        seen.reserveCapacity(max(parameters.repeatLastN, 1))
    }

    /// Samples from `logits` given the tokens generated/seen so far (`history`, for the repetition penalty).
    public func sample(_ logits: UnsafeBufferPointer<Float>, history: ArraySlice<Int32> = []) -> Int32 {
        let p = parameters
        let n = logits.count
        var penalised = false
        if p.repeatPenalty != 1, p.repeatLastN > 0, !history.isEmpty {
            seen.removeAll(keepingCapacity: true)
            for t in history.suffix(p.repeatLastN) where Int(t) < n { seen.insert(t) }
            penalised = !seen.isEmpty
        }
        @inline(__always) func logit(_ i: Int) -> Float {
            let l = logits[i]
            guard penalised, seen.contains(Int32(i)) else { return l }
            return l > 0 ? l / p.repeatPenalty : l * p.repeatPenalty
        }
        if p.temperature <= 0 {
            var best = 0, bestValue = -Float.infinity
            for i in 0..<n { let l = logit(i); if l > bestValue { bestValue = l; best = i } }
            return Int32(best)
        }
        // Candidates sorted by logit, descending (top-k first if set).
        var count = n
        for i in 0..<n { ids[i] = Int32(i); values[i] = logit(i) }
        if p.topK > 0 && p.topK < n {
            // Partial selection: keep the k best at the front.
            count = p.topK
            selectTop(count, n)
        }
        sortPrefix(count)
        // Softmax over the candidates (at temperature 1 for the filters, as llama.cpp's top-p/min-p do).
        let maxL = values[0]
        var sum: Float = 0
        for i in 0..<count { sum += expf(values[i] - maxL) }
        // top-p
        if p.topP < 1 {
            var cum: Float = 0
            for i in 0..<count {
                cum += expf(values[i] - maxL) / sum
                if cum >= p.topP { count = i + 1; break }
            }
        }
        // min-p (relative to the best candidate)
        if p.minP > 0 {
            let threshold = logf(p.minP)
            var keep = 1
            while keep < count, values[keep] - maxL >= threshold { keep += 1 }
            count = keep
        }
        // temperature, then draw
        var total: Float = 0
        for i in 0..<count { let e = expf((values[i] - maxL) / p.temperature); values[i] = e; total += e }
        let r = rng.nextUnitFloat() * total
        var acc: Float = 0
        for i in 0..<count {
            acc += values[i]
            if r < acc { return ids[i] }
        }
        return ids[count - 1]
    }

    /// Moves the k largest values (with their ids) to the front, unordered. O(n) average.
    private func selectTop(_ k: Int, _ n: Int) {
        var lo = 0, hi = n - 1
        var state = rng
        while lo < hi {
            let pivotIndex = lo + Int(state.next() % UInt64(hi - lo + 1))
            let pivot = values[pivotIndex]
            swapAt(pivotIndex, hi)
            var store = lo
            for i in lo..<hi where values[i] > pivot { swapAt(i, store); store += 1 }
            swapAt(store, hi)
            if store == k - 1 || store == k { return }
            if store < k { lo = store + 1 } else { hi = store - 1 }
        }
    }

    private func sortPrefix(_ count: Int) {
        // Insertion sort for small prefixes; otherwise sort index pairs.
        if count <= 64 {
            for i in 1..<max(count, 1) {
                var j = i
                while j > 0 && values[j - 1] < values[j] { swapAt(j - 1, j); j -= 1 }
            }
            return
        }
        var pairs = (0..<count).map { (values[$0], ids[$0]) }
        pairs.sort { $0.0 > $1.0 }
        for i in 0..<count { values[i] = pairs[i].0; ids[i] = pairs[i].1 }
    }

    @inline(__always) private func swapAt(_ a: Int, _ b: Int) {
        values.swapAt(a, b); ids.swapAt(a, b)
    }
}
