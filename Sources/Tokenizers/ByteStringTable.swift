// Tokenizers: an immutable byte-string → id hash table.
//
// Swift `String` equality and hashing use canonical equivalence ("é" == "e\u{301}"), but token texts must be
// compared byte for byte, like llama.cpp's std::unordered_map<std::string, …>. All strings live in one arena.

/// Open-addressing hash table from byte strings to dense ids `0..<count`, in insertion order.
struct ByteStringTable: Sendable {
    /// All strings back to back. (totalBytes)
    private(set) var arena: [UInt8] = []
    /// Start of string i in `arena`; `offsets[count]` is the end. (count + 1)
    private(set) var offsets: [Int32] = [0]
    /// Hash slots holding `id + 1` (0 = empty). (capacity, a power of two)
    private var slots: [Int32]
    private var mask: Int

    init(expectedCount: Int) {
        var capacity = 16
        while capacity < expectedCount * 2 { capacity <<= 1 }
        slots = [Int32](repeating: 0, count: capacity)
        mask = capacity - 1
        arena.reserveCapacity(expectedCount * 8)
        offsets.reserveCapacity(expectedCount + 1)
    }

    var count: Int { offsets.count - 1 }

    @inline(__always)
    static func hash(_ bytes: UnsafeBufferPointer<UInt8>) -> Int {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325  // FNV-1a
        for b in bytes { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return Int(truncatingIfNeeded: h ^ (h >> 29))
    }

    /// Inserts `bytes` and returns its new id, or the existing id (with `inserted == false`).
    mutating func insert(_ bytes: UnsafeBufferPointer<UInt8>) -> (id: Int32, inserted: Bool) {
        if let existing = id(of: bytes) { return (existing, false) }
        if (count + 1) * 2 > slots.count { grow() }
        let id = Int32(count)
        arena.append(contentsOf: bytes)
        offsets.append(Int32(arena.count))
        place(id, hash: Self.hash(bytes))
        return (id, true)
    }

    mutating func insert(_ bytes: [UInt8]) -> (id: Int32, inserted: Bool) {
        bytes.withUnsafeBufferPointer { insert($0) }
    }

    private mutating func place(_ id: Int32, hash: Int) {
        var i = hash & mask
        while slots[i] != 0 { i = (i + 1) & mask }
        slots[i] = id + 1
    }

    private mutating func grow() {
        let capacity = slots.count * 2
        slots = [Int32](repeating: 0, count: capacity)
        mask = capacity - 1
        for id in 0..<count {
            let h = withBytes(Int32(id)) { Self.hash($0) }
            place(Int32(id), hash: h)
        }
    }

    /// The id of `bytes`, if present. - Complexity: O(length) expected.
    @inline(__always)
    func id(of bytes: UnsafeBufferPointer<UInt8>) -> Int32? {
        var i = Self.hash(bytes) & mask
        return arena.withUnsafeBufferPointer { arena in
            while true {
                let slot = slots[i]
                if slot == 0 { return nil }
                let id = Int(slot - 1)
                let start = Int(offsets[id]), end = Int(offsets[id + 1])
                if end - start == bytes.count {
                    var equal = true
                    var k = 0
                    while k < bytes.count {
                        if arena[start + k] != bytes[k] { equal = false; break }
                        k += 1
                    }
                    if equal { return Int32(id) }
                }
                i = (i + 1) & mask
            }
        }
    }

    func id(of bytes: [UInt8]) -> Int32? { bytes.withUnsafeBufferPointer { id(of: $0) } }

    /// Calls `body` with the bytes of string `id`.
    @inline(__always)
    func withBytes<R>(_ id: Int32, _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        let start = Int(offsets[Int(id)]), end = Int(offsets[Int(id) + 1])
        return arena.withUnsafeBufferPointer { body(UnsafeBufferPointer(rebasing: $0[start..<end])) }
    }

    func bytes(_ id: Int32) -> [UInt8] { withBytes(id) { Array($0) } }

    func length(_ id: Int32) -> Int { Int(offsets[Int(id) + 1] - offsets[Int(id)]) }
}
