// The on-device model store: installed versions, the active and last-known-good pointers.

import Crypto
import HTTPTransport
import EdgeLMEssentials
import GGUF

/// Where an install takes the model bytes from.
public enum ModelSource: Sendable, Equatable {
    /// A local GGUF file (copied into the store).
    case file(String)
    /// An HTTP(S) URL (downloaded with resume).
    case url(URL)
    /// The manifest's own `url`.
    case manifestURL
}

/// Named points of an install, in order. A crash hook can stop the process at each (kill tests).
public enum InstallStep: String, CaseIterable, Sendable {
    case checkedManifest = "checked-manifest"
    case copying = "copying"
    case copied = "copied"
    case verifiedFile = "verified-file"
    case wroteManifest = "wrote-manifest"
    case published = "published"
    case lastKnownGoodTempWritten = "lkg-temp-written"
    case wroteLastKnownGood = "wrote-lkg"
    case activeTempWritten = "active-temp-written"
    case activated = "activated"
}

/// Storage caps: evict the oldest versions beyond these (never the active or the last-known-good one).
public struct StoragePolicy: Sendable, Equatable {
    public var maxVersions: Int
    public var maxBytes: Int
    public init(maxVersions: Int = 3, maxBytes: Int = Int.max) {
        self.maxVersions = maxVersions
        self.maxBytes = maxBytes
    }
}

/// One installed version.
public struct InstalledModel: Sendable, Equatable {
    public var manifest: ModelManifest
    /// When it was installed (seconds since 1970), used for eviction order.
    public var installedAt: Double
    /// Path of its GGUF file.
    public var modelPath: String
    public var key: String { manifest.key }
}

/// A directory of installed model versions with an active and a last-known-good pointer.
///
/// Layout (docs/lifecycle.md):
///
///     <root>/versions/<id>@<version>/model.gguf      the weights, complete and verified
///     <root>/versions/<id>@<version>/manifest.json   the signed manifest
///     <root>/versions/<id>@<version>/installed.json  install time
///     <root>/active                                   "<id>@<version>\n", replaced atomically
///     <root>/last-known-good                          likewise
///     <root>/staging/<id>@<version>/                  in-progress installs (invisible; resumable partials)
///     <root>/trash/                                   versions being deleted
///     <root>/health.json                              HealthMonitor counters
///
/// A version directory appears in `versions/` only by one `rename` after its contents are fsynced, and
/// pointers change only by atomic replace, so a crash at any point leaves the previous model active and no
/// half-written file visible. Mutations take an exclusive `flock` on `<root>/.lock`.
public final class ModelStore: @unchecked Sendable {
    /// The store directory.
    public let root: String
    /// The device profile used by the compatibility check.
    public var profile: DeviceMemoryProfile
    public var policy: StoragePolicy
    /// Called at each ``InstallStep`` (tests make it `_exit` to simulate a crash).
    public var crashHook: (@Sendable (InstallStep) -> Void)?
    /// Public keys a version's manifest must verify with before ``loadActive(thresholds:report:afterMarker:_:)``
    /// or ``verifiedModelPath(_:)`` lets it load, and against which ``verify()`` checks signatures. Empty:
    /// nothing loads. Keep them outside the store (``TrustedKeys``): a key stored in the store would be as
    /// writable as the manifests it vouches for.
    public var trustedKeys: [ManifestPublicKey] = []
    /// What URL installs download through (``ModelSource/url(_:)``, ``ModelSource/manifestURL``): nil means the
    /// store installs from files only. Apps pass `URLSessionTransport()` (module EdgeLMNetworking); the CLI a
    /// child process, so that it does not load FoundationNetworking.
    public var transport: (any HTTPTransport)?
    /// Free bytes at a path (replaceable in tests to simulate a full disk).
    public var availableBytes: @Sendable (String) -> Int? = { AtomicFile.availableBytes(at: $0) }

