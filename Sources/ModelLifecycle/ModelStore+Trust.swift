// The store trusts nothing on disk: version names are validated before a path is built from them, paths
// are checked with lstat (no planted symlink is followed), and a version is loaded only after its size and
// SHA-256 match its manifest and the manifest's signature verifies against a trusted key.

import Crypto
import EdgeLMEssentials
import GGUF

extension ModelStore {
    /// Whether `key` is a well-formed version name `id@version`: a valid manifest id
    /// (``ModelManifest/isValidID(_:)``), one `@`, and a canonical semantic version. Such a name has no `/`,
    /// cannot be `.` or `..`, and is therefore safe as one path component.
    public static func isValidKey(_ key: String) -> Bool {
        guard key.utf8.count <= 260, let at = key.firstIndex(of: "@") else { return false }
        let id = String(key[..<at]), version = String(key[key.index(after: at)...])
        guard ModelManifest.isValidID(id), let v = try? SemVer(parsing: version) else { return false }
        return "\(v)" == version
    }

    /// The raw text of a pointer file (trimmed), nil when absent or empty; read without following a symlink.
    func rawPointer(_ path: String) -> String? {
        guard Self.fileType(path) == S_IFREG, let d = FileManager.default.contents(atPath: path), d.count <= 4096 else {
            return nil
        }
        let s = String(decoding: d, as: UTF8.self).trimmingWhitespace()
        return s.isEmpty ? nil : s
    }

    /// The `S_IFMT` bits of `path` from `lstat` (a symlink is `S_IFLNK`, never its target), or nil.
    /// The size of the file at `path` (not following a symlink), or -1 when it cannot be read.
    static func fileSize(_ path: String) -> Int {
        var st = stat()
        guard lstat(path, &st) == 0 else { return -1 }
        return Int(st.st_size)
    }

    static func fileType(_ path: String) -> mode_t? {
        var st = stat()
        guard lstat(path, &st) == 0 else { return nil }
        return st.st_mode & S_IFMT
    }

    /// Creates `dir` as a real directory (mode 0700), or accepts an existing real directory. Anything else at
    /// that path (a planted symlink, a file) is refused: nothing is ever written through a symlink.
    /// - Throws: ``LifecycleError/corruptStore(_:)`` or ``LifecycleError/io(operation:path:errno:)``.
    static func makeRealDirectory(_ dir: String) throws {
        if mkdir(dir, 0o700) == 0 { return }
        let e = errno
        guard e == EEXIST else { throw LifecycleError.io(operation: "create directory", path: dir, errno: e) }
        guard fileType(dir) == S_IFDIR else {
            throw LifecycleError.corruptStore("\(dir) exists but is not a directory (a symlink?); it is not followed")
        }
    }

    /// A fresh staging directory for `key`: any symlink or file planted at `staging/<key>` is removed (not
    /// followed); an existing real directory is kept (it may hold a resumable partial download, which is
    /// opened with `O_NOFOLLOW`).
    func prepareStaging(_ key: String) throws -> String {
        guard Self.isValidKey(key) else { throw LifecycleError.invalidManifest("'\(key)' is not a valid id@version") }
        let stage = stagingDir + "/" + key
        if let t = Self.fileType(stage), t != S_IFDIR {
            guard unlink(stage) == 0 else { throw AtomicFile.error("remove planted entry", stage) }
        }
        try Self.makeRealDirectory(stage)
        // A resumable partial must be a regular file; anything else planted there is removed, not followed.
        let partial = stage + "/model.gguf.partial"
        if let t = Self.fileType(partial), t != S_IFREG {
            guard unlink(partial) == 0 else { throw AtomicFile.error("remove planted entry", partial) }
        }
        return stage
    }

    /// Checks the store's own directories are real directories (not symlinks planted by someone with write
    /// access to the store), so that nothing the store writes lands outside it.
    func checkLayout() throws {
        for dir in [versionsDir, stagingDir, trashDir] {
            guard Self.fileType(dir) == S_IFDIR else {
                throw LifecycleError.corruptStore("\(dir) is not a directory (a symlink?); refusing to use the store")
            }
        }
    }

