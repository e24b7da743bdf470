import CLinuxShim
import Glibc
import SystemIO

/// One client connection: reads and parses requests, runs one handler task at a time, writes responses.
///
/// Everything here runs on the owning loop's thread: I/O callbacks from `EventLoop.handle`, and the handler task,
/// whose preferred executor is that loop.
final class Connection: @unchecked Sendable {
    enum Phase {
        /// Between requests or reading a header section.
        case idle
        /// A handler task owns the current request.
        case handling
        /// Answering a request that could not be parsed; no more input is read.
        case rejecting
        /// Response sent, write side shut: reading and dropping input until the peer closes (lingering close),
        /// so that unread input does not turn the close into a reset that destroys the response in flight.
        case lingering(deadline: UInt64, budget: Int)
    }

    let fd: Int32
    let token: UInt64
    let peer: SocketAddress
    unowned let loop: EventLoop
    private var parser: RequestParser
    private var phase: Phase = .idle
    private(set) var isClosed = false
    var registeredInterest: EpollEvents = []
    var interestQueued = false

    private var lastActivity: UInt64
    /// When the header timeout of the request being read started, nil while none runs: from the accept for a
    /// connection's first request (a connection that never sends a byte must not hold on for the idle timeout),
    /// from its first byte for a later one (between requests, the idle timeout applies).
    private var requestStart: UInt64?
    private var body: RequestBody?
    private var bodyComplete = true
    private var lastBodyProgress: UInt64 = 0
    private var bodyRate = BodyRateMeter()
    private var expectContinuePending = false
    private var handlerDone = false
    private var draining = false
    private var drainBudget: Int64 = 0
    private var keepAlive = true
    private var closeAfterResponse = false
    private var peerClosed = false
    private var inputBroken = false
    private var shuttingDown = false
    /// Bytes of pipelined requests received while a handler ran; parsed when its response is written.
    private var pendingInput: [UInt8] = []

    private var writeWaiter: CheckedContinuation<Void, Error>?
    private var writeStalledSince: UInt64 = 0

    init(fd: Int32, token: UInt64, peer: SocketAddress, loop: EventLoop) {
        self.fd = fd
        self.token = token
        self.peer = peer
        self.loop = loop
        parser = RequestParser(limits: loop.server.configuration.parser)
        lastActivity = loop.now
        requestStart = loop.now
    }

    // MARK: - Interest

    private var wantsRead: Bool {
        if isClosed || peerClosed || inputBroken { return false }
        switch phase {
        case .idle, .lingering: return true
        case .rejecting: return false
        case .handling:
            if bodyComplete { return false }
            if draining { return true }
            guard let body, !expectContinuePending else { return false }
            return body.bufferedBytes < loop.server.configuration.bodyHighWater
        }
    }

    var wantedInterest: EpollEvents {
        var events: EpollEvents = []
        if wantsRead { events.insert(.readable) }
        if writeWaiter != nil { events.insert(.writable) }
        return events
    }

    /// Queues an epoll interest update, and starts or ends a pause of the body's rate clock: while the engine
    /// does not read an unfinished body, its slowness is not the client's.
    private func interestMayHaveChanged() {
        loop.interestChanged(self)
        if case .handling = phase, !bodyComplete {
            bodyRate.setPaused(!wantsRead, now: loop.now)
        }
    }

    // MARK: - Events

