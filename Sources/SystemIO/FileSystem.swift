import CLinuxShim
import Glibc

/// Blocking file operations with the durability the store needs: data is `fsync`ed before it is renamed into
/// place, and a directory is `fsync`ed after an entry in it is created, renamed or removed, so that what a
/// client was told is stored survives a crash.
public enum FileSystem {
    /// Creates `path` and any missing parents (0755), syncing each parent that gained an entry.
    public static func makeDirectories(_ path: String) throws(SystemError) {
        try makeDirectories(path, mode: 0o755)
    }

    /// Creates `path` and any missing parents with `mode`, syncing each parent that gained an entry.
    public static func makeDirectories(_ path: String, mode: mode_t) throws(SystemError) {
        try immediate.flush(files: [], directories: try createDirectories(path, mode: mode))
    }

    /// Makes `path` a directory only this user can enter, or checks that it already is one: a real directory (not
    /// a symlink), owned by the effective user, with no group or other bits. Missing parents are created as by
    /// `makeDirectories`. Safe to call from several threads at once.
    /// - Throws: `SystemError` (`EEXIST` for a path that exists but is not such a directory: someone else's, a
    ///   symlink, or open to others).
    public static func makePrivateDirectory(_ path: String) throws(SystemError) {
        if mkdir(path, 0o700) != 0 {
            if errno == ENOENT {
                try makeDirectories(parent(of: path))
                if mkdir(path, 0o700) == 0 { return }
            }
            guard errno == EEXIST else { throw SystemError("mkdir \(path)", errno: errno) }
            var st = stat()
            guard lstat(path, &st) == 0 else { throw SystemError("lstat \(path)", errno: errno) }
            guard st.st_mode & S_IFMT == S_IFDIR, st.st_uid == geteuid(), st.st_mode & 0o077 == 0 else {
                throw SystemError("\(path) exists and is not a private directory of this user", errno: EEXIST)
            }
        }
    }

    public static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    public static func exists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }

    /// The size of a regular file, or nil when there is none.
    public static func fileSize(_ path: String) -> Int64? {
        var st = stat()
        guard stat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return nil }
        return Int64(st.st_size)
    }

    public static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    /// Makes the entries of a directory durable.
    public static func syncDirectory(_ path: String) throws(SystemError) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw SystemError("open \(path)", errno: errno) }
        defer { close(fd) }
        // EINVAL: the filesystem cannot sync directories (some FUSE/tmpfs setups); there is nothing more to do.
        if fsync(fd) != 0 && errno != EINVAL { throw SystemError("fsync \(path)", errno: errno) }
    }

    /// Writes all of `bytes` to `fd` at its current offset.
    public static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) throws(SystemError) {
        var offset = 0
        while offset < bytes.count {
            let n = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                throw SystemError("write", errno: errno)
            }
            offset += n
        }
    }

    /// Writes all of `bytes` to `fd` at its current offset.
    public static func writeAll(_ fd: Int32, _ bytes: [UInt8]) throws(SystemError) {
        // The closure returns the error rather than throwing it: a typed-throws closure through the rethrowing
        // `withUnsafeBytes` crashes this compiler (Swift 6.3.1) in IR generation.
        let failure = bytes.withUnsafeBytes { raw -> SystemError? in
            do throws(SystemError) { try writeAll(fd, raw) } catch { return error }
            return nil
        }
        if let failure { throw failure }
    }

    /// 32 random hex digits, for names of temporary files and directories.
    public static func randomName() -> String {
        var generator = SystemRandomNumberGenerator()
        let high = generator.next() as UInt64, low = generator.next() as UInt64
        let hex = String(high, radix: 16) + String(low, radix: 16)
        return hex
    }

    /// Opens a new, uniquely named file in `directory` for writing. - Returns: its descriptor and path.
    public static func makeTemporaryFile(in directory: String) throws(SystemError) -> (Int32, String) {
        for _ in 0..<8 {
            let path = "\(directory)/.tmp-\(randomName())"
            let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            if fd >= 0 { return (fd, path) }
            if errno != EEXIST { throw SystemError("open \(path)", errno: errno) }
        }
        throw SystemError("open (temporary)", errno: EEXIST)
    }

    /// Replaces `path` with `bytes` atomically: a reader sees the old content or the new, never a mix, and a
    /// crash leaves one of them. The temporary file lives in `tmpDirectory`, on the same filesystem.
    public static func writeAtomically(_ bytes: [UInt8], to path: String, tmpDirectory: String) throws(SystemError) {
        try writeAtomically(bytes, to: path, tmpDirectory: tmpDirectory, durability: immediate)
    }

    /// Creates an empty marker file (a link) if missing, durably.
    public static func touch(_ path: String) throws(SystemError) {
        try touch(path, durability: immediate)
    }

    /// Reads a whole small file. - Returns: nil when it does not exist.
    /// - Throws: when it is larger than `maxBytes` or cannot be read.
    public static func read(_ path: String, maxBytes: Int) throws(SystemError) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT || errno == ENOTDIR { return nil }
            throw SystemError("open \(path)", errno: errno)
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw SystemError("fstat \(path)", errno: errno) }
        guard Int(st.st_size) <= maxBytes else { throw SystemError("read \(path): too large", errno: EFBIG) }
        var bytes = [UInt8](repeating: 0, count: Int(st.st_size))
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + offset, $0.count - offset, off_t(offset)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw SystemError("read \(path)", errno: errno)
            }
            if n == 0 { break }
            offset += n
        }
        return Array(bytes[0..<offset])
    }

    /// Removes a file and syncs its directory. - Returns: false when it did not exist.
    @discardableResult
    public static func remove(_ path: String) throws(SystemError) -> Bool {
        if unlink(path) != 0 {
            if errno == ENOENT { return false }
            throw SystemError("unlink \(path)", errno: errno)
        }
        try syncDirectory(parent(of: path))
        return true
    }

    /// Removes a directory tree (no symlinks are followed).
    public static func removeTree(_ path: String) {
        for entry in (try? list(path)) ?? [] {
            let child = "\(path)/\(entry)"
            var st = stat()
            if lstat(child, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR {
                removeTree(child)
            } else {
                unlink(child)
            }
        }
        rmdir(path)
    }

    /// The names in a directory, without `.` and `..`. - Returns: empty when it does not exist.
    public static func list(_ path: String) throws(SystemError) -> [String] {
        guard let dir = opendir(path) else {
            if errno == ENOENT || errno == ENOTDIR { return [] }
            throw SystemError("opendir \(path)", errno: errno)
        }
        defer { closedir(dir) }
        var names: [String] = []
        while true {
            errno = 0
            guard let entry = readdir(dir) else {
                if errno != 0 { throw SystemError("readdir \(path)", errno: errno) }
                break
            }
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// Whether an entry is a directory, without following symlinks.
    public static func isRealDirectory(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }
}
