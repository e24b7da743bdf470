import Glibc
import SystemIO

/// Binds or connects a unix-domain socket to a path of any length.
///
/// `sun_path` holds 108 bytes; a storage folder deeper than that would leave the server without a control socket.
/// A longer path is reached through `/proc/self/fd/<fd of its folder>/<name>`, which the kernel resolves to the
/// real folder: the socket is created (or found) at the real path all the same.
enum ControlSocketAddress {
    /// Calls `body` with an address for `path`.
    /// - Returns: what `body` returns (the syscall's result; errno is left as the syscall set it).
    static func with(_ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) -> Int32) throws(SystemError) -> Int32 {
        let capacity = MemoryLayout.size(ofValue: sockaddr_un().sun_path)
        if path.utf8.count < capacity { return call(body, path) }
        let directory = FileSystem.parent(of: path)
        let name = String(path[path.index(after: path.lastIndex(of: "/")!)...])
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw SystemError("open \(directory)", errno: errno) }
        let short = "/proc/self/fd/\(fd)/\(name)"
        guard short.utf8.count < capacity else {
            close(fd)
            throw SystemError("socket path \(path)", errno: ENAMETOOLONG)
        }
        let result = call(body, short)
        // The caller reads errno after a failure: closing the folder must not change it.
        let saved = errno
        close(fd)
        errno = saved
        return result
    }

    private static func call(_ body: (UnsafePointer<sockaddr>, socklen_t) -> Int32, _ path: String) -> Int32 {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, byte) in path.utf8.enumerated() { raw[i] = byte }
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + path.utf8.count + 1)
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, length) }
        }
    }

    /// Binds `fd` to `path`.
    static func bind(_ fd: Int32, _ path: String) throws(SystemError) {
        let rc = try with(path) { Glibc.bind(fd, $0, $1) }
        guard rc == 0 else { throw SystemError("bind \(path)", errno: errno) }
    }

    /// Connects `fd` to the socket at `path`.
    static func connect(_ fd: Int32, _ path: String) throws(SystemError) {
        let rc = try with(path) { Glibc.connect(fd, $0, $1) }
        guard rc == 0 else { throw SystemError("connect \(path)", errno: errno) }
    }
}
