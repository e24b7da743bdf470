import CLinuxShim
import Glibc
import SystemIO

/// One client connection: reads and parses requests, runs one handler task at a time, writes responses.
///
/// Everything here runs on the owning loop's thread: I/O callbacks from `EventLoop.handle`, and the handler task,
/// whose preferred executor is that loop. The life cycle is `state` (see `ConnectionState`); what is not part of it
/// is orthogonal to it: a write waiting for room, a server shutdown, input kept for pipelined requests.
final class Connection: @unchecked Sendable {
    let fd: Int32
    let token: UInt64
    let peer: SocketAddress
    /// `peer` as text for `ExchangeRecord`, made once per connection rather than once per request.
    private(set) lazy var peerText = peer.description
    unowned let loop: EventLoop
    var parser: RequestParser
    private(set) var state: ConnectionState
    var registeredInterest: EpollEvents = []
    var interestQueued = false

    var lastActivity: UInt64
    var shuttingDown = false
    /// Bytes of pipelined requests received while a handler ran; parsed when its response is written.
    var pendingInput: [UInt8] = []

    var writeWaiter: CheckedContinuation<Void, Error>?
    /// The streamed body being sent (see `Connection+Stream`): cancelled when the connection closes under it.
    var streamReader: (any ResponseStreamReader)?
    var writeStalledSince: UInt64 = 0

    /// The TLS context this connection handshakes with (the server's current one when it was accepted).
    let tlsContext: TLSContext?
    /// The TLS session, from the first ClientHello byte on.
    var tls: TLSSession?
    /// The verified client certificate's subject, once the handshake is done.
    var clientSubject: String?
    var clientCommonName: String?
    /// A read is queued for input OpenSSL holds but the socket does not announce (see `readBufferedTLS`).
    var tlsReadQueued = false
    /// File bodies over TLS without kTLS: read here, then written with SSL_write (allocated on first use).
    var fileBuffer: UnsafeMutableRawBufferPointer?
    static let fileBufferSize = 128 * 1024

    init(fd: Int32, token: UInt64, peer: SocketAddress, loop: EventLoop) {
        self.fd = fd
        self.token = token
        self.peer = peer
        self.loop = loop
        parser = RequestParser(limits: loop.server.configuration.parser)
        lastActivity = loop.now
        tlsContext = loop.server.currentTLS
        state = tlsContext == nil ? .awaitingHead(headerStart: loop.now) : .handshaking(since: loop.now, wants: .readable)
    }

    deinit {
        fileBuffer?.deallocate()
    }

    var isClosed: Bool {
        if case .closed = state { return true }
        return false
    }

    /// Moves to `next`; a move the state diagram has no arrow for is a bug, trapped in debug builds.
    func transition(to next: ConnectionState) {
        loop.assertInLoop()
        if !state.allows(next) {
            assertionFailure("connection \(peer): illegal transition \(state.name) → \(next.name)")
        }
        state = next
    }

    // MARK: - Interest

    var wantsRead: Bool {
        switch state {
        case .handshaking(_, let wants): return wants.contains(.readable)
        case .awaitingHead, .lingering: return true
        case .rejecting, .closed: return false
        case .exchanging(let exchange):
            switch exchange.input {
            case .complete, .ended: return false
            case .draining: return true
            case .streaming:
                return !exchange.expectContinuePending
                    && exchange.body.bufferedBytes < loop.server.configuration.bodyHighWater
            }
        }
    }

    var wantedInterest: EpollEvents {
        if case .handshaking(_, let wants) = state { return wants }
        var events: EpollEvents = []
        if wantsRead {
            events.insert(.readable)
            if let tls, tls.readWaitsForWritable { events.insert(.writable) }
        }
        if writeWaiter != nil {
            events.insert(tls?.writeWaitsForReadable == true ? .readable : .writable)
        }
        return events
    }

    /// Queues an epoll interest update, and starts or ends a pause of the body's rate clock: while the engine
    /// does not read an unfinished body, its slowness is not the client's.
    func interestMayHaveChanged() {
        loop.assertInLoop()
        loop.interestChanged(self)
        if case .exchanging(let exchange) = state, exchange.input.bodyOpen {
            exchange.bodyRate.setPaused(!wantsRead, now: loop.now)
        }
        if tls != nil { readBufferedTLS() }
    }