    // MARK: Verified load

    /// The GGUF path of installed version `key`, after checking everything the store can check:
    ///
    /// 1. `key` is a valid `id@version`, and `versions/<key>` is a real directory holding a regular
    ///    `manifest.json` and a regular `model.gguf` (lstat: no symlink is followed);
    /// 2. the manifest decodes, names `key`, and its signature verifies with one of ``trustedKeys``;
    /// 3. the file's size and SHA-256 equal the manifest's (the digest is cached in this process by device,
    ///    inode, size, mtime and ctime; see ``DigestCache``).
    ///
    /// - Returns: the path to load and the verified manifest.
    /// - Throws: ``LifecycleError/notInstalled(_:)``, ``LifecycleError/corruptStore(_:)``,
    ///   ``LifecycleError/badSignature(_:)``, ``LifecycleError/sizeMismatch(expected:actual:)``,
    ///   ``LifecycleError/checksumMismatch(expected:actual:)``.
    /// - Complexity: one SHA-256 of the file on the first load in a process (≈ 0.1 s per 100 MB here).
    public func verifiedModelPath(_ key: String) throws -> (path: String, manifest: ModelManifest) {
        guard Self.isValidKey(key) else {
            throw LifecycleError.corruptStore("'\(SafeText.quote(key))' is not a valid id@version name")
        }
        let dir = versionDirectory(key)
        guard Self.fileType(dir) == S_IFDIR else { throw LifecycleError.notInstalled(key) }
        let manifestPath = dir + "/manifest.json", path = modelPath(key)
        guard Self.fileType(manifestPath) == S_IFREG else {
            throw LifecycleError.corruptStore("\(key)/manifest.json is missing or not a regular file")
        }
        guard Self.fileType(path) == S_IFREG else {
            throw LifecycleError.corruptStore("\(key)/model.gguf is missing or not a regular file")
        }
        let manifest = try ModelManifest.load(from: manifestPath)
        guard manifest.key == key else {
            throw LifecycleError.corruptStore("\(key)/manifest.json describes \(SafeText.quote(manifest.key))")
        }
        try verifyTrusted(manifest)
        let (sha, size) = try DigestCache.shared.sha256(ofFileAt: path)
        guard size == manifest.byteSize else { throw LifecycleError.sizeMismatch(expected: manifest.byteSize, actual: size) }
        guard sha == manifest.sha256 else { throw LifecycleError.checksumMismatch(expected: manifest.sha256, actual: sha) }
        return (path, manifest)
    }

    /// Verifies `manifest`'s signature with one of ``trustedKeys``.
    /// - Throws: ``LifecycleError/badSignature(_:)`` (also when no key is trusted: nothing unverified runs).
    public func verifyTrusted(_ manifest: ModelManifest) throws {
        guard !trustedKeys.isEmpty else {
            throw LifecycleError.badSignature("no trusted public key is configured for the store \(root)")
        }
        var last: (any Error)?
        for k in trustedKeys {
            do { try manifest.verifySignature(k); return } catch { last = error }
        }
        throw last ?? LifecycleError.badSignature("no trusted key verifies \(manifest.key)")
    }
}

/// In-process cache of file digests keyed by (device, inode, size, mtime, ctime): a second load of the same
/// unchanged file skips the hash. Any write to the file changes its ctime, which the writer cannot set back,
/// so a modified file is always hashed again. Not persisted: a cache on disk would be as writable as the
/// files it vouches for.
public final class DigestCache: @unchecked Sendable {
    public static let shared = DigestCache()
    private struct Stamp: Hashable { var dev: UInt64, ino: UInt64, size: Int, mtime: Int, mtimeNs: Int, ctime: Int, ctimeNs: Int }
    private var entries: [String: (Stamp, String)] = [:]
    private let lock = Lock()
    /// Number of files actually hashed (tests and docs measure the cache with it).
    public private(set) var hashes = 0

