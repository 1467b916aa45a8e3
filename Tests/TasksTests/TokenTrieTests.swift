import Testing
@testable import Tasks

@Suite struct TokenTrieTests {
    /// The trie walk must allow exactly the tokens a brute-force per-token check allows.
    @Test(arguments: [0, 1, 2, 3])
    func trieWalkEqualsBruteForce(seed: Int) throws {
        var rng = SystemRandomNumberGeneratorSeeded(seed: UInt64(seed) + 100)
        let alphabet = Array(#"{}[]",: nulltruefalse-0123456789.ab\"#.utf8) + [0xC3, 0xA9, 0xFF]
        var pieces: [[UInt8]] = (0..<256).map { [UInt8($0)] }   // every byte, like byte-level BPE
        for _ in 0..<600 {
            let n = 1 + Int(rng.next() % 6)
            pieces.append((0..<n).map { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] })
        }
        pieces.append([]); pieces.append(pieces[300])   // an empty (control) token and a duplicate
        let trie = TokenTrie(pieces: pieces)
        let schema = try JSONSchema(json: Schemas.nested)
        var state = JSONConstraint(schema: schema)
        for step in 0..<40 where !state.isComplete {
            var walked: [Int32] = []
            trie.forEachAllowed(from: state) { walked.append($0) }
            let brute = pieces.indices.filter { trie.allows(Int32($0), from: state) }.map(Int32.init)
            #expect(walked.sorted() == brute, "step \(step)")
            guard !brute.isEmpty else { break }
            let pick = brute[Int(rng.next() % UInt64(brute.count))]
            let accepted = state.advance(pieces[Int(pick)])
            #expect(accepted)
        }
    }
}