    /// Level-triggered epoll reports bytes in the socket, not decrypted bytes OpenSSL already holds: when reading
    /// resumes (back-pressure over, next pipelined request) and OpenSSL holds some, read them on the next turn.
    private func readBufferedTLS() {
        guard !tlsReadQueued, let tls, tls.hasPendingInput, wantsRead else { return }
        if case .handshaking = state { return }
        tlsReadQueued = true
        loop.execute { [self] in
            tlsReadQueued = false
            if wantsRead { readAvailable() }
        }
    }

    // MARK: - Events

    func handle(events: EpollEvents) {
        loop.assertInLoop()
        if case .handshaking = state {
            continueHandshake()
            return
        }
        let failed = events.contains(.error) || events.contains(.hangup)
        if let waiter = writeWaiter,
           failed || events.contains(tls?.writeWaitsForReadable == true ? .readable : .writable) {
            writeWaiter = nil
            interestMayHaveChanged()
            waiter.resume()
        }
        if events.contains(.readable) || failed || (events.contains(.writable) && tls?.readWaitsForWritable == true) {
            if wantsRead {
                readAvailable()
            } else if events.contains(.hangup) || events.contains(.error) {
                // A reset, or both directions closed (a client's half-close reads as the end of its input, never
                // as a hang-up): no response can reach the peer, and the hang-up, level-triggered and reported
                // whatever the interest, would wake the loop on every wait while the handler runs.
                close(reason: "peer hung up")
            }
        }
    }

    func readAvailable() {
        let scratch = loop.scratch
        // SSL_read returns one TLS record (16 KiB at most) per call: more rounds, and a short one says nothing.
        let rounds = tls == nil ? 8 : 64
        for _ in 0..<rounds {
            guard wantsRead else { return }
            let n: Int
            let asked: Int
            if let direct = readBodyDirectly() {
                (n, asked) = direct
            } else {
                n = receive(scratch.baseAddress!, scratch.count)
                asked = scratch.count
                if n > 0 {
                    lastActivity = loop.now
                    process(UnsafeRawBufferPointer(rebasing: scratch[0..<n]))
                }
            }
            if n > 0 {
                if n < asked && tls == nil { return }
            } else if n == 0 {
                peerDidClose()
                return
            } else {
                let e = errno
                if e == EAGAIN || e == EINTR {
                    if tls != nil { interestMayHaveChanged() }  // OpenSSL may wait for writability now
                    return
                }
                close(reason: e == EPROTO ? "TLS: \(tls?.lastError ?? "")" : "read: \(SystemError("read", errno: e))")
                return
            }
        }
    }

    /// As `read(2)`: from OpenSSL on a TLS connection, except while lingering, where the input is dropped unread.
    func receive(_ buffer: UnsafeMutableRawPointer, _ count: Int) -> Int {
        if let tls {
            if case .lingering = state {} else { return tls.read(buffer, count) }
        }
        return Glibc.read(fd, buffer, count)
    }

    /// Body bytes at least this many bytes from their end are read straight into a chunk (see `readBodyDirectly`).
    static let directReadMinimum: Int64 = 16 * 1024

    /// While the parser expects plain body data, reads it straight into a chunk buffer (a recycled one when the
    /// handler gave some back) instead of into the loop's scratch buffer and then copying it: one copy less per
    /// body byte. It reads at most what the body still lacks, so a pipelined request behind it stays in the socket.
    /// - Returns: nil when this does not apply; otherwise what `read` returned and how many bytes were asked for.
    private func readBodyDirectly() -> (Int, Int)? {
        guard case .exchanging(let exchange) = state, case .streaming = exchange.input, !exchange.body.isDiscarding,
              let expected = parser.expectedBodyBytes, expected >= Self.directReadMinimum else { return nil }
        let body = exchange.body
        let size = Int(min(expected, Int64(RequestBody.chunkCapacity)))
        var chunk = body.takeBuffer()
        var n = 0
        var readErrno: Int32 = 0
        chunk.append(addingCapacity: size) { (span: inout OutputSpan<UInt8>) in
            span.withUnsafeMutableBufferPointer { buffer, initialized in
                n = receive(UnsafeMutableRawPointer(buffer.baseAddress!), size)
                if n > 0 { initialized = n } else if n < 0 { readErrno = errno }
            }
        }
        guard n > 0 else {
            body.recycle([chunk])
            errno = readErrno  // for the caller, as after its own read
            return (n, size)
        }
        lastActivity = loop.now
        exchange.lastBodyProgress = loop.now
        exchange.bodyRate.received(n, now: loop.now)
        let bodyEnded = parser.consumeBody(n)
        body.append(chunk)
        if body.bufferedBytes >= loop.server.configuration.bodyHighWater { interestMayHaveChanged() }
        if bodyEnded {
            // Let the parser report the end of the request, as it would have after these bytes in a buffer.
            process(UnsafeRawBufferPointer(start: nil, count: 0))
        }
        return (n, size)
    }

