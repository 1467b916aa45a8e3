// Crash-safe small-file writes and low-level file helpers.

import EdgeLMEssentials

/// POSIX helpers behind the store's crash-safety argument (docs/lifecycle.md).
public enum AtomicFile {
    /// Writes `data` to `path` atomically: a temporary file in the same directory, `fsync`, `rename` over the
    /// target, `fsync` of the directory. After a crash the target holds either the old or the new contents.
    /// - Parameter beforeRename: called after the temporary file is durable, before the rename (crash tests).
    /// - Throws: ``LifecycleError/io(operation:path:errno:)`` or ``LifecycleError/diskFull(path:needed:)``.
    public static func write(_ data: Data, to path: String, mode: mode_t = 0o644, beforeRename: (() -> Void)? = nil) throws {
        let url = URL(fileURLWithPath: path)
        let dir = url.deletingLastPathComponent().path
        let tmp = dir + "/." + url.lastPathComponent + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else { throw error("create", tmp) }
        var ok = false
        defer { if !ok { unlink(tmp) } }
        do {
            try data.withUnsafeBytes { try writeAll(fd, $0, path: tmp) }
            guard fsync(fd) == 0 else { throw error("fsync", tmp) }
        } catch {
            close(fd)
            throw error
        }
        close(fd)
        beforeRename?()
        guard rename(tmp, path) == 0 else { throw error("rename", path) }
        ok = true
        try syncDirectory(dir)
    }

    /// `fsync` of a directory, making renames and creations in it durable.
    public static func syncDirectory(_ dir: String) throws {
        let fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw error("open directory", dir) }
        defer { close(fd) }
        guard fsync(fd) == 0 || errno == EINVAL else { throw error("fsync directory", dir) }
    }

    /// Writes all of `bytes` to `fd`, retrying short writes; ENOSPC/EDQUOT become ``LifecycleError/diskFull(path:needed:)``.
    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws {
        var off = 0
        while off < bytes.count {
            let n = posixWrite(fd, bytes.baseAddress! + off, bytes.count - off)
            if n < 0 {
                if errno == EINTR { continue }
                throw error("write", path)
            }
            off += n
        }
    }

    /// The current errno as a typed error.
    static func error(_ op: String, _ path: String) -> LifecycleError {
        let e = errno
        if e == ENOSPC || e == EDQUOT { return .diskFull(path: path, needed: nil) }
        return .io(operation: op, path: path, errno: e)
    }

    /// Free bytes for unprivileged users on the file system holding `path` (statvfs), nil if unknown.
    public static func availableBytes(at path: String) -> Int? {
        var s = statvfs()
        guard statvfs(path, &s) == 0 else { return nil }
        let (r, o) = Int(s.f_bavail).multipliedReportingOverflow(by: Int(s.f_frsize))
        return o ? Int.max : r
    }
}

/// `write(2)` (a file-scope name: `AtomicFile.write` shadows it inside the enum).
func posixWrite(_ fd: Int32, _ p: UnsafeRawPointer, _ n: Int) -> Int { write(fd, p, n) }

/// `rename(2)` (a file-scope name: `ModelStore.rename` shadows it inside the class).
func posixRename(_ from: String, _ to: String) -> Int32 { rename(from, to) }
