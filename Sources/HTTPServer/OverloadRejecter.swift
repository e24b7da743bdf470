import CLinuxShim
import Glibc
import Logging
import SystemIO

/// Answers connections over `ServerConfiguration.maxConnections` with one canned response (a 503 with
/// `Connection: close`) and closes them, without parsing their requests and without taking a connection slot.
///
/// Closing a socket that holds unread input makes the kernel send a reset instead of a FIN, and a reset can make
/// the client's write of its request fail, or arrive before it read the 503, so that it never sees the answer.
/// So after the write and `shutdown(SHUT_WR)` (the FIN follows the response) a refused socket lingers: registered
/// for input, which is read and dropped, until the client closes (about one round trip for a client that reads
/// the answer and hangs up), for at most `lingerNanos` and `readBudget` bytes. At most `capacity` linger per loop;
/// past that, or when the deadline or the budget runs out, the socket is closed after one last drain (a reset is
/// then possible, and accepted: the client is flooding or not reading).
///
/// Confined to its event loop's thread.
final class OverloadRejecter {
    private struct Lingering {
        var token: UInt64
        var deadline: UInt64
        var budget: Int
    }

    /// Marks epoll tokens of lingering sockets; connection tokens never have it (their generation has 30 bits)
    /// and the listener's is bit 63.
    static let tokenTag: UInt64 = 1 << 62
    /// How long a refused socket waits for its client to close.
    static let lingerNanos: UInt64 = 1_000_000_000
    /// Bytes read and dropped from one refused socket at most.
    static let readBudget = 64 * 1024

    private let response: [UInt8]
    private let capacity: Int
    private let logger: Logger
    private let limit: Int
    private var lingering: [Int32: Lingering] = [:]
    private var nextID: UInt64 = 0
    private var refusedSinceReport = 0
    private var lastReport: UInt64 = 0

    init(configuration: ServerConfiguration, logger: Logger) {
        // On a TLS port the client expects a handshake record: plain text would read as a protocol error
        // ("wrong version number"), and encrypting costs the handshake the limit is there to avoid. It gets the
        // end of the stream instead (after its ClientHello is drained, so not a reset): a clean handshake failure.
        response = configuration.tls == nil ? Self.serialize(configuration.overloadResponse) : []
        capacity = max(0, configuration.maxLingeringRejects)
        limit = configuration.maxConnections
        self.logger = logger
    }

    /// Refused sockets lingering now.
    var count: Int { lingering.count }

    /// Writes the canned response to a just-accepted socket, shuts its write side, and lingers or closes it.
    func reject(_ fd: Int32, peer: SocketAddress, epoll: Epoll, scratch: UnsafeMutableRawBufferPointer, now: UInt64) {
        report(peer, now: now)
        // A fresh socket's send buffer is empty and far larger than the response: the write is whole or the
        // peer is gone already. Non-blocking either way (the socket is).
        let sent = response.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, swshim_MSG_NOSIGNAL) }
        guard sent == response.count else {
            Glibc.close(fd)
            return
        }
        Glibc.shutdown(fd, Int32(SHUT_WR))
        var budget = Self.readBudget
        guard drain(fd, budget: &budget, scratch: scratch), lingering.count < capacity else {
            Glibc.close(fd)
            return
        }
        nextID = (nextID &+ 1) & 0x3FFF_FFFF
        let token = Self.tokenTag | nextID << 32 | UInt64(UInt32(bitPattern: fd))
        do {
            try epoll.add(fd, events: .readable, token: token)
        } catch {
            Glibc.close(fd)
            return
        }
        lingering[fd] = Lingering(token: token, deadline: now + Self.lingerNanos, budget: budget)
    }

    /// Input or hang-up on a lingering socket: drops the input, closes once the client has.
    func handle(token: UInt64, scratch: UnsafeMutableRawBufferPointer) {
        let fd = Int32(bitPattern: UInt32(truncatingIfNeeded: token))
        guard var entry = lingering[fd], entry.token == token else { return }  // stale: closed earlier in this batch
        if drain(fd, budget: &entry.budget, scratch: scratch) {
            lingering[fd] = entry
        } else {
            finish(fd)
        }
    }

    /// Closes the sockets whose lingering time is over.
    func expire(now: UInt64, scratch: UnsafeMutableRawBufferPointer) {
        let over = lingering.filter { now >= $0.value.deadline }
        for (fd, var entry) in over {
            _ = drain(fd, budget: &entry.budget, scratch: scratch)
            finish(fd)
        }
    }

    /// Closes every lingering socket (the loop is stopping).
    func closeAll() {
        for fd in lingering.keys { Glibc.close(fd) }
        lingering = [:]
    }

    private func finish(_ fd: Int32) {
        lingering[fd] = nil
        Glibc.close(fd)  // also removes it from the epoll set: the descriptor is not shared
    }

    /// Reads and drops what input there is.
    /// - Returns: true while the socket is open and within its budget; false once the client closed, on an error,
    ///   or when the budget is spent.
    private func drain(_ fd: Int32, budget: inout Int, scratch: UnsafeMutableRawBufferPointer) -> Bool {
        while true {
            let n = Glibc.read(fd, scratch.baseAddress, min(scratch.count, max(budget, 1)))
            if n > 0 {
                budget -= n
                if budget <= 0 { return false }
                continue
            }
            if n == 0 { return false }
            let e = errno
            if e == EINTR { continue }
            return e == EAGAIN
        }
    }

    /// One log line a second at most under a flood, with the count refused since the last one.
    private func report(_ peer: SocketAddress, now: UInt64) {
        refusedSinceReport += 1
        guard now &- lastReport >= 1_000_000_000 else { return }
        logger.warning("connection limit \(limit) reached; refused \(refusedSinceReport) connection(s) with 503, latest \(peer)")
        refusedSinceReport = 0
        lastReport = now
    }

    /// The whole response as it goes on the wire: status line, the configured fields, `Content-Length`,
    /// `Connection: close`, and the body if it is in memory. No `Date`: RFC 9110 §6.6.1 requires it of 2xx to
    /// 4xx responses only, and this one is built once.
    static func serialize(_ response: Response) -> [UInt8] {
        let body: [UInt8] = if case .bytes(let bytes) = response.body, !response.status.forbidsBody { bytes } else { [] }
        var out = Array("HTTP/1.1 \(response.status.code) \(response.status.reason)\r\n".utf8)
        response.headers.appendWire(to: &out)
        out.append(contentsOf: "Content-Length: \(body.count)\r\nConnection: close\r\n\r\n".utf8)
        out.append(contentsOf: body)
        return out
    }
}
