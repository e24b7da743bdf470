import Glibc

/// Owns one file descriptor and closes it exactly once: on `close()` or when the value goes away.
public struct FileDescriptor: ~Copyable {
    public let rawValue: Int32

    public init(_ rawValue: Int32) {
        self.rawValue = rawValue
    }

    /// Gives up ownership without closing, for handing the descriptor to another owner.
    public consuming func release() -> Int32 {
        let fd = rawValue
        discard self
        return fd
    }

    /// A second descriptor for the same open file (`F_DUPFD_CLOEXEC`), owned separately.
    public func duplicate() throws(SystemError) -> FileDescriptor {
        let fd = fcntl(rawValue, F_DUPFD_CLOEXEC, 0)
        guard fd >= 0 else { throw SystemError("fcntl(F_DUPFD_CLOEXEC)", errno: errno) }
        return FileDescriptor(fd)
    }

    /// Closes the descriptor. `close` is never retried on `EINTR`: on Linux the descriptor is already gone then.
    public consuming func close() {
        Glibc.close(rawValue)
        discard self
    }

    deinit {
        Glibc.close(rawValue)
    }
}

/// A descriptor shared by reference (for example an open blob handed to the HTTP engine for `sendfile`);
/// closed when the last reference goes.
public final class SharedFileDescriptor: Sendable {
    public let rawValue: Int32

    public init(taking fd: consuming FileDescriptor) {
        rawValue = fd.release()
    }

    public init(taking rawValue: Int32) {
        self.rawValue = rawValue
    }

    deinit {
        Glibc.close(rawValue)
    }
}
