import CLinuxShim
import Glibc
import SystemIO

/// Blocking file helpers for the cache, with the durability it needs: data is `fsync`ed before it is renamed into
/// place, and a directory is `fsync`ed after an entry in it is created, renamed or removed.
enum CacheFiles {
    /// `lstat`, or nil when the path does not exist (or cannot be looked at).
    static func lstatOrNil(_ path: String) -> stat? {
        var st = stat()
        return lstat(path, &st) == 0 ? st : nil
    }

    /// Whether anything is at `path` (a dangling symlink included).
    static func exists(_ path: String) -> Bool { lstatOrNil(path) != nil }

    /// Writes all of `bytes` to `fd`.
    static func writeAll(_ fd: Int32, _ bytes: [UInt8], path: String) throws(SystemError) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 {
                if errno == EINTR { continue }
                throw SystemError("write \(path)", errno: errno)
            }
            offset += n
        }
    }

    /// Replaces `path` with `bytes` atomically (temporary file beside it → fsync → rename → fsync directory): a
    /// reader sees the old content or the new, and a crash leaves one of them.
    static func writeAtomically(_ bytes: [UInt8], to path: String, mode: mode_t = 0o644) throws(SystemError) {
        let directory = FileSystem.parent(of: path)
        let tmp = "\(directory)/.\(FileSystem.randomName()).tmp"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode)
        guard fd >= 0 else { throw SystemError("open \(tmp)", errno: errno) }
        do throws(SystemError) {
            try writeAll(fd, bytes, path: tmp)
            if fchmod(fd, mode) != 0 { throw SystemError("fchmod \(tmp)", errno: errno) }
            if fsync(fd) != 0 { throw SystemError("fsync \(tmp)", errno: errno) }
            close(fd)
            if rename(tmp, path) != 0 { throw SystemError("rename \(tmp) → \(path)", errno: errno) }
        } catch {
            close(fd)
            unlink(tmp)
            throw error
        }
        try FileSystem.syncDirectory(directory)
    }

    /// Reads a whole small file. - Returns: nil when it does not exist.
    /// - Throws: when it is larger than `maxBytes` or cannot be read.
    static func readSmall(_ path: String, maxBytes: Int = 4 << 20) throws(SystemError) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        if fd < 0 {
            if errno == ENOENT || errno == ENOTDIR { return nil }
            throw SystemError("open \(path)", errno: errno)
        }
        defer { close(fd) }
        return try readSmall(fd: fd, path: path, maxBytes: maxBytes)
    }

    /// Reads a whole small regular file from an open descriptor.
    static func readSmall(fd: Int32, path: String, maxBytes: Int) throws(SystemError) -> [UInt8] {
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw SystemError("fstat \(path)", errno: errno) }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw SystemError("read \(path): not a regular file", errno: EINVAL) }
        guard Int(st.st_size) <= maxBytes else { throw SystemError("read \(path): larger than \(maxBytes) bytes", errno: EFBIG) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw SystemError("read \(path)", errno: errno)
            }
            if n == 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
            if bytes.count > maxBytes { throw SystemError("read \(path): larger than \(maxBytes) bytes", errno: EFBIG) }
        }
        return bytes
    }

    /// Removes a directory tree without following symlinks (see ``RawPath/removeTree()``).
    static func removeTree(_ path: String) throws(SystemError) {
        try RawPath(path).removeTree()
    }

    /// The current time as RFC 3339 UTC (`2026-11-29T06:30:00Z`).
    static func now() -> String {
        var seconds = time(nil)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        var buffer = [CChar](repeating: 0, count: 32)
        let count = strftime(&buffer, buffer.count, "%Y-%m-%dT%H:%M:%SZ", &parts)
        return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// An advisory `flock(2)` held while this value lives (or until ``unlock()``).
///
/// flock locks belong to the open file description, so two opens in one process exclude each other as two processes
/// do, and the kernel drops the lock when its holder dies: a crash never leaves a stale lock.
final class FileLock {
    private var fd: Int32

    private init(fd: Int32) { self.fd = fd }

    /// Opens (creating) `path` and locks it.
    /// - Parameters:
    ///   - exclusive: `LOCK_EX` when true, else `LOCK_SH`.
    ///   - wait: Block until the lock is granted; when false, return nil if someone else holds it.
    static func acquire(_ path: String, exclusive: Bool, wait: Bool = true) throws(SystemError) -> FileLock? {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o644)
        guard fd >= 0 else { throw SystemError("open \(path)", errno: errno) }
        let operation = (exclusive ? LOCK_EX : LOCK_SH) | (wait ? 0 : LOCK_NB)
        while flock(fd, operation) != 0 {
            let e = errno
            if e == EINTR { continue }
            close(fd)
            if e == EWOULDBLOCK { return nil }
            throw SystemError("flock \(path)", errno: e)
        }
        return FileLock(fd: fd)
    }

    func unlock() {
        if fd >= 0 { close(fd) }
        fd = -1
    }

    deinit { unlock() }
}
