import CLinuxShim
import Glibc
import Logging
import StoreMaintenance
import Synchronization
import SystemIO

/// The server's control socket, `<storage>/.control.sock`: the CLI runs store commands (`StoreCommands.all`)
/// through it inside the live server, against the server's open store (see `ControlSocketProtocol` for the wire).
///
/// Who may use it: the socket is 0600 in the storage folder (0700 when the server made it), and each connection's
/// peer, as the kernel recorded it at connect (`SO_PEERCRED`), must be the server's user or root; anyone else is
/// refused before a byte of the request is read.
///
/// Each command runs on a thread of its own; at most `maxSessions` connections are served at once, and one
/// command of each kind (two `verify` runs at once would only compete for the disk). A client that goes away
/// stops its command at the next unit of work (`StoreCommandContext.isCancelled`); writes to it never block the
/// server for long (a send timeout) nor raise SIGPIPE.
final class ControlSocket: Sendable {
    static let maxSessions = 4

    let path: String
    private let listener: Int32
    private let wakeRead: Int32, wakeWrite: Int32
    /// The socket file this server made (device, inode): removed at stop only if it is still that one.
    private let identity: (UInt64, UInt64)
    let commands: [any StoreCommand.Type]
    let makeContext: @Sendable (any MaintenanceOutput, @escaping @Sendable () -> Bool) -> StoreCommandContext
    let logger: Logger

    struct State {
        var sessions = 0
        var running: Set<String> = []
        var stopping = false
        var acceptThread: pthread_t?
    }
    let state = Mutex(State())