    /// The default store directory: `$EDGELM_STORE`, else `$XDG_DATA_HOME/edgelm/models`, else
    /// `$HOME/.edgelm/models` (``StorePaths/defaultStore(_:)``).
    public static var defaultPath: String { StorePaths.defaultStore() }

    /// Opens (creating if needed) the store at `path` and cleans up after any interrupted operation.
    /// - Throws: ``LifecycleError/io(operation:path:errno:)``.
    public init(path: String, profile: DeviceMemoryProfile = .laptop, policy: StoragePolicy = StoragePolicy(),
                trustedKeys: [ManifestPublicKey] = []) throws {
        root = URL(fileURLWithPath: path).standardizedFileURL.path
        self.profile = profile
        self.policy = policy
        self.trustedKeys = trustedKeys
        do { try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true) } catch {
            throw LifecycleError.io(operation: "create directory", path: root, errno: EACCES)
        }
        // The store's own directories are created without following a planted symlink.
        for dir in [versionsDir, stagingDir, trashDir] { try Self.makeRealDirectory(dir) }
        try withLock { recover() }
    }

    var versionsDir: String { root + "/versions" }
    var stagingDir: String { root + "/staging" }
    var trashDir: String { root + "/trash" }
    var activePointer: String { root + "/active" }
    var lastKnownGoodPointer: String { root + "/last-known-good" }
    var healthPath: String { root + "/health.json" }
    /// Where the device's aggregate telemetry counters are persisted.
    public var telemetryPath: String { root + "/telemetry.json" }
    /// Where the rotating install id is kept.
    public var installIDPath: String { root + "/install-id.json" }

    /// Directory of an installed version.
    public func versionDirectory(_ key: String) -> String { versionsDir + "/" + key }
    /// GGUF path of an installed version.
    public func modelPath(_ key: String) -> String { versionDirectory(key) + "/model.gguf" }

    // MARK: Pointers

    /// The active version's key (`id@version`), or nil (also when the pointer does not hold a valid name:
    /// no path is ever built from an unvalidated pointer; ``verify()`` reports it).
    public var active: String? { readPointer(activePointer) }
    /// The last-known-good version's key, or nil (likewise validated).
    public var lastKnownGood: String? { readPointer(lastKnownGoodPointer) }
    /// The active model's GGUF path (what the app loads), or nil.
    public var activeModelPath: String? { active.map(modelPath) }

    private func readPointer(_ path: String) -> String? {
        guard let key = rawPointer(path), Self.isValidKey(key) else { return nil }
        return key
    }

    private func writePointer(_ path: String, _ key: String, beforeRename: InstallStep? = nil) throws {
        var hook: (() -> Void)?
        if let step = beforeRename { hook = { self.hit(step) } }
        try AtomicFile.write(Data((key + "\n").utf8), to: path, beforeRename: hook)
    }

    func hit(_ step: InstallStep) { crashHook?(step) }

    // MARK: Listing

    /// Every installed version, oldest install first.
    /// - Throws: ``LifecycleError/corruptStore(_:)`` when a version's manifest cannot be read.
    public func installed() throws -> [InstalledModel] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: versionsDir)) ?? []
        var out: [InstalledModel] = []
        // Only real `id@version` directories are versions; anything else (a planted symlink, a stray file) is
        // skipped here, never followed, and reported by verify().
        for name in names where !name.hasPrefix(".") && Self.isValidKey(name) && Self.fileType(versionDirectory(name)) == S_IFDIR {
            let dir = versionDirectory(name)
            let manifest: ModelManifest
            do { manifest = try ModelManifest.load(from: dir + "/manifest.json") } catch {
                throw LifecycleError.corruptStore("\(name): \(error)")
            }
            var at = 0.0
            if let d = FileManager.default.contents(atPath: dir + "/installed.json"),
                let stamp = try? JSONDecoder().decode(InstallStamp.self, from: d)
            {
                at = stamp.installedAt
            }
            guard manifest.key == name else {
                throw LifecycleError.corruptStore("versions/\(name)/manifest.json describes \(SafeText.quote(manifest.key))")
            }
            out.append(InstalledModel(manifest: manifest, installedAt: at, modelPath: modelPath(name)))
        }
        return out.sorted { ($0.installedAt, $0.key) < ($1.installedAt, $1.key) }
    }

    /// Whether `key` is a valid name whose version directory is a real directory (not a symlink) holding a
    /// regular `manifest.json`.
    public func isInstalled(_ key: String) -> Bool {
        Self.isValidKey(key) && Self.fileType(versionDirectory(key)) == S_IFDIR
            && Self.fileType(versionDirectory(key) + "/manifest.json") == S_IFREG
    }

    // MARK: Install

    /// Installs a signed release and (by default) activates it.
    ///
    /// Order: decode the manifest, verify its signature, check compatibility with this engine and the device
    /// profile, copy or download the bytes into `staging/` while hashing them, fsync, verify size, SHA-256
    /// and that the file matches the manifest (tokenizer fingerprint, architecture, types), write the
    /// manifest, fsync, publish with one `rename` into `versions/`, then move the pointers atomically
    /// (the previous active version becomes last-known-good). Any failure leaves the active model untouched.
    ///
    /// - Parameters:
    ///   - progress: called with (bytes so far, total bytes) while copying or downloading.
    /// - Returns: the installed manifest.
    /// - Throws: ``LifecycleError`` naming the cause.
    /// - Complexity: O(file size) time; 1 MiB of buffer memory.
    @discardableResult
    public func install(manifestData: Data, publicKey: Curve25519.Signing.PublicKey, source: ModelSource,
                        activate: Bool = true, progress: ((Int, Int) -> Void)? = nil) throws -> ModelManifest {
        let manifest = try ModelManifest.decode(manifestData)
        try manifest.verifySignature(publicKey)
        try manifest.checkCompatibility(profile: profile)
        hit(.checkedManifest)
        return try withLock {
            let key = manifest.key
            if !isInstalled(key) {
                try stageAndPublish(manifest, source: source, progress: progress)
            } else {
                let existing = try ModelManifest.load(from: versionDirectory(key) + "/manifest.json")
                guard existing.sha256 == manifest.sha256 else {
                    throw LifecycleError.invalidManifest("\(key) is already installed with a different sha256")
                }
            }
            if activate { try activateLocked(key) }
            try gcLocked()
            return manifest
        }
    }

    /// ``install(manifestData:publicKey:source:activate:progress:)`` reading the manifest from a file.
    @discardableResult
    public func install(manifestAt path: String, publicKey: Curve25519.Signing.PublicKey, source: ModelSource,
                        activate: Bool = true, progress: ((Int, Int) -> Void)? = nil) throws -> ModelManifest {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw LifecycleError.io(operation: "read manifest", path: path, errno: ENOENT)
        }
        return try install(manifestData: data, publicKey: publicKey, source: source, activate: activate, progress: progress)
    }

    private func requireTransport(_ url: URL) throws -> any HTTPTransport {
        guard let transport else {
            throw LifecycleError.download(url: url.absoluteString,
                                          reason: "this store has no HTTP transport (set ModelStore.transport, e.g. URLSessionTransport())")
        }
        return transport
    }

    private func stageAndPublish(_ manifest: ModelManifest, source: ModelSource,
                                 progress: ((Int, Int) -> Void)?) throws {
        let key = manifest.key
        try checkLayout()
        let stage = try prepareStaging(key)
        let partial = stage + "/model.gguf.partial"
        let sha: String
        switch source {
        case let .file(path):
            try checkSpace(needed: manifest.byteSize)
            sha = try copy(from: path, to: partial, expectedSize: manifest.byteSize, progress: progress)
        case let .url(url):
            sha = try Downloader.download(url, to: partial, expectedSize: manifest.byteSize, store: self,
                                          transport: try requireTransport(url), progress: progress)
        case .manifestURL:
            guard let s = manifest.url, let url = URL(string: s) else {
                throw LifecycleError.noSource("the manifest of \(key) has no url")
            }
            sha = try Downloader.download(url, to: partial, expectedSize: manifest.byteSize, store: self,
                                          transport: try requireTransport(url), progress: progress)
        }
        hit(.copied)
        let size = Self.fileSize(partial)
        guard size == manifest.byteSize else {
            try? FileManager.default.removeItem(atPath: stage)
            throw LifecycleError.sizeMismatch(expected: manifest.byteSize, actual: size)
        }
        guard sha == manifest.sha256 else {
            try? FileManager.default.removeItem(atPath: stage)
            throw LifecycleError.checksumMismatch(expected: manifest.sha256, actual: sha)
        }
        do { try manifest.checkMatches(modelAt: partial) } catch {
            try? FileManager.default.removeItem(atPath: stage)
            throw error
        }
        hit(.verifiedFile)
        try rename(partial, stage + "/model.gguf")
        try AtomicFile.write(try manifest.encodedForFile(), to: stage + "/manifest.json")
        let stamp = try JSONEncoder().encode(InstallStamp(installedAt: Date().timeIntervalSince1970))
        try AtomicFile.write(stamp, to: stage + "/installed.json")
        try AtomicFile.syncDirectory(stage)
        hit(.wroteManifest)
        if let t = Self.fileType(versionDirectory(key)), t != S_IFDIR {
            unlink(versionDirectory(key))  // a planted symlink or file: removed, never followed
        }
        try rename(stage, versionDirectory(key))
        try AtomicFile.syncDirectory(versionsDir)
        try AtomicFile.syncDirectory(stagingDir)
        hit(.published)
    }

    private func rename(_ from: String, _ to: String) throws {
        guard posixRename(from, to) == 0 else { throw AtomicFile.error("rename", to) }
    }

    private func checkSpace(needed: Int) throws {
        if let free = availableBytes(stagingDir), free < needed {
            throw LifecycleError.diskFull(path: stagingDir, needed: needed)
        }
    }

    /// Copies `src` to `dst` (truncating), hashing as it goes; fsyncs. Returns the hex SHA-256.
    private func copy(from src: String, to dst: String, expectedSize: Int, progress: ((Int, Int) -> Void)?) throws -> String {
        let inFD = open(src, O_RDONLY | O_CLOEXEC)
        guard inFD >= 0 else { throw AtomicFile.error("open", src) }
        defer { close(inFD) }
        let outFD = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o644)
        guard outFD >= 0 else { throw AtomicFile.error("create", dst) }
        defer { close(outFD) }
        var hasher = SHA256()
        let chunk = FileDigest.chunkSize
        let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 16)
        defer { buf.deallocate() }
        var total = 0
        var hitMid = false
        while true {
            let n = read(inFD, buf.baseAddress, chunk)
            if n < 0 {
                if errno == EINTR { continue }
                throw AtomicFile.error("read", src)
            }
            if n == 0 { break }
            let bytes = UnsafeRawBufferPointer(rebasing: buf[0..<n])
            hasher.update(bufferPointer: bytes)
            try AtomicFile.writeAll(outFD, bytes, path: dst)
            total += n
            progress?(total, expectedSize)
            if !hitMid, total * 2 >= expectedSize { hitMid = true; hit(.copying) }
            if total > expectedSize { break }  // longer than promised: stop, the size check reports it
        }
        guard fsync(outFD) == 0 else { throw AtomicFile.error("fsync", dst) }
        return FileDigest.hex(hasher.finalize())
    }

    // MARK: Activation and rollback

    /// Makes `key` active; the previously active version becomes last-known-good.
    /// - Throws: ``LifecycleError/notInstalled(_:)`` or ``LifecycleError/corruptStore(_:)`` when its file is
    ///   missing or has the wrong size.
    public func activate(_ key: String) throws {
        try withLock { try activateLocked(key) }
    }

    private func activateLocked(_ key: String) throws {
        guard isInstalled(key) else { throw LifecycleError.notInstalled(key) }
        let manifest = try ModelManifest.load(from: versionDirectory(key) + "/manifest.json")
        let size = Self.fileSize(modelPath(key))
        guard size == manifest.byteSize else {
            throw LifecycleError.corruptStore("\(key)/model.gguf has \(size) bytes, its manifest says \(manifest.byteSize)")
        }
        let previous = active
        if previous == key { return }
        if let previous, isInstalled(previous) {
            try writePointer(lastKnownGoodPointer, previous, beforeRename: .lastKnownGoodTempWritten)
        } else if lastKnownGood == nil {
            try writePointer(lastKnownGoodPointer, key, beforeRename: .lastKnownGoodTempWritten)
        }
        hit(.wroteLastKnownGood)
        try writePointer(activePointer, key, beforeRename: .activeTempWritten)
        hit(.activated)
    }

    /// Switches back to the last-known-good version in one atomic step.
    /// - Returns: the key now active.
    /// - Throws: ``LifecycleError/noRollbackTarget(_:)`` when there is none or it is already active.
    @discardableResult
    public func rollback() throws -> String {
        try withLock { try rollbackLocked() }
    }

    func rollbackLocked() throws -> String {
        guard let lkg = lastKnownGood else { throw LifecycleError.noRollbackTarget("no last-known-good version") }
        guard lkg != active else { throw LifecycleError.noRollbackTarget("the last-known-good version \(lkg) is already active") }
        guard isInstalled(lkg) else { throw LifecycleError.noRollbackTarget("last-known-good \(lkg) is not installed") }
        try writePointer(activePointer, lkg)
        return lkg
    }

    /// Marks `key` (default: the active version) as last-known-good, e.g. after it proved healthy.
    public func markKnownGood(_ key: String? = nil) throws {
        try withLock {
            guard let k = key ?? active, isInstalled(k) else { throw LifecycleError.notInstalled(key ?? "(no active version)") }
            try writePointer(lastKnownGoodPointer, k)
        }
    }

    // MARK: Verification and garbage collection

    /// One problem found by ``verify()``.
    public struct Problem: Sendable, Equatable, CustomStringConvertible {
        public var key: String
        public var error: LifecycleError
        public var description: String { "\(key): \(error)" }
    }

    /// Re-hashes every installed version, checks each manifest's signature against ``trustedKeys`` and
    /// checks the pointers (valid `id@version` names of installed versions). O(total installed bytes).
    /// - Returns: the problems found (empty when the store is sound).
    public func verify() -> [Problem] {
        var problems: [Problem] = []
        let list: [InstalledModel]
        do { list = try installed() } catch let e as LifecycleError { return [Problem(key: "store", error: e)] } catch {
            return [Problem(key: "store", error: .corruptStore("\(error)"))]
        }
        for name in (try? FileManager.default.contentsOfDirectory(atPath: versionsDir)) ?? [] where !name.hasPrefix(".") {
            if !Self.isValidKey(name) || Self.fileType(versionDirectory(name)) != S_IFDIR {
                problems.append(Problem(key: "versions", error: .corruptStore(
                    "versions/\(SafeText.quote(name)) is not an id@version directory (a symlink or stray file); it is ignored")))
            }
        }
        if trustedKeys.isEmpty {
            problems.append(Problem(key: "store", error: .badSignature("no trusted public key is configured, signatures cannot be checked")))
        }
        for m in list {
            do {
                if !trustedKeys.isEmpty { try verifyTrusted(m.manifest) }
                guard ModelStore.fileType(m.modelPath) == S_IFREG else {
                    throw LifecycleError.corruptStore("\(m.key)/model.gguf is missing or not a regular file")
                }
                let (sha, size) = try FileDigest.sha256(ofFileAt: m.modelPath)
                if size != m.manifest.byteSize {
                    problems.append(Problem(key: m.key, error: .sizeMismatch(expected: m.manifest.byteSize, actual: size)))
                } else if sha != m.manifest.sha256 {
                    problems.append(Problem(key: m.key, error: .checksumMismatch(expected: m.manifest.sha256, actual: sha)))
                }
            } catch let e as LifecycleError {
                problems.append(Problem(key: m.key, error: e))
            } catch {}
        }
        for (name, path) in [("active", activePointer), ("last-known-good", lastKnownGoodPointer)] {
            guard let key = rawPointer(path) else { continue }
            if !Self.isValidKey(key) {
                problems.append(Problem(key: name, error: .corruptStore("\(name) holds '\(SafeText.quote(key))', not an id@version name")))
            } else if !isInstalled(key) {
                problems.append(Problem(key: name, error: .corruptStore("\(name) points to \(key), which is not installed")))
            }
        }
        return problems
    }

    /// Deletes a non-active, non-last-known-good version.
    public func remove(_ key: String) throws {
        try withLock {
            guard key != active, key != lastKnownGood else {
                throw LifecycleError.corruptStore("\(key) is active or last-known-good and cannot be removed")
            }
            try removeLocked(key)
        }
    }

    private func removeLocked(_ key: String) throws {
        guard isInstalled(key) else { throw LifecycleError.notInstalled(key) }
        let trash = trashDir + "/" + key + "-\(UInt32.random(in: 0...UInt32.max))"
        try rename(versionDirectory(key), trash)  // disappears from versions/ atomically
        try AtomicFile.syncDirectory(versionsDir)
        try? FileManager.default.removeItem(atPath: trash)
    }

    /// Evicts the oldest versions that are neither active nor last-known-good until the store holds at most
    /// `policy.maxVersions` versions and `policy.maxBytes` bytes (or nothing more can be evicted); also clears
    /// interrupted installs.
    /// - Returns: the evicted keys.
    @discardableResult
    public func gc() throws -> [String] {
        try withLock {
            let evicted = try gcLocked()
            clearStaging(keepPartials: false)
            return evicted
        }
    }

    @discardableResult
    private func gcLocked() throws -> [String] {
        var list = try installed()
        let keep = Set([active, lastKnownGood].compactMap { $0 })
        var evicted: [String] = []
        func bytes() -> Int { list.reduce(0) { $0 + $1.manifest.byteSize } }
        while list.count > policy.maxVersions || bytes() > policy.maxBytes {
            guard let victim = list.first(where: { !keep.contains($0.key) }) else { break }
            try removeLocked(victim.key)
            evicted.append(victim.key)
            list.removeAll { $0.key == victim.key }
        }
        return evicted
    }

    // MARK: Recovery and locking

    /// Cleans up after an interrupted operation: empties trash/, removes stray temporary pointer files, and
    /// removes staged installs except partial downloads (kept for resume).
    func recover() {
        let fm = FileManager.default
        for name in (try? fm.contentsOfDirectory(atPath: trashDir)) ?? [] { try? fm.removeItem(atPath: trashDir + "/" + name) }
        for name in (try? fm.contentsOfDirectory(atPath: root)) ?? [] where name.hasPrefix(".") && name.contains(".tmp-") {
            try? fm.removeItem(atPath: root + "/" + name)
        }
        clearStaging(keepPartials: true)
    }

    private func clearStaging(keepPartials: Bool) {
        let fm = FileManager.default
        for name in (try? fm.contentsOfDirectory(atPath: stagingDir)) ?? [] {
            let dir = stagingDir + "/" + name
            let entries = (try? fm.contentsOfDirectory(atPath: dir)) ?? []
            if keepPartials, entries == ["model.gguf.partial"] { continue }
            try? fm.removeItem(atPath: dir)
        }
    }

    func withLock<T>(_ body: () throws -> T) throws -> T {
        let path = root + "/.lock"
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw AtomicFile.error("open lock", path) }
        defer { close(fd) }
        while flock(fd, LOCK_EX) != 0 {
            guard errno == EINTR else { throw AtomicFile.error("flock", path) }
        }
        defer { flock(fd, LOCK_UN) }
        return try body()
    }
}

/// `installed.json` of a version: `{"installedAt": <seconds since 1970>}`.
private struct InstallStamp: Codable {
    var installedAt: Double
}
