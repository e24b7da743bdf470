import COpenSSL
import Glibc

/// The TLS side of one connection: an `SSL` on the connection's non-blocking socket. Results are mapped to what
/// `read(2)`/`send(2)` would say, so the connection's code reads the same for both: -1 with `errno` `EAGAIN` when
/// OpenSSL waits for the socket (and which readiness it waits for in `waitsForWritable`/`waitsForReadable`).
final class TLSSession {
    private let ssl: OpaquePointer
    let context: TLSContext
    /// The last read stopped because OpenSSL must write first (a TLS 1.3 key update answer, say).
    private(set) var readWaitsForWritable = false
    /// The last write stopped because OpenSSL must read first.
    private(set) var writeWaitsForReadable = false
    /// Why the last call failed with `EPROTO`.
    private(set) var lastError = ""
    private var shutdownSent = false
    /// kTLS took over sending: file bodies go out with `SSL_sendfile`.
    private(set) var kernelSend = false

    enum HandshakeStep {
        case done
        case wantsReadable
        case wantsWritable
        /// The peer closed or reset the connection mid-handshake (a client giving up, a port scanner).
        case peerGone(String)
        case failed(String)
    }

    init?(context: TLSContext, fd: Int32) {
        guard let ssl = SSL_new(context.context) else { return nil }
        self.ssl = ssl
        self.context = context
        SSL_set_fd(ssl, fd)
        SSL_set_accept_state(ssl)
    }

    deinit {
        SSL_free(ssl)
    }

    func handshake() -> HandshakeStep {
        ERR_clear_error()
        let rc = SSL_do_handshake(ssl)
        if rc == 1 {
            kernelSend = swssl_bio_ktls_send(ssl) != 0
            return .done
        }
        let code = SSL_get_error(ssl, rc)
        switch code {
        case SSL_ERROR_WANT_READ: return .wantsReadable
        case SSL_ERROR_WANT_WRITE: return .wantsWritable
        case SSL_ERROR_SYSCALL:
            let e = errno
            return .peerGone(TLSContext.takeError(orElse: e == 0 ? "peer closed" : String(cString: strerror(e))))
        default:
            let reason = TLSContext.takeError()
            if reason == "unexpected eof while reading" { return .peerGone(reason) }
            let verify = SSL_get_verify_result(ssl)
            if verify != X509_V_OK {
                return .failed("\(reason) (client certificate: \(String(cString: X509_verify_cert_error_string(verify))))")
            }
            return .failed(reason)
        }
    }

    /// As `read(2)`: bytes read, 0 at the peer's close_notify or end of stream, -1 with `errno`.
    func read(_ buffer: UnsafeMutableRawPointer, _ count: Int) -> Int {
        ERR_clear_error()
        let rc = SSL_read(ssl, buffer, Int32(clamping: count))
        if rc > 0 {
            readWaitsForWritable = false
            return Int(rc)
        }
        return map(SSL_get_error(ssl, rc), reading: true)
    }

    /// As `send(2)`: bytes written, or -1 with `errno`.
    func write(_ buffer: UnsafeRawPointer, _ count: Int) -> Int {
        ERR_clear_error()
        let rc = SSL_write(ssl, buffer, Int32(clamping: count))
        if rc > 0 {
            writeWaitsForReadable = false
            return Int(rc)
        }
        return map(SSL_get_error(ssl, rc), reading: false)
    }

    /// With kTLS: as `sendfile(2)`, bytes sent from `offset`, or -1 with `errno`.
    func sendFile(_ file: Int32, offset: Int64, count: Int) -> Int {
        ERR_clear_error()
        let rc = SSL_sendfile(ssl, file, off_t(offset), count, 0)
        if rc > 0 { return rc }
        return map(SSL_get_error(ssl, Int32(truncatingIfNeeded: rc)), reading: false)
    }

    private func map(_ code: Int32, reading: Bool) -> Int {
        switch code {
        case SSL_ERROR_WANT_READ:
            if !reading { writeWaitsForReadable = true }
            errno = EAGAIN
            return -1
        case SSL_ERROR_WANT_WRITE:
            if reading { readWaitsForWritable = true }
            errno = EAGAIN
            return -1
        case SSL_ERROR_ZERO_RETURN:
            return 0
        case SSL_ERROR_SYSCALL:
            // errno 0 here: the peer closed without close_notify, which HTTP/1.1 framing makes harmless.
            let e = errno
            ERR_clear_error()
            if e == 0 { if reading { return 0 } else { errno = EPIPE; return -1 } }
            errno = e
            return -1
        default:
            lastError = TLSContext.takeError()
            errno = EPROTO
            return -1
        }
    }

    /// Decrypted bytes OpenSSL holds that the socket's readiness does not announce.
    var hasPendingInput: Bool { SSL_has_pending(ssl) != 0 }

    /// The client certificate's subject (RFC 2253), if it sent one (and, with client CAs, it was verified).
    var peerSubject: String? {
        var buffer = [CChar](repeating: 0, count: 1024)
        let n = swssl_peer_subject(ssl, &buffer, Int32(buffer.count))
        guard n >= 0 else { return nil }
        return String(decoding: buffer[0..<Int(n)].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The client certificate's common name, when it has exactly one (see `swssl_peer_common_name`).
    var peerCommonName: String? {
        var buffer = [CChar](repeating: 0, count: 1024)
        let n = swssl_peer_common_name(ssl, &buffer, Int32(buffer.count))
        guard n >= 0 else { return nil }
        return String(decoding: buffer[0..<Int(n)].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Sends close_notify once, without waiting for the peer's (RFC 8446 §6.1 lets the closer not wait).
    func shutdown() {
        guard !shutdownSent, SSL_is_init_finished(ssl) == 1 else { return }
        shutdownSent = true
        ERR_clear_error()
        _ = SSL_shutdown(ssl)
        ERR_clear_error()
    }
}
