import Glibc
import SystemIO

/// An exclusive lock on a store, held by the one server that serves it for as long as the process lives.
///
/// Two servers on one folder would each remove the other's temporary files at start, expire the other's upload
/// sessions and cache metadata the other changes. The lock is `flock` on `<root>/.lock`: the kernel drops it when
/// the process dies, however it dies, so a `kill -9` never leaves a stale lock behind (a pid file would).
public final class StoreLock: Sendable {
    /// Why the lock could not be taken.
    public enum Failure: Error, CustomStringConvertible, Sendable {
        /// Another process holds it; carries the pid that process wrote, when readable.
        case held(path: String, pid: Int32?)
        case io(SystemError)

        public var description: String {
            switch self {
            case .held(let path, let pid):
                "the store is in use by another swregistry (\(pid.map { "pid \($0)" } ?? "pid unknown"), lock \(path))"
            case .io(let error): "cannot lock the store: \(error)"
            }
        }
    }

    private let fd: Int32
    public let path: String

    /// Takes the lock at once or fails; never waits.
    /// - Throws: `Failure.held` when another process holds it.
    public init(layout: Layout) throws(Failure) {
        path = layout.lockFile
        // Owner-only: the file says nothing secret, but nobody else has a reason to open it (and a reader that
        // took the lock would stop the server from starting).
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw .io(SystemError("open \(path)", errno: errno)) }
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let e = errno
            if e == EINTR { continue }
            defer { close(fd) }
            if e == EWOULDBLOCK { throw .held(path: path, pid: Self.recordedPID(fd)) }
            throw .io(SystemError("flock \(path)", errno: e))
        }
        // The pid is only for the message a second server prints; the lock itself is the flock.
        let text = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = text.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        self.fd = fd
    }

    deinit {
        close(fd)
    }

    private static func recordedPID(_ fd: Int32) -> Int32? {
        var buffer = [UInt8](repeating: 0, count: 16)
        let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard n > 0 else { return nil }
        return Int32(String(decoding: buffer[..<n].prefix { $0 >= 0x30 && $0 <= 0x39 }, as: UTF8.self))
    }
}
