import CLinuxShim
import Glibc
import StoreMaintenance
import Synchronization

/// A command's report, written to the control socket as answer lines (see `ControlSocketProtocol`).
///
/// Commands report from several threads (verify's hashing threads); lines are sent whole, one at a time. A client
/// that went away or stopped reading (the send timeout of the socket) makes every later write a no-op and
/// `clientGone` true, so the command stops at its next check; the server is never interrupted (MSG_NOSIGNAL).
final class ControlSocketOutput: MaintenanceOutput {
    private let fd: Int32
    private struct State {
        var broken = false
        /// When progress was last sent, monotonic nanoseconds: at most ten a second cross the socket.
        var lastProgress: UInt64 = 0
    }
    private let state = Mutex(State())

    init(fd: Int32) {
        self.fd = fd
    }

    func line(_ text: String) {
        send(ControlSocketProtocol.answer("line", text))
    }

    func progress(done: Int, total: Int?, what: String) {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let nanos = UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
        let due = state.withLock { s in
            guard nanos &- s.lastProgress >= 100_000_000 || done == total else { return false }
            s.lastProgress = nanos
            return true
        }
        guard due else { return }
        send(ControlSocketProtocol.answer("progress", "\(done) \(total.map(String.init) ?? "-") \(what)"))
    }

    /// The command's exit status, the last answer line.
    func finish(_ status: Int32) {
        send(ControlSocketProtocol.answer("exit", "\(status)"))
    }

    /// Whether the client is gone: a write failed, or the client closed its end (it sends nothing after its
    /// request, so a readable end of stream can only mean that).
    var clientGone: Bool {
        if state.withLock({ $0.broken }) { return true }
        var byte: UInt8 = 0
        let n = recv(fd, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT))
        let gone = n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
        if gone { state.withLock { $0.broken = true } }
        return gone
    }

    private func send(_ bytes: [UInt8]) {
        state.withLock { s in
            guard !s.broken else { return }
            var offset = 0
            while offset < bytes.count {
                let n = bytes.withUnsafeBytes {
                    Glibc.send(fd, $0.baseAddress! + offset, $0.count - offset, swshim_MSG_NOSIGNAL)
                }
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else {
                    // EPIPE, ECONNRESET, or EAGAIN after the send timeout: nobody reads any more.
                    s.broken = true
                    return
                }
                offset += n
            }
        }
    }
}