    /// SHA-256 (hex) and size of the regular file at `path`, opened with `O_NOFOLLOW`; the stamp is taken
    /// with `fstat` on the same descriptor that is hashed.
    public func sha256(ofFileAt path: String) throws -> (hex: String, size: Int) {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { throw LifecycleError.io(operation: "open", path: path, errno: errno) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw LifecycleError.io(operation: "stat", path: path, errno: errno) }
        guard st.st_mode & S_IFMT == S_IFREG else { throw LifecycleError.corruptStore("\(path) is not a regular file") }
        let stamp = Stamp(dev: UInt64(st.st_dev), ino: UInt64(st.st_ino), size: Int(st.st_size),
                          mtime: Int(st.st_mtim.tv_sec), mtimeNs: Int(st.st_mtim.tv_nsec),
                          ctime: Int(st.st_ctim.tv_sec), ctimeNs: Int(st.st_ctim.tv_nsec))
        lock.lock()
        let cached = entries[path]
        lock.unlock()
        if let cached, cached.0 == stamp { return (cached.1, stamp.size) }
        var hasher = SHA256()
        let size = try FileDigest.update(&hasher, fd: fd, path: path)
        let hex = FileDigest.hex(hasher.finalize())
        lock.lock()
        hashes += 1
        if size == stamp.size { entries[path] = (stamp, hex) }
        lock.unlock()
        return (hex, size)
    }
}

/// The device's trusted manifest keys, kept outside the model store (someone who can write the store must
/// not be able to add a key): `$EDGELM_TRUSTED_KEYS` (a file path), else `$XDG_CONFIG_HOME/edgelm/trusted-keys`,
/// else `$HOME/.config/edgelm/trusted-keys`. One base64 Ed25519 public key per line; `#` starts a comment.
public enum TrustedKeys {
    /// The trusted-keys file for `environment`.
    public static func defaultPath(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let p = environment["EDGELM_TRUSTED_KEYS"], !p.isEmpty { return p }
        if let x = environment["XDG_CONFIG_HOME"], x.hasPrefix("/") { return x + "/edgelm/trusted-keys" }
        return StorePaths.home(environment) + "/.config/edgelm/trusted-keys"
    }

    /// The keys in the file at `path` (empty when it does not exist).
    /// - Throws: ``LifecycleError/invalidKey(_:)`` for a malformed line.
    public static func load(from path: String = defaultPath()) throws -> [ManifestPublicKey] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
        var keys: [ManifestPublicKey] = []
        for line in text.split(whereSeparator: \.isNewline) {
            let s = line.trimmingWhitespace()
            if s.isEmpty || s.hasPrefix("#") { continue }
            guard let raw = Data(base64Encoded: s), raw.count == 32,
                let k = try? ManifestPublicKey(rawRepresentation: raw)
            else { throw LifecycleError.invalidKey("\(path) holds a line that is not a base64 Ed25519 public key") }
            keys.append(k)
        }
        return keys
    }

    /// Adds `key` to the file at `path` (created with its directory, mode 0600) unless it is already there.
    public static func add(_ key: ManifestPublicKey, to path: String = defaultPath()) throws {
        var keys = try load(from: path)
        guard !keys.contains(where: { $0.rawRepresentation == key.rawRepresentation }) else { return }
        keys.append(key)
        let dir = URL(fileURLWithPath: path).deletingLastPathComponent().path
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true,
                                                 attributes: [.posixPermissions: 0o700])
        let text = keys.map { SigningKeys.publicKeyBase64($0) + "\n" }.joined()
        try AtomicFile.write(Data(text.utf8), to: path, mode: 0o600)
    }
}

/// Default locations honouring `$HOME` and the XDG base directories.
public enum StorePaths {
    /// `$HOME` when set and absolute, else the passwd home directory.
    public static func home(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let h = environment["HOME"], h.hasPrefix("/") { return h }
        return FileManager.default.homeDirectoryForCurrentUser.path
    }

    /// The default store: `$EDGELM_STORE`, else `$XDG_DATA_HOME/edgelm/models`, else `$HOME/.edgelm/models`.
    public static func defaultStore(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let env = environment["EDGELM_STORE"], !env.isEmpty { return env }
        if let x = environment["XDG_DATA_HOME"], x.hasPrefix("/") { return x + "/edgelm/models" }
        return home(environment) + "/.edgelm/models"
    }
}
