import Glibc

/// A failed system call: its name and the `errno` it set, read in the same frame as the call.
public struct SystemError: Error, CustomStringConvertible, Sendable, Equatable {
    public let call: String
    public let errno: Int32

    public init(_ call: String, errno: Int32) {
        self.call = call
        self.errno = errno
    }

    public var description: String {
        "\(call): \(String(cString: strerror(errno))) (errno \(errno))"
    }

    /// The description without the call's arguments (paths, names): for a client, who learns what failed and
    /// why, not where the server keeps its files.
    public var summary: String {
        "\(call.prefix { $0 != " " }): \(String(cString: strerror(errno)))"
    }

    /// Whether the call failed because the filesystem is full (`ENOSPC`, or a quota: `EDQUOT`).
    public var isNoSpace: Bool { errno == ENOSPC || errno == EDQUOT }
}
