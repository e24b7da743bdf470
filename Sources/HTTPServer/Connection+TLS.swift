import Glibc
import SystemIO

extension Connection {
    /// Advances the TLS handshake as far as the socket allows, without blocking: OpenSSL's WANT_READ/WANT_WRITE
    /// become the epoll interest of the `handshaking` state. The header timeout bounds it (`checkTimeouts`).
    func continueHandshake() {
        guard case .handshaking(let since, _) = state, let tlsContext else { return }
        if tls == nil {
            // Peek before OpenSSL sees anything: a TLS record starts 0x16 (handshake) 0x03 (major version), an
            // HTTP request with a method name. A plain request is answered in plain text that it can read.
            var first: UInt8 = 0
            let n = recv(fd, &first, 1, Int32(MSG_PEEK))
            if n == 0 {
                close(reason: "peer closed before the TLS handshake")
                return
            }
            if n < 0 {
                let e = errno
                if e != EAGAIN && e != EINTR { close(reason: "recv: \(SystemError("recv", errno: e))") }
                return
            }
            guard first == 0x16 else {
                reject(.text(.badRequest, "this port speaks TLS; use https://"), log: "plain HTTP on the TLS port")
                return
            }
            guard let session = TLSSession(context: tlsContext, fd: fd) else {
                close(reason: "SSL_new: \(TLSContext.takeError())")
                return
            }
            tls = session
        }
        guard let tls else { return }
        switch tls.handshake() {
        case .done:
            clientSubject = tls.peerSubject
            clientCommonName = tls.peerCommonName
            transition(to: .awaitingHead(headerStart: since))
            interestMayHaveChanged()
            // The client may have sent its request with its last handshake flight.
            readAvailable()
        case .wantsReadable:
            transition(to: .handshaking(since: since, wants: .readable))
            interestMayHaveChanged()
        case .wantsWritable:
            transition(to: .handshaking(since: since, wants: .writable))
            interestMayHaveChanged()
        case .peerGone(let reason):
            close(reason: "TLS handshake: \(reason)")
        case .failed(let reason):
            loop.server.logger.info("\(peer) TLS handshake failed: \(reason)")
            close(reason: "TLS handshake failed")
        }
    }
}
