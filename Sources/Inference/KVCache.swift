// The paged KV cache of a Session: one anonymous memory reservation whose pages the OS only backs once a
// position is written, laid out page-major so memory grows with use, in blocks of `pageLen` positions.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import DeviceProfiles
import Kernels

/// Storage of K and V for every layer and position of one session.
///
/// Layout: per layer, a region of `layerPages[l]` KV pages of `pageLen` positions (a power of two ≤ 256
/// dividing `ctxPad`); a page holds `[K (pageLen, kRowBytes)] [V]`, where V is
/// - f16: transposed, `(kvDim, pageLen)` halfs — the row of one dimension over the page's positions, as
///   llama.cpp's transposed V (a P·V row dot walks the pages with the same accumulators, so it is the same
///   sequence of FMAs as over one contiguous row);
/// - q8_0 / q4_0: `(pageLen, vRowBytes)`, one quantized row per position (blocks of 32 along kvDim).
///
/// A global-attention layer has `ctxPad / pageLen` pages: position p lives in page `p / pageLen`. A
/// sliding-window layer keeps only a **ring** of ``ringCapacity(window:batch:ctxPad:)`` positions: position p
/// lives in page `(p / pageLen) mod layerPages[l]`, so a 32 768-token context costs such a layer only its
/// window plus one batch.
///
/// The reservation is `mmap(MAP_ANONYMOUS | MAP_NORESERVE)`: untouched pages cost no memory, so a short
/// conversation in a long context stays small; writing position p touches its page's K row and (f16) the
/// page's V block of its layer. ``releasePages(from:)`` gives pages past a position back to the OS.
final class KVCache {
    let type: KVCacheType
    let layers: Int, kvDim: Int, ctxPad: Int
    let pageLen: Int, pageShift: Int, pageMask: Int
    let kRowBytes: Int, vRowBytes: Int
    let layerBlockBytes: Int      // K block + V block of one layer in one page (the stride between its pages)
    /// Pages of each layer's region: `ctxPad / pageLen` (global) or fewer (a sliding-window ring).
    let layerPages: [Int]
    private let layerOffsets: [Int]   // byte offset of each layer's region
    let totalBytes: Int
    let base: UnsafeMutableRawPointer
    private let osPage = Int(sysconf(Int32(_SC_PAGESIZE)))

    /// The context rounded up to 32 positions (attention reads whole chunks of 32).
    static func paddedContext(_ ctx: Int) -> Int { (ctx + 31) / 32 * 32 }

    /// The page length for a padded context: the largest power of two ≤ 256 that divides it.
    static func pageLength(ctxPad: Int) -> Int {
        var p = 256
        while ctxPad % p != 0 { p /= 2 }
        return p
    }

    /// Positions a sliding-window layer keeps: its window plus one batch (a batch stores all of its tokens
    /// before any of them attends, and its first token still sees `window − 1` older ones), rounded up to whole
    /// pages; the full padded context when that is not smaller.
    static func ringCapacity(window: Int, batch: Int, ctxPad: Int) -> Int {
        let page = pageLength(ctxPad: ctxPad)
        return min(ctxPad, (window + batch - 1 + page - 1) / page * page)
    }

    /// Positions each layer keeps (`ctxPad`, or the ring of a sliding-window layer).
    static func capacities(windows: [Int?], batch: Int, ctxPad: Int) -> [Int] {
        windows.map { $0.map { ringCapacity(window: $0, batch: batch, ctxPad: ctxPad) } ?? ctxPad }
    }

    /// Bytes the cache reserves (the most it can ever keep resident): every layer's positions × K and V rows.
    static func bytes(type: KVCacheType, kvDim: Int, capacities: [Int]) -> Int {
        capacities.reduce(0, +) * (type.rowBytes(kvDim) * 2)
    }

