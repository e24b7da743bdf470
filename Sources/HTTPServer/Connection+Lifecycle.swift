import CLinuxShim
import Glibc
import SystemIO

extension Connection {
    // MARK: - Timeouts and shutdown

    func checkTimeouts(now: UInt64) {
        loop.assertInLoop()
        let config = loop.server.configuration
        switch state {
        case .closed:
            return
        case .handshaking(let since, _):
            // The handshake counts against the header timeout, as the first request's head does.
            if now &- since > UInt64(config.headerTimeout * 1e9) { close(reason: "TLS handshake timeout") }
        case .lingering(let deadline, _):
            if now >= deadline { close(reason: "lingering close over") }
        case .awaitingHead(let start):
            if let start {
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
        case .rejecting, .exchanging:
            if writeWaiter != nil && now &- writeStalledSince > UInt64(config.writeTimeout * 1e9) {
                close(reason: "write timeout", writeErrno: ETIMEDOUT)
                return
            }
            guard case .exchanging(let exchange) = state, exchange.input.bodyOpen else { return }
            let draining = if case .draining = exchange.input { true } else { false }
            if draining || exchange.body.isWaiting, now &- exchange.lastBodyProgress > UInt64(config.bodyTimeout * 1e9) {
                bodyFailed(.timedOut, exchange)
            } else if exchange.bodyRate.isTooSlow(now: now, minRate: config.minBodyRate, grace: config.bodyTimeout) {
                loop.server.logger.info("\(peer) request body below \(Int(config.minBodyRate)) bytes/s (\(exchange.bodyRate.bytes) bytes received)")
                bodyFailed(.tooSlow(minRate: config.minBodyRate), exchange)
            }
        }
    }

    /// Ends a body that came too slowly: the handler learns it from the body (and answers 408 as a rule), and the
    /// connection closes after the response; an unread body being drained just closes the connection.
    private func bodyFailed(_ error: BodyError, _ exchange: Exchange) {
        if case .draining = exchange.input {
            close(reason: "draining request body: \(error)")
            return
        }
        exchange.input = .ended(byPeer: false)
        exchange.closeAfterResponse = true
        exchange.body.fail(error)
        interestMayHaveChanged()
    }

    func beginShutdown() {
        shuttingDown = true
        switch state {
        case .awaitingHead where parser.isIdle, .handshaking: close(reason: "shutdown")
        default: break
        }
    }

    /// Shuts the write side and reads until the peer closes or a short deadline passes.
    func lingeringClose() {
        switch state {
        case .closed:
            return
        case .exchanging(let exchange):
            if case .ended(byPeer: true) = exchange.input {
                close(reason: "done")
                return
            }
        default:
            break
        }
        tls?.shutdown()
        Glibc.shutdown(fd, Int32(SHUT_WR))
        transition(to: .lingering(deadline: loop.now + 2_000_000_000, budget: 1 << 20))
        interestMayHaveChanged()
    }

    /// Closes the connection; a write waiting for room fails with `writeErrno` (what the access log shows).
    func close(reason: @autoclosure () -> String, writeErrno: Int32 = ECONNRESET) {
        loop.assertInLoop()
        let previous = state
        if case .closed = previous { return }
        transition(to: .closed)
        tls?.shutdown()
        Glibc.close(fd)
        loop.unregister(self)
        loop.server.logger.trace("\(peer) closed: \(reason())")
        if let waiter = writeWaiter {
            writeWaiter = nil
            waiter.resume(throwing: SystemError("write", errno: writeErrno))
        }
        // A producer the handler task waits for would otherwise keep going for a client that is gone.
        releaseStream()
        if case .exchanging(let exchange) = previous, exchange.input.bodyOpen {
            exchange.body.fail(.connectionClosed)
        }
        pendingInput = []
    }
}