    private func peerDidClose() {
        guard case .exchanging(let exchange) = state else {
            close(reason: "peer closed")
            return
        }
        if exchange.responded {
            // The response is out and the rest of the body was being drained: nothing is left to do. (Left open,
            // the hang-up, level-triggered, would wake the loop again and again, and the slot never come back.)
            close(reason: "peer closed while its unread body was drained")
            return
        }
        // A client may half-close after sending its request and still read the response.
        if exchange.input.bodyOpen { exchange.body.fail(.connectionClosed) }
        exchange.input = .ended(byPeer: true)
        exchange.closeAfterResponse = true
        interestMayHaveChanged()
    }

    /// Parses input; called with fresh bytes from the socket or with pipelined bytes kept from before.
    func process(_ bytes: UnsafeRawBufferPointer) {
        loop.assertInLoop()
        var i = 0
        while true {
            switch state {
            case .lingering(let deadline, let budget):
                let left = budget - (bytes.count - i)
                if left < 0 {
                    close(reason: "lingering close budget used")
                } else {
                    transition(to: .lingering(deadline: deadline, budget: left))
                }
                return
            case .closed, .rejecting, .handshaking:
                return
            case .exchanging(let exchange) where !exchange.input.bodyOpen:
                if case .complete = exchange.input, i < bytes.count { pendingInput.append(contentsOf: bytes[i...]) }
                return
            case .awaitingHead(nil) where i < bytes.count:
                transition(to: .awaitingHead(headerStart: loop.now))
            case .awaitingHead, .exchanging:
                break
            }
            let step: (Int, RequestParser.Event?)
            do {
                step = try parser.parse(bytes, from: i)
            } catch {
                parseFailed(error)
                return
            }
            i = step.0
            switch step.1 {
            case nil: return
            case .head(let head): startRequest(head)
            case .body(let range): deliverBody(UnsafeRawBufferPointer(rebasing: bytes[range]))
            case .end: endOfBody()
            }
        }
    }

    private func deliverBody(_ bytes: UnsafeRawBufferPointer) {
        guard case .exchanging(let exchange) = state else { return }
        exchange.lastBodyProgress = loop.now
        exchange.bodyRate.received(bytes.count, now: loop.now)
        switch exchange.input {
        case .draining(let budget):
            let left = budget - Int64(bytes.count)
            if left < 0 {
                close(reason: "unread request body over the drain limit")
            } else {
                exchange.input = .draining(budget: left)
            }
        case .streaming:
            exchange.body.append(exchange.body.makeChunk(bytes))
            if exchange.body.bufferedBytes >= loop.server.configuration.bodyHighWater { interestMayHaveChanged() }
        case .complete, .ended:
            break
        }
    }

    private func endOfBody() {
        guard case .exchanging(let exchange) = state else { return }
        let wasDraining = if case .draining = exchange.input { true } else { false }
        exchange.input = .complete
        exchange.body.finish()
        interestMayHaveChanged()
        if wasDraining && exchange.responded { finishExchange() }
    }

    private func parseFailed(_ error: HTTPParseError) {
        guard case .exchanging(let exchange) = state else {
            reject(.text(error.status, error.description), log: "rejected: \(error)")
            return
        }
        if exchange.responded {
            close(reason: "unread request body malformed: \(error)")
            return
        }
        // The body's framing broke: the handler learns it from the body, and the connection closes after.
        exchange.input = .ended(byPeer: false)
        exchange.closeAfterResponse = true
        exchange.body.fail(.malformed(error))
        interestMayHaveChanged()
    }
}