    /// - Parameter capacities: positions per layer, each a multiple of the page length of `ctxPad`, ≤ `ctxPad`.
    init(type: KVCacheType, kvDim: Int, ctxPad: Int, capacities: [Int]) throws {
        self.type = type
        self.layers = capacities.count; self.kvDim = kvDim; self.ctxPad = ctxPad
        pageLen = Self.pageLength(ctxPad: ctxPad)
        pageShift = pageLen.trailingZeroBitCount
        pageMask = pageLen - 1
        kRowBytes = type.rowBytes(kvDim)
        vRowBytes = type.rowBytes(kvDim)
        layerBlockBytes = pageLen * (kRowBytes + vRowBytes)
        let page = pageLen
        precondition(capacities.allSatisfy { $0 > 0 && $0 <= ctxPad && $0 % page == 0 }, "KVCache: bad layer capacity")
        layerPages = capacities.map { $0 / page }
        var offsets: [Int] = [], total = 0
        for pages in layerPages { offsets.append(total); total += pages * layerBlockBytes }
        layerOffsets = offsets
        totalBytes = total
        #if canImport(Glibc)
        let flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE
        #else
        let flags = MAP_PRIVATE | MAP_ANON
        #endif
        let p = mmap(nil, max(totalBytes, 1), PROT_READ | PROT_WRITE, flags, -1, 0)
        guard let p, p != MAP_FAILED else {
            throw InferenceError.invalidParameter("cannot reserve \(totalBytes) bytes for the KV cache; use a smaller context or a quantized KV type (--kv-type q8_0)")
        }
        #if canImport(Glibc)
        // Paged growth is only as fine as the pages the OS hands out: with transparent huge pages set to
        // "always", the first write to a layer's block would make 2 MiB resident instead of one page.
        _ = madvise(p, totalBytes, Int32(MADV_NOHUGEPAGE))
        #endif
        base = p
    }

    deinit { munmap(base, max(totalBytes, 1)) }

    /// Positions `layer` keeps (its ring length, or `ctxPad`).
    func capacity(_ layer: Int) -> Int { layerPages[layer] * pageLen }

    /// Bytes of the reservation the OS holds resident now (`mincore` over the reservation), whatever else
    /// the process is doing. - Complexity: O(reserved pages); allocates one byte per OS page.
    var residentBytes: Int {
        let n = (totalBytes + osPage - 1) / osPage
        var vec = [UInt8](repeating: 0, count: n)
        #if canImport(Glibc)
        guard mincore(base, totalBytes, &vec) == 0 else { return totalBytes }
        #else
        guard vec.withUnsafeMutableBufferPointer({ mincore(base, totalBytes, UnsafeMutableRawPointer($0.baseAddress!).assumingMemoryBound(to: CChar.self)) }) == 0 else { return totalBytes }
        #endif
        return vec.reduce(0) { $0 + Int($1 & 1) } * osPage
    }

    /// The page (of `layer`'s region) holding position `pos`.
    @inline(__always)
    func page(_ layer: Int, _ pos: Int) -> Int {
        let p = pos >> pageShift, n = layerPages[layer]
        return p < n ? p : p % n
    }

    /// First byte of `layer`'s region (its page 0).
    @inline(__always)
    func layerBase(_ layer: Int) -> UnsafeMutableRawPointer { base + layerOffsets[layer] }

    /// K row of `layer` at `pos` (kRowBytes bytes).
    @inline(__always)
    func kRow(_ layer: Int, _ pos: Int) -> UnsafeMutableRawPointer {
        layerBase(layer) + page(layer, pos) * layerBlockBytes + (pos & pageMask) * kRowBytes
    }

    /// V block of `layer` in its page `page` (not a position: callers map positions with ``page(_:_:)``).
    @inline(__always)
    func vBlock(_ layer: Int, page: Int) -> UnsafeMutableRawPointer {
        layerBase(layer) + page * layerBlockBytes + pageLen * kRowBytes
    }

    /// Quantized V row of `layer` at `pos` (vRowBytes bytes; not for f16).
    @inline(__always)
    func vRow(_ layer: Int, _ pos: Int) -> UnsafeMutableRawPointer {
        vBlock(layer, page: page(layer, pos)) + (pos & pageMask) * vRowBytes
    }

