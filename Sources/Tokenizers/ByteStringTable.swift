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
    /// Hash slots: high 32 bits = hash fingerprint, low 32 bits = `id + 1` (0 = empty). (capacity, a power of two)
    private var slots: [UInt64]
    private var mask: Int

    init(expectedCount: Int) {
        var capacity = 16
        while capacity * 4 < expectedCount * 5 { capacity <<= 1 }  // load ≤ 0.8: 49k tokens fit 512 KB of slots
        slots = [UInt64](repeating: 0, count: capacity)
        mask = capacity - 1
        arena.reserveCapacity(expectedCount * 8)
        offsets.reserveCapacity(expectedCount + 1)
    }

    var count: Int { offsets.count - 1 }

    @inline(__always)
    static func hash(_ bytes: UnsafeBufferPointer<UInt8>) -> Int {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325  // FNV-1a
        for b in bytes { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        h ^= h >> 33; h = h &* 0xff51_afd7_ed55_8ccd; h ^= h >> 33  // murmur3 fmix64
        return Int(truncatingIfNeeded: h)
    }

    /// Inserts `bytes` and returns its new id, or the existing id (with `inserted == false`).
    /// - Complexity: O(length) expected; one probe sequence.
    mutating func insert(_ bytes: UnsafeBufferPointer<UInt8>) -> (id: Int32, inserted: Bool) {
        if (count + 1) * 5 > slots.count * 4 { grow() }
        let h = Self.hash(bytes)
        let fingerprint = UInt64(UInt32(truncatingIfNeeded: h >> 32)) << 32
        var i = h & mask
        while true {
            let slot = slots[i]
            if slot == 0 { break }
            if slot & 0xFFFF_FFFF_0000_0000 == fingerprint {
                let id = Int32(truncatingIfNeeded: slot & 0xFFFF_FFFF) - 1
                if equals(id, bytes) { return (id, false) }
            }
            i = (i + 1) & mask
        }
        let id = Int32(count)
        arena.append(contentsOf: bytes)
        offsets.append(Int32(arena.count))
        slots[i] = fingerprint | UInt64(id + 1)
        return (id, true)
    }

    @inline(__always)
    private func equals(_ id: Int32, _ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        let start = Int(offsets[Int(id)]), end = Int(offsets[Int(id) + 1])
        guard end - start == bytes.count else { return false }
        return arena.withUnsafeBufferPointer { arena in
            var k = 0
            while k < bytes.count {
                if arena[start + k] != bytes[k] { return false }
                k += 1
            }
            return true
        }
    }

    mutating func insert(_ bytes: [UInt8]) -> (id: Int32, inserted: Bool) {
        bytes.withUnsafeBufferPointer { insert($0) }
    }

    private mutating func place(_ id: Int32, hash: Int) {
        var i = hash & mask
        while slots[i] != 0 { i = (i + 1) & mask }
        slots[i] = UInt64(UInt32(truncatingIfNeeded: hash >> 32)) << 32 | UInt64(id + 1)
    }

    private mutating func grow() {
        let capacity = slots.count * 2
        slots = [UInt64](repeating: 0, count: capacity)
        mask = capacity - 1
        for id in 0..<count {
            let h = withBytes(Int32(id)) { Self.hash($0) }
            place(Int32(id), hash: h)
        }
    }

    /// The id of `bytes`, if present. - Complexity: O(length) expected.
    @inline(__always)
    func id(of bytes: UnsafeBufferPointer<UInt8>) -> Int32? {
        let h = Self.hash(bytes)
        let fingerprint = UInt32(truncatingIfNeeded: h >> 32)
        var i = h & mask
        return arena.withUnsafeBufferPointer { arena in
            while true {
                let slot = slots[i]
                if slot == 0 { return nil }
                if UInt32(truncatingIfNeeded: slot >> 32) != fingerprint { i = (i + 1) & mask; continue }
                let id = Int(UInt32(truncatingIfNeeded: slot) - 1)
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

/// Open-addressing hash map from a 64-bit key (a pair of 32-bit ids) to a 64-bit value; insert-only.
/// Keys and values are interleaved so a probe touches one cache line.
struct PairTable: Sendable {
    /// (capacity × 2): key at 2i (`UInt64.max` = empty; keys never use that value), value at 2i + 1.
    private var entries: [UInt64]
    private var shift: UInt64
    private var mask: Int
    private(set) var count = 0

    init(expectedCount: Int) {
        var bits: UInt64 = 4
        while (1 << bits) * 4 < expectedCount * 5 { bits += 1 }
        entries = Self.empty(1 << bits)
        shift = 64 - bits
        mask = (1 << bits) - 1
    }

    private static func empty(_ capacity: Int) -> [UInt64] {
        var e = [UInt64](repeating: 0, count: capacity * 2)
        for i in stride(from: 0, to: e.count, by: 2) { e[i] = .max }
        return e
    }

    @inline(__always)
    private func slot(_ key: UInt64) -> Int { Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> shift) }

    /// The value for `key`, if present.
    @inline(__always)
    subscript(key: UInt64) -> UInt64? {
        var i = slot(key)
        return entries.withUnsafeBufferPointer { e in
            while true {
                let k = e[2 * i]
                if k == key { return e[2 * i + 1] }
                if k == .max { return nil }
                i = (i + 1) & mask
            }
        }
    }

    /// Inserts `value` for `key` unless the key is present; returns whether it inserted.
    @discardableResult
    mutating func insertIfAbsent(_ key: UInt64, _ value: UInt64) -> Bool {
        if (count + 1) * 5 > (mask + 1) * 4 { grow() }
        var i = slot(key)
        while true {
            let k = entries[2 * i]
            if k == key { return false }
            if k == .max { entries[2 * i] = key; entries[2 * i + 1] = value; count += 1; return true }
            i = (i + 1) & mask
        }
    }

    private mutating func grow() {
        let old = entries
        let bits = 64 - shift + 1
        entries = Self.empty(1 << bits)
        shift = 64 - bits
        mask = (1 << bits) - 1
        count = 0
        for i in stride(from: 0, to: old.count, by: 2) where old[i] != .max { insertIfAbsent(old[i], old[i + 1]) }
    }
}
