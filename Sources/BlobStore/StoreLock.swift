import Glibc
import SystemIO

/// An exclusive lock on a store, held by the one server that serves it for as long as the process lives.
///
/// Two servers on one folder would each remove the other's temporary files at start, expire the other's upload
/// sessions and cache metadata the other changes. The lock is `flock` on the storage folder itself: the kernel
/// drops it when the process dies, however it dies, so a `kill -9` never leaves a stale lock behind (a pid file
/// would), and no file can be deleted to break it (a lock on a file is gone for the next opener once the file is
/// unlinked). `<root>/.lock` only records the holder's pid, for the message a second server prints.
public final class StoreLock: Sendable {
    /// Why the lock could not be taken.
    public enum Failure: Error, CustomStringConvertible, Sendable {
        /// Another process holds it; carries the pid that process wrote, when readable.
        case held(path: String, pid: Int32?)
        case io(SystemError)

        public var description: String {
            switch self {
            case .held(let path, let pid):
                "the store is in use by another swregistry (\(pid.map { "pid \($0)" } ?? "pid unknown"), lock on \(path))"
            case .io(let error): "cannot lock the store: \(error)"
            }
        }
    }

    private let fd: Int32
    public let path: String

    /// Takes the lock at once or fails; never waits.
    /// - Throws: `Failure.held` when another process holds it.
    public init(layout: Layout) throws(Failure) {
        path = layout.root
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw .io(SystemError("open \(path)", errno: errno)) }
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let e = errno
            if e == EINTR { continue }
            close(fd)
            if e == EWOULDBLOCK { throw .held(path: path, pid: Self.recordedPID(layout.lockFile)) }
            throw .io(SystemError("flock \(path)", errno: e))
        }
        // Owner-only, no symlink followed: the pid is for the message only; the lock is the flock above.
        let pidFD = open(layout.lockFile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o600)
        if pidFD >= 0 {
            let text = Array("\(getpid())\n".utf8)
            _ = text.withUnsafeBytes { write(pidFD, $0.baseAddress, $0.count) }
            close(pidFD)
        }
        self.fd = fd
    }

    deinit {
        close(fd)
    }

    private static func recordedPID(_ path: String) -> Int32? {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 16)
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard n > 0 else { return nil }
        return Int32(String(decoding: buffer[..<n].prefix { $0 >= 0x30 && $0 <= 0x39 }, as: UTF8.self))
    }
}