    /// f16 V element (dimension `i`, position `pos`) of `layer`.
    @inline(__always)
    func v16(_ layer: Int, _ i: Int, _ pos: Int) -> UnsafeMutablePointer<Float16> {
        vBlock(layer, page: page(layer, pos)).assumingMemoryBound(to: Float16.self) + i * pageLen + (pos & pageMask)
    }

    /// Stores K and V rows (f32, kvDim each) of `layer` at `pos` in the cache's type.
    @inline(__always)
    func store(layer: Int, pos: Int, k: UnsafePointer<Float>, v: UnsafePointer<Float>) {
        storeK(layer: layer, pos: pos, k)
        switch type {
        case .f16:
            let dv = v16(layer, 0, pos)
            for i in 0..<kvDim { dv[i * pageLen] = Float16(v[i]) }
        case .q8_0: Quantize.q8_0(v, vRow(layer, pos), count: kvDim)
        case .q4_0: Quantize.q4_0(v, vRow(layer, pos), count: kvDim)
        }
    }

    /// Stores a K row (f32, kvDim) of `layer` at `pos` in the cache's type.
    @inline(__always)
    func storeK(layer: Int, pos: Int, _ k: UnsafePointer<Float>) {
        switch type {
        case .f16:
            let dk = kRow(layer, pos).assumingMemoryBound(to: Float16.self)
            for i in 0..<kvDim { dk[i] = Float16(k[i]) }
        case .q8_0: Quantize.q8_0(k, kRow(layer, pos), count: kvDim)
        case .q4_0: Quantize.q4_0(k, kRow(layer, pos), count: kvDim)
        }
    }

    /// Dequantizes `count` elements (a multiple of 32) of a quantized row.
    @inline(__always)
    func dequantize(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, count: Int) {
        switch type {
        case .f16: for i in 0..<count { dst[i] = Float(src.load(fromByteOffset: 2 * i, as: Float16.self)) }
        case .q8_0: Dequantize.q8_0(src, dst, count: count)
        case .q4_0: Dequantize.q4_0(src, dst, count: count)
        }
    }

    /// Reads K of `layer` at `pos` as f32 (kvDim).
    func readK(layer: Int, pos: Int, into dst: UnsafeMutablePointer<Float>) {
        dequantize(kRow(layer, pos), dst, count: kvDim)
    }

    /// Copies the K row and the V entries of position `src` to position `dst` of `layer`, replacing K by
    /// `newK` (f32, kvDim; already re-rotated) when given.
    func move(layer: Int, from src: Int, to dst: Int, newK: UnsafePointer<Float>?) {
        if let newK {
            storeK(layer: layer, pos: dst, newK)
        } else {
            kRow(layer, dst).copyMemory(from: kRow(layer, src), byteCount: kRowBytes)
        }
        switch type {
        case .f16:
            let s = v16(layer, 0, src), d = v16(layer, 0, dst)
            for i in 0..<kvDim { d[i * pageLen] = s[i * pageLen] }
        case .q8_0, .q4_0:
            vRow(layer, dst).copyMemory(from: vRow(layer, src), byteCount: vRowBytes)
        }
    }

    /// Copies the V entries of `layer` at `pos` into `dst` (``vRowBytes`` bytes, in the cache's element type).
    func readV(layer: Int, pos: Int, into dst: UnsafeMutableRawPointer) {
        switch type {
        case .f16:
            let s = v16(layer, 0, pos), d = dst.assumingMemoryBound(to: Float16.self)
            for i in 0..<kvDim { d[i] = s[i * pageLen] }
        case .q8_0, .q4_0:
            dst.copyMemory(from: vRow(layer, pos), byteCount: vRowBytes)
        }
    }

    /// The inverse of ``readV(layer:pos:into:)``.
    func writeV(layer: Int, pos: Int, from src: UnsafeRawPointer) {
        switch type {
        case .f16:
            let d = v16(layer, 0, pos), s = src.assumingMemoryBound(to: Float16.self)
            for i in 0..<kvDim { d[i * pageLen] = s[i] }
        case .q8_0, .q4_0:
            vRow(layer, pos).copyMemory(from: src, byteCount: vRowBytes)
        }
    }

