import CLinuxShim
import Glibc

/// Socket set-up shared by the server and the tests. All sockets are non-blocking and close-on-exec.
public enum Socket {
    /// Opens a listening TCP socket.
    ///
    /// No `SO_REUSEPORT`: with it, a second server (or any process of the same user) could bind the same port and
    /// the kernel would split connections between the two. Several event loops share this one socket instead.
    /// - Parameters:
    ///   - address: where to listen; port 0 picks a free port.
    ///   - backlog: the accept queue length.
    /// - Returns: the descriptor; `localAddress(of:)` tells the real port when 0 was asked.
    /// - Throws: `SystemError` (`EADDRINUSE` when another socket listens there).
    public static func listen(on address: SocketAddress, backlog: Int32 = 4096) throws(SystemError) -> FileDescriptor {
        let fd = FileDescriptor(try blockingSyscall("socket") { swshim_socket_stream(address.family) })
        // SO_REUSEADDR only lets a restarted server bind over connections of its predecessor in TIME_WAIT; it never
        // lets two sockets listen on one port.
        try blockingSyscall("setsockopt(SO_REUSEADDR)") { swshim_set_int_option(fd.rawValue, SOL_SOCKET, SO_REUSEADDR, 1) }
        var storage = address.storage
        try blockingSyscall("bind") {
            withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd.rawValue, $0, address.length) }
            }
        }
        try blockingSyscall("listen") { Glibc.listen(fd.rawValue, backlog) }
        return fd
    }

    /// The local address of a socket.
    public static func localAddress(of fd: Int32) throws(SystemError) -> SocketAddress {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        try blockingSyscall("getsockname") {
            withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
            }
        }
        return SocketAddress(storage: storage, length: length)
    }

    /// Accepts one connection, non-blocking.
    /// - Returns: the new descriptor and the peer's address, or `.wouldBlock` when the queue is empty.
    public static func accept(_ listener: Int32) throws(SystemError) -> IOResult<(Int32, SocketAddress)> {
        var storage = sockaddr_storage()
        var length = UInt32(MemoryLayout<sockaddr_storage>.size)
        let r = try syscall("accept4") { withUnsafeMutablePointer(to: &storage) { swshim_accept4(listener, $0, &length) } }
        switch r {
        case .wouldBlock: return .wouldBlock
        case .processed(let fd): return .processed((fd, SocketAddress(storage: storage, length: socklen_t(length))))
        }
    }

    /// Disables Nagle's algorithm, so a response written in one call leaves at once.
    public static func setNoDelay(_ fd: Int32) {
        _ = swshim_set_int_option(fd, swshim_IPPROTO_TCP, swshim_TCP_NODELAY, 1)
    }
}
