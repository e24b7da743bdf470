import Glibc
import SystemIO

extension FileSystem {
    /// A file's modification time in nanoseconds since the epoch, without following a symlink; nil when absent.
    public static func modificationTime(_ path: String) -> Int64? {
        var st = stat()
        guard lstat(path, &st) == 0 else { return nil }
        return Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec)
    }

    /// Sets a file's times to now (`utimensat` with no times: the filesystem's clock, as for a new file).
    /// - Returns: false when the file does not exist.
    /// - Throws: any other failure.
    @discardableResult
    static func refresh(_ path: String) throws(SystemError) -> Bool {
        if utimensat(AT_FDCWD, path, nil, 0) == 0 { return true }
        if errno == ENOENT { return false }
        throw SystemError("utimensat \(path)", errno: errno)
    }

    /// Creates an empty marker file, durably, or refreshes its times when it exists: either way its modification
    /// time is now, which is what tells the collector it was just made reachable.
    static func touchFresh(_ path: String, durability: any Durability) throws(SystemError) {
        if try refresh(path) { return }
        try touch(path, durability: durability)
    }
}