    /// Makes the socket and starts accepting.
    /// - Parameters:
    ///   - path: the socket's path; a socket left there by a server that died is replaced (the caller holds the
    ///     store's lock, so no live server owns it).
    ///   - makeContext: the context a command runs with, given its output and its cancellation test.
    /// - Throws: `SystemError` when the socket cannot be made, or when `path` holds something that is not a socket.
    init(path: String, commands: [any StoreCommand.Type], logger: Logger,
         makeContext: @escaping @Sendable (any MaintenanceOutput, @escaping @Sendable () -> Bool) -> StoreCommandContext)
        throws(SystemError) {
        self.path = path
        self.commands = commands
        self.logger = logger
        self.makeContext = makeContext
        var st = stat()
        if lstat(path, &st) == 0 {
            guard st.st_mode & S_IFMT == S_IFSOCK else {
                throw SystemError("\(path) exists and is not a socket", errno: EEXIST)
            }
            unlink(path)
        }
        let fd = try blockingSyscall("socket") { swshim_socket_stream(AF_UNIX) }
        do throws(SystemError) {
            try ControlSocketAddress.bind(fd, path)
            // Before listen: until then a connect is refused, so nobody connects while the mode is wider.
            try blockingSyscall("chmod") { chmod(path, 0o600) }
            try blockingSyscall("listen") { Glibc.listen(fd, 16) }
            guard lstat(path, &st) == 0 else { throw SystemError("lstat \(path)", errno: errno) }
        } catch {
            close(fd)
            throw error
        }
        identity = (UInt64(st.st_dev), UInt64(st.st_ino))
        listener = fd
        var pipeFDs: [Int32] = [0, 0]
        guard pipe(&pipeFDs) == 0 else {
            close(fd)
            unlink(path)
            throw SystemError("pipe", errno: errno)
        }
        _ = fcntl(pipeFDs[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(pipeFDs[1], F_SETFD, FD_CLOEXEC)
        wakeRead = pipeFDs[0]
        wakeWrite = pipeFDs[1]
        let thread = SystemIO.Thread.start(name: "swr-control") { [self] in acceptLoop() }
        state.withLock { $0.acceptThread = thread }
    }

    /// Stops accepting, removes the socket, asks running commands to stop and waits for them, up to `grace`
    /// seconds (a command left running then ends with the process).
    func stop(grace: Double = 10) {
        let thread = state.withLock { s -> pthread_t? in
            s.stopping = true
            defer { s.acceptThread = nil }
            return s.acceptThread
        }
        guard let thread else { return }
        var byte: UInt8 = 1
        _ = write(wakeWrite, &byte, 1)
        pthread_join(thread, nil)
        close(listener)
        var st = stat()
        if lstat(path, &st) == 0 && (UInt64(st.st_dev), UInt64(st.st_ino)) == identity { unlink(path) }
        var waited = 0.0
        while state.withLock({ $0.sessions }) > 0 && waited < grace {
            usleep(20_000)
            waited += 0.02
        }
    }

    var isStopping: Bool { state.withLock { $0.stopping } }

    private func acceptLoop() {
        while true {
            var fds = [pollfd(fd: listener, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0)]
            let ready = poll(&fds, 2, -1)
            if ready < 0 {
                if errno == EINTR { continue }
                logger.error("control socket: poll: \(SystemError("poll", errno: errno))")
                return
            }
            if fds[1].revents != 0 { return }
            guard fds[0].revents != 0 else { continue }
            var storage = sockaddr_storage()
            var length = UInt32(MemoryLayout<sockaddr_storage>.size)
            let fd = withUnsafeMutablePointer(to: &storage) { swshim_accept4(listener, $0, &length) }
            guard fd >= 0 else { continue }  // EAGAIN (another wake-up took it), ECONNABORTED, EMFILE: try again
            admit(fd)
        }
    }

    /// Checks the peer and hands the connection to a session thread; the caller's thread never runs a command.
    private func admit(_ fd: Int32) {
        // The session reads and writes blocking, with timeouts.
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
        setTimeout(fd, SO_SNDTIMEO, seconds: 30)
        setTimeout(fd, SO_RCVTIMEO, seconds: ControlSocketProtocol.requestTimeout)
        let session = ControlSocketSession(fd: fd, socket: self)
        guard let peer = PeerCredentials(fd) else {
            session.refuse("cannot tell who is connecting (SO_PEERCRED failed)")
            return
        }
        guard peer.isAdmitted(serverUID: geteuid()) else {
            logger.warning("control socket: refused uid \(peer.uid) (pid \(peer.pid)): not the server's user or root")
            session.refuse("refused: uid \(peer.uid) is neither the server's user nor root")
            return
        }
        let admitted = state.withLock { s -> Bool in
            guard !s.stopping, s.sessions < Self.maxSessions else { return false }
            s.sessions += 1
            return true
        }
        guard admitted else {
            session.refuse(isStopping ? "the server is stopping" : "busy: \(Self.maxSessions) commands are running")
            return
        }
        let thread = SystemIO.Thread.start(name: "swr-control-run") {
            session.serve(peer)
            self.state.withLock { $0.sessions -= 1 }
        }
        pthread_detach(thread)
    }

    private func setTimeout(_ fd: Int32, _ option: Int32, seconds: Int) {
        var tv = timeval(tv_sec: seconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, option, &tv, socklen_t(MemoryLayout<timeval>.size))
    }
}

/// Who is at the other end of a unix socket, as the kernel recorded it at connect.
struct PeerCredentials: Sendable {
    let uid: uid_t
    let gid: gid_t
    let pid: pid_t

    init(uid: uid_t, gid: gid_t, pid: pid_t) {
        self.uid = uid
        self.gid = gid
        self.pid = pid
    }

    init?(_ fd: Int32) {
        var uid: UInt32 = 0, gid: UInt32 = 0, pid: Int32 = 0
        guard swshim_peer_credentials(fd, &uid, &gid, &pid) == 0 else { return nil }
        self.init(uid: uid, gid: gid, pid: pid)
    }

    /// The server's own user, or root (who could read the store's files anyway); nobody else, whatever group.
    func isAdmitted(serverUID: uid_t) -> Bool {
        uid == serverUID || uid == 0
    }
}