    /// Gives the OS pages that only hold positions ≥ `position` back (they read as zeros afterwards). A ring
    /// whose positions have wrapped keeps its pages (every one of them holds a live position).
    func releasePages(from position: Int) {
        let firstPage = (position + pageLen - 1) >> pageShift
        for l in 0..<layers where firstPage < layerPages[l] {
            let region = Int(bitPattern: layerBase(l))
            let start = (region + firstPage * layerBlockBytes + osPage - 1) / osPage * osPage
            let end = (region + layerPages[l] * layerBlockBytes) / osPage * osPage
            guard end > start else { continue }
            _ = madvise(UnsafeMutableRawPointer(bitPattern: start), end - start, Int32(MADV_DONTNEED))
        }
    }

    /// Whether `other` lays out positions exactly as this cache does (same type, row size, pages per layer).
    func sameLayout(as other: KVCache) -> Bool {
        type == other.type && kvDim == other.kvDim && pageLen == other.pageLen && layerPages == other.layerPages
    }

    /// Copies the K and V entries of `layer` at the positions `range` from `source` (same layout, checked by
    /// the caller with ``sameLayout(as:)``): the same bytes, so attention over them is the same.
    func copyPositions(_ range: Range<Int>, layer l: Int, from source: KVCache) {
        for p in range {
            kRow(l, p).copyMemory(from: source.kRow(l, p), byteCount: kRowBytes)
            switch type {
            case .f16:
                let s = source.v16(l, 0, p), d = v16(l, 0, p)
                for i in 0..<kvDim { d[i * pageLen] = s[i * pageLen] }
            case .q8_0, .q4_0:
                vRow(l, p).copyMemory(from: source.vRow(l, p), byteCount: vRowBytes)
            }
        }
    }

    // MARK: - Snapshots (layout-independent: per layer, K rows then V of its range of positions)

    /// Bytes of a snapshot of the positions `ranges[l]` of each layer.
    func snapshotBytes(ranges: [Range<Int>]) -> Int { ranges.reduce(0) { $0 + $1.count } * (kRowBytes + vRowBytes) }

    /// Copies the positions `ranges[l]` of each layer into `dst` (``snapshotBytes(ranges:)`` bytes): per layer,
    /// the K rows, then V (f16: per dimension, `count` halfs; quantized: `count` rows).
    func copyOut(ranges: [Range<Int>], to dst: UnsafeMutableRawPointer) {
        var o = dst
        for (l, r) in ranges.enumerated() {
            for p in r { o.copyMemory(from: kRow(l, p), byteCount: kRowBytes); o += kRowBytes }
            switch type {
            case .f16:
                let h = o.assumingMemoryBound(to: Float16.self), n = r.count
                for i in 0..<kvDim { for (k, p) in r.enumerated() { h[i * n + k] = v16(l, i, p).pointee } }
                o += n * vRowBytes
            case .q8_0, .q4_0:
                for p in r { o.copyMemory(from: vRow(l, p), byteCount: vRowBytes); o += vRowBytes }
            }
        }
    }

    /// The inverse of ``copyOut(ranges:to:)``.
    func copyIn(ranges: [Range<Int>], from src: UnsafeRawPointer) {
        var o = src
        for (l, r) in ranges.enumerated() {
            for p in r { kRow(l, p).copyMemory(from: o, byteCount: kRowBytes); o += kRowBytes }
            switch type {
            case .f16:
                let h = o.assumingMemoryBound(to: Float16.self), n = r.count
                for i in 0..<kvDim { for (k, p) in r.enumerated() { v16(l, i, p).pointee = h[i * n + k] } }
                o += n * vRowBytes
            case .q8_0, .q4_0:
                for p in r { vRow(l, p).copyMemory(from: o, byteCount: vRowBytes); o += vRowBytes }
            }
        }
    }
}
