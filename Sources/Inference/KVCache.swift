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
/// Layout: `pages` KV pages of `pageLen` positions (a power of two ≤ 256 dividing `ctxPad`); inside a page,
/// one block per layer: `[K (pageLen, kRowBytes)] [V]`, where V is
/// - f16: transposed, `(kvDim, pageLen)` halfs — the row of one dimension over the page's positions, as
///   llama.cpp's transposed V (a P·V row dot walks the pages with the same accumulators, so it is the same
///   sequence of FMAs as over one contiguous row);
/// - q8_0 / q4_0: `(pageLen, vRowBytes)`, one quantized row per position (blocks of 32 along kvDim).
///
/// The reservation is `mmap(MAP_ANONYMOUS | MAP_NORESERVE)`: untouched pages cost no memory, so a short
/// conversation in a long context stays small; writing position p touches its page's K row and (f16) the
/// page's V block of its layer. ``releasePages(from:)`` gives pages past a position back to the OS.
final class KVCache {
    let type: KVCacheType
    let layers: Int, kvDim: Int, ctxPad: Int
    let pageLen: Int, pageShift: Int, pageMask: Int, pages: Int
    let kRowBytes: Int, vRowBytes: Int
    let layerBlockBytes: Int      // K block + V block of one layer in one page
    let pageBytes: Int            // all layers of one page
    let totalBytes: Int
    let base: UnsafeMutableRawPointer
    private let osPage = Int(sysconf(Int32(_SC_PAGESIZE)))

    /// The page length for a padded context: the largest power of two ≤ 256 that divides it.
    static func pageLength(ctxPad: Int) -> Int {
        var p = 256
        while ctxPad % p != 0 { p /= 2 }
        return p
    }

    /// Bytes the cache reserves (the most it can ever keep resident).
    static func bytes(type: KVCacheType, layers: Int, kvDim: Int, ctxPad: Int) -> Int {
        layers * ctxPad * (type.rowBytes(kvDim) * 2)
    }