    func handle(events: EpollEvents) {
        if events.contains(.writable) || events.contains(.error) || events.contains(.hangup), let waiter = writeWaiter {
            writeWaiter = nil
            interestMayHaveChanged()
            waiter.resume()
        }
        if events.contains(.readable) || events.contains(.hangup) || events.contains(.error) {
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

    private func readAvailable() {
        let scratch = loop.scratch
        for _ in 0..<8 {
            guard wantsRead else { return }
            let n: Int
            let asked: Int
            if let direct = readBodyDirectly() {
                (n, asked) = direct
            } else {
                n = Glibc.read(fd, scratch.baseAddress, scratch.count)
                asked = scratch.count
                if n > 0 {
                    lastActivity = loop.now
                    process(UnsafeRawBufferPointer(rebasing: scratch[0..<n]))
                }
            }
            if n > 0 {
                if n < asked { return }
            } else if n == 0 {
                peerDidClose()
                return
            } else {
                let e = errno
                if e == EAGAIN || e == EINTR { return }
                close(reason: "read: \(SystemError("read", errno: e))")
                return
            }
        }
    }

    /// Body bytes at least this many bytes from their end are read straight into a chunk (see `readBodyDirectly`).
    static let directReadMinimum: Int64 = 16 * 1024

    /// While the parser expects plain body data, reads it straight into a chunk buffer (a recycled one when the
    /// handler gave some back) instead of into the loop's scratch buffer and then copying it: one copy less per
    /// body byte. It reads at most what the body still lacks, so a pipelined request behind it stays in the socket.
    /// - Returns: nil when this does not apply; otherwise what `read` returned and how many bytes were asked for.
    private func readBodyDirectly() -> (Int, Int)? {
        guard case .handling = phase, !draining, let body, !body.isDiscarding,
              let expected = parser.expectedBodyBytes, expected >= Self.directReadMinimum else { return nil }
        let size = Int(min(expected, Int64(RequestBody.chunkCapacity)))
        var chunk = body.takeBuffer()
        var n = 0
        var readErrno: Int32 = 0
        let fd = fd
        chunk.append(addingCapacity: size) { (span: inout OutputSpan<UInt8>) in
            span.withUnsafeMutableBufferPointer { buffer, initialized in
                n = Glibc.read(fd, buffer.baseAddress, size)
                if n > 0 { initialized = n } else if n < 0 { readErrno = errno }
            }
        }
        guard n > 0 else {
            body.recycle([chunk])
            errno = readErrno  // for the caller, as after its own read
            return (n, size)
        }
        lastActivity = loop.now
        lastBodyProgress = loop.now
        bodyRate.received(n, now: loop.now)
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
        peerClosed = true
        switch phase {
        case .idle, .lingering, .rejecting:
            close(reason: "peer closed")
        case .handling where handlerDone:
            // The response is out and the rest of the body was being drained: nothing is left to do. (Left open,
            // the hang-up, level-triggered, would wake the loop again and again, and the slot never come back.)
            close(reason: "peer closed while its unread body was drained")
        case .handling:
            // A client may half-close after sending its request and still read the response.
            closeAfterResponse = true
            if !bodyComplete {
                bodyComplete = true
                body?.fail(.connectionClosed)
            }
            interestMayHaveChanged()
        }
    }

    /// Parses input; called with fresh bytes from the socket or with pipelined bytes kept from before.
    private func process(_ bytes: UnsafeRawBufferPointer) {
        if case .lingering(let deadline, let budget) = phase {
            let left = budget - bytes.count
            if left < 0 { close(reason: "lingering close budget used") } else { phase = .lingering(deadline: deadline, budget: left) }
            return
        }
        var i = 0
        while !isClosed {
            if case .handling = phase, bodyComplete {
                if i < bytes.count { pendingInput.append(contentsOf: bytes[i...]) }
                return
            }
            if case .idle = phase, requestStart == nil, i < bytes.count { requestStart = loop.now }
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

    private func startRequest(_ head: RequestHead) {
        phase = .handling
        handlerDone = false
        draining = false
        closeAfterResponse = false
        keepAlive = head.keepAlive
        bodyComplete = false
        expectContinuePending = head.expectContinue && head.framing != .none
        lastBodyProgress = loop.now
        requestStart = nil
        bodyRate = BodyRateMeter()
        let body = RequestBody(connection: self, framing: head.framing)
        self.body = body
        let request = Request(head: head, remoteAddress: peer, startNanos: Clock.monotonicNanos())
        interestMayHaveChanged()
        Task(executorPreference: loop) { [self] in
            await serve(request, body: body)
        }
    }

    private func deliverBody(_ bytes: UnsafeRawBufferPointer) {
        lastBodyProgress = loop.now
        bodyRate.received(bytes.count, now: loop.now)
        if draining {
            drainBudget -= Int64(bytes.count)
            if drainBudget < 0 { close(reason: "unread request body over the drain limit") }
            return
        }
        guard let body else { return }
        body.append(body.makeChunk(bytes))
        if body.bufferedBytes >= loop.server.configuration.bodyHighWater { interestMayHaveChanged() }
    }

    private func endOfBody() {
        bodyComplete = true
        body?.finish()
        interestMayHaveChanged()
        if draining {
            draining = false
            if handlerDone { finishExchange() }
        }
    }

    private func parseFailed(_ error: HTTPParseError) {
        if case .handling = phase {
            // The body's framing broke: the handler learns it from the body, and the connection closes after.
            inputBroken = true
            closeAfterResponse = true
            bodyComplete = true
            body?.fail(.malformed(error))
            interestMayHaveChanged()
            return
        }
        reject(.text(error.status, error.description), log: "rejected: \(error)")
    }

    /// Answers a request that never reached a handler, then closes: no more input is read from this connection.
    private func reject(_ response: Response, log: String) {
        phase = .rejecting
        interestMayHaveChanged()
        loop.server.logger.info("\(peer) \(log)")
        Task(executorPreference: loop) { [self] in
            do {
                try await write(serializeHead(response, method: "GET", versionMinor: 1, close: true,
                                              contentLength: response.body.count) + (bodyBytes(response) ?? []))
                lingeringClose()
            } catch {
                close(reason: "write: \(error)")
            }
        }
    }

    // MARK: - Body flow control (called by RequestBody)

    func bodyWantsData(_ body: RequestBody) {
        guard body === self.body else { return }
        if expectContinuePending {
            expectContinuePending = false
            let interim = Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)
            // Tiny and first on an idle send buffer: a short write here is practically impossible, but is not lost.
            Task(executorPreference: loop) { [self] in
                do { try await write(interim) } catch { close(reason: "write: \(error)") }
            }
        }
        lastBodyProgress = loop.now
        interestMayHaveChanged()
    }

    func bodyDidDrain(_ body: RequestBody) {
        guard body === self.body else { return }
        if body.bufferedBytes < loop.server.configuration.bodyHighWater { interestMayHaveChanged() }
    }

    // MARK: - The exchange

    private func serve(_ request: Request, body: RequestBody) async {
        var response: Response
        do {
            response = try await loop.server.responder.respond(to: request, body: body)
        } catch let error as BodyError {
            if case .tooLarge = error {} else { closeAfterResponse = true }
            response = .text(error.status, error.description)
        } catch let error as HTTPParseError {
            response = .text(error.status, error.description)
        } catch {
            loop.server.logger.error("\(request.method) \(request.head.target): handler failed: \(error)")
            response = .text(.internalServerError, "internal server error")
        }
        guard !isClosed else {
            logAccess(request, status: response.status.code, sent: 0, note: "connection closed")
            return
        }
        if !bodyComplete {
            body.discard()
            let remaining = body.declaredLength.map { $0 - body.receivedBytes }
            let limit = loop.server.configuration.drainLimit
            if expectContinuePending || inputBroken {
                // RFC 9110 §10.1.1: the client was not told to send the body; closing is the only clean end.
                closeAfterResponse = true
            } else if let remaining, remaining <= limit {
                draining = true
                drainBudget = limit
            } else if remaining == nil {
                draining = true
                drainBudget = limit
            } else {
                closeAfterResponse = true
            }
            interestMayHaveChanged()
        }
        let close = closeAfterResponse || !keepAlive || shuttingDown
        var sent: Int64 = 0
        do {
            sent = try await send(response, for: request.head, close: close)
        } catch {
            logAccess(request, status: response.status.code, sent: sent, note: "write failed: \(error)")
            self.close(reason: "write: \(error)")
            return
        }
        logAccess(request, status: response.status.code, sent: sent, note: nil)
        handlerDone = true
        if isClosed { return }
        if close || closeAfterResponse || shuttingDown {
            lingeringClose()
        } else if !draining || bodyComplete {
            finishExchange()
        }
    }

    private func finishExchange() {
        phase = .idle
        body = nil
        handlerDone = false
        draining = false
        bodyComplete = true
        lastActivity = loop.now
        interestMayHaveChanged()
        if shuttingDown && pendingInput.isEmpty {
            close(reason: "shutdown")
            return
        }
        if !pendingInput.isEmpty {
            let input = pendingInput
            pendingInput = []
            input.withUnsafeBytes { process($0) }
        }
    }

    private func logAccess(_ request: Request, status: Int, sent: Int64, note: String?) {
        loop.server.logger.info("\(request.method) \(request.head.target) \(status) \(sent) \(String(format3: Double(Clock.monotonicNanos() - request.startNanos) / 1e6))ms \(peer)\(note.map { " (\($0))" } ?? "")")
    }

    // MARK: - Timeouts and shutdown

    func checkTimeouts(now: UInt64) {
        let config = loop.server.configuration
        switch phase {
        case .lingering(let deadline, _):
            if now >= deadline { close(reason: "lingering close over") }
        case .idle:
            if let start = requestStart {
                guard now &- start > UInt64(config.headerTimeout * 1e9) else { return }
                if parser.isIdle {
                    // Accepted, and not a byte since: there is no request to answer (RFC 9112 §9.5 lets a server
                    // close at any time), and a 408 could be taken for the answer to a request sent meanwhile.
                    close(reason: "no request within the header timeout")
                } else {
                    // Slowloris: a header section trickling in. Answer 408 and close.
                    reject(.text(.requestTimeout, "request header timeout"), log: "header timeout")
                }
            } else if now &- lastActivity > UInt64(config.idleTimeout * 1e9) {
                close(reason: "idle timeout")
            }
        case .rejecting, .handling:
            if writeWaiter != nil && now &- writeStalledSince > UInt64(config.writeTimeout * 1e9) {
                close(reason: "write timeout", writeErrno: ETIMEDOUT)
                return
            }
            guard case .handling = phase, !bodyComplete, let body else { return }
            if draining || body.isWaiting, now &- lastBodyProgress > UInt64(config.bodyTimeout * 1e9) {
                bodyFailed(.timedOut, body)
            } else if bodyRate.isTooSlow(now: now, minRate: config.minBodyRate, grace: config.bodyTimeout) {
                loop.server.logger.info("\(peer) request body below \(Int(config.minBodyRate)) bytes/s (\(bodyRate.bytes) bytes received)")
                bodyFailed(.tooSlow(minRate: config.minBodyRate), body)
            }
        }
    }

    /// Ends a body that came too slowly: the handler learns it from the body (and answers 408 as a rule), and the
    /// connection closes after the response; an unread body being drained just closes the connection.
    private func bodyFailed(_ error: BodyError, _ body: RequestBody) {
        if draining {
            close(reason: "draining request body: \(error)")
            return
        }
        inputBroken = true
        closeAfterResponse = true
        bodyComplete = true
        body.fail(error)
        interestMayHaveChanged()
    }

    func beginShutdown() {
        shuttingDown = true
        if case .idle = phase, parser.isIdle {
            close(reason: "shutdown")
        }
    }

    /// Shuts the write side and reads until the peer closes or a short deadline passes.
    private func lingeringClose() {
        guard !isClosed else { return }
        if peerClosed {
            close(reason: "done")
            return
        }
        Glibc.shutdown(fd, Int32(SHUT_WR))
        phase = .lingering(deadline: loop.now + 2_000_000_000, budget: 1 << 20)
        inputBroken = false
        interestMayHaveChanged()
    }

    /// Closes the connection; a write waiting for room fails with `writeErrno` (what the access log shows).
    func close(reason: @autoclosure () -> String, writeErrno: Int32 = ECONNRESET) {
        guard !isClosed else { return }
        isClosed = true
        Glibc.close(fd)
        loop.unregister(self)
        loop.server.logger.trace("\(peer) closed: \(reason())")
        if let waiter = writeWaiter {
            writeWaiter = nil
            waiter.resume(throwing: SystemError("write", errno: writeErrno))
        }
        if !bodyComplete { body?.fail(.connectionClosed) }
        pendingInput = []
    }

    // MARK: - Writing

    /// Writes all of `bytes`, waiting for the socket when its buffer is full.
    func write(_ bytes: [UInt8]) async throws {
        var offset = 0
        while offset < bytes.count {
            if isClosed { throw SystemError("write", errno: ECONNRESET) }
            let n = bytes.withUnsafeBytes { raw in
                Glibc.send(fd, raw.baseAddress! + offset, raw.count - offset, swshim_MSG_NOSIGNAL)
            }
            if n >= 0 {
                offset += n
            } else {
                let e = errno
                if e == EINTR { continue }
                guard e == EAGAIN else { throw SystemError("send", errno: e) }
                try await waitWritable()
            }
        }
    }

    /// Sends `length` bytes of a file with `sendfile`, never copying them through user space.
    func sendFile(_ file: SharedFileDescriptor, offset: Int64, length: Int64) async throws {
        var position = offset
        let end = offset + length
        while position < end {
            if isClosed { throw SystemError("sendfile", errno: ECONNRESET) }
            let n = swshim_sendfile(fd, file.rawValue, &position, Int(min(end - position, 1 << 30)))
            if n > 0 { continue }
            if n == 0 { throw SystemError("sendfile: file shorter than expected", errno: EIO) }
            let e = errno
            if e == EINTR { continue }
            guard e == EAGAIN else { throw SystemError("sendfile", errno: e) }
            try await waitWritable()
        }
    }

    private func waitWritable() async throws {
        writeStalledSince = loop.now
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
            writeWaiter = continuation
            interestMayHaveChanged()
        }
    }
}

extension String {
    /// A number with three decimals, without Foundation.
    init(format3 value: Double) {
        let thousandths = Int((value * 1000).rounded())
        let frac = thousandths % 1000
        self = "\(thousandths / 1000)." + (frac < 10 ? "00" : frac < 100 ? "0" : "") + "\(frac)"
    }
}