    init(type: KVCacheType, layers: Int, kvDim: Int, ctxPad: Int) throws {
        self.type = type
        self.layers = layers; self.kvDim = kvDim; self.ctxPad = ctxPad
        pageLen = Self.pageLength(ctxPad: ctxPad)
        pageShift = pageLen.trailingZeroBitCount
        pageMask = pageLen - 1
        pages = ctxPad / pageLen
        kRowBytes = type.rowBytes(kvDim)
        vRowBytes = type.rowBytes(kvDim)
        layerBlockBytes = pageLen * (kRowBytes + vRowBytes)
        pageBytes = layers * layerBlockBytes
        totalBytes = pages * pageBytes
        #if canImport(Glibc)
        let flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE
        #else
        let flags = MAP_PRIVATE | MAP_ANON
        #endif
        let p = mmap(nil, totalBytes, PROT_READ | PROT_WRITE, flags, -1, 0)
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

    deinit { munmap(base, totalBytes) }

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

    /// K row of `layer` at `pos` (kRowBytes bytes).
    @inline(__always)
    func kRow(_ layer: Int, _ pos: Int) -> UnsafeMutableRawPointer {
        base + (pos >> pageShift) * pageBytes + layer * layerBlockBytes + (pos & pageMask) * kRowBytes
    }

    /// V block of `layer` in page 0 (add `page · pageBytes` for later pages).
    @inline(__always)
    func vBlock(_ layer: Int, page: Int) -> UnsafeMutableRawPointer {
        base + page * pageBytes + layer * layerBlockBytes + pageLen * kRowBytes
    }

    /// Quantized V row of `layer` at `pos` (vRowBytes bytes; not for f16).
    @inline(__always)
    func vRow(_ layer: Int, _ pos: Int) -> UnsafeMutableRawPointer {
        vBlock(layer, page: pos >> pageShift) + (pos & pageMask) * vRowBytes
    }

    /// f16 V element (dimension `i`, position `pos`) of `layer`.
    @inline(__always)
    func v16(_ layer: Int, _ i: Int, _ pos: Int) -> UnsafeMutablePointer<Float16> {
        vBlock(layer, page: pos >> pageShift).assumingMemoryBound(to: Float16.self) + i * pageLen + (pos & pageMask)
    }

    /// Stores K and V rows (f32, kvDim each) of `layer` at `pos` in the cache's type.
    @inline(__always)
    func store(layer: Int, pos: Int, k: UnsafePointer<Float>, v: UnsafePointer<Float>) {
        switch type {
        case .f16:
            let dk = kRow(layer, pos).assumingMemoryBound(to: Float16.self)
            let dv = v16(layer, 0, pos)
            for i in 0..<kvDim { dk[i] = Float16(k[i]); dv[i * pageLen] = Float16(v[i]) }
        case .q8_0:
            Quantize.q8_0(k, kRow(layer, pos), count: kvDim)
            Quantize.q8_0(v, vRow(layer, pos), count: kvDim)
        case .q4_0:
            Quantize.q4_0(k, kRow(layer, pos), count: kvDim)
            Quantize.q4_0(v, vRow(layer, pos), count: kvDim)
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
            switch type {
            case .f16:
                let dk = kRow(layer, dst).assumingMemoryBound(to: Float16.self)
                for i in 0..<kvDim { dk[i] = Float16(newK[i]) }
            case .q8_0: Quantize.q8_0(newK, kRow(layer, dst), count: kvDim)
            case .q4_0: Quantize.q4_0(newK, kRow(layer, dst), count: kvDim)
            }
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

    /// Gives the OS pages that only hold positions ≥ `position` back (they read as zeros afterwards).
    func releasePages(from position: Int) {
        let firstPage = (position + pageLen - 1) >> pageShift
        guard firstPage < pages else { return }
        let start = (Int(bitPattern: base) + firstPage * pageBytes + osPage - 1) / osPage * osPage
        let end = Int(bitPattern: base) + totalBytes
        guard end > start else { return }
        _ = madvise(UnsafeMutableRawPointer(bitPattern: start), end - start, Int32(MADV_DONTNEED))
    }

    // MARK: - Snapshots (layout-independent: per layer, K rows then V of `count` positions)

    /// Bytes of a snapshot of `count` positions.
    func snapshotBytes(count: Int) -> Int { layers * count * (kRowBytes + vRowBytes) }

    /// Copies the first `count` positions into `dst` (``snapshotBytes(count:)`` bytes): per layer, the K rows,
    /// then V (f16: per dimension, `count` halfs; quantized: `count` rows).
    func copyOut(count: Int, to dst: UnsafeMutableRawPointer) {
        var o = dst
        for l in 0..<layers {
            for p in 0..<count { o.copyMemory(from: kRow(l, p), byteCount: kRowBytes); o += kRowBytes }
            switch type {
            case .f16:
                let h = o.assumingMemoryBound(to: Float16.self)
                for i in 0..<kvDim { for p in 0..<count { h[i * count + p] = v16(l, i, p).pointee } }
                o += count * vRowBytes
            case .q8_0, .q4_0:
                for p in 0..<count { o.copyMemory(from: vRow(l, p), byteCount: vRowBytes); o += vRowBytes }
            }
        }
    }

    /// The inverse of ``copyOut(count:to:)``.
    func copyIn(count: Int, from src: UnsafeRawPointer) {
        var o = src
        for l in 0..<layers {
            for p in 0..<count { kRow(l, p).copyMemory(from: o, byteCount: kRowBytes); o += kRowBytes }
            switch type {
            case .f16:
                let h = o.assumingMemoryBound(to: Float16.self)
                for i in 0..<kvDim { for p in 0..<count { v16(l, i, p).pointee = h[i * count + p] } }
                o += count * vRowBytes
            case .q8_0, .q4_0:
                for p in 0..<count { vRow(l, p).copyMemory(from: o, byteCount: vRowBytes); o += vRowBytes }
            }
        }
    }
}
