import COpenSSL
import Glibc

/// One OpenSSL `SSL_CTX` built from `TLSSettings`: certificate chain, key, client CAs, versions, ALPN.
/// Immutable once built; a reload builds a new one, and connections keep the one they started with (each `SSL`
/// holds a reference on its `SSL_CTX`).
final class TLSContext: @unchecked Sendable {
    let context: OpaquePointer
    let settings: TLSSettings
    let requiresClientCertificate: Bool

    /// - Throws: `TLSError` naming the file that could not be used and OpenSSL's reason.
    init(settings: TLSSettings) throws(TLSError) {
        self.settings = settings
        requiresClientCertificate = !settings.clientCAPaths.isEmpty
        ERR_clear_error()
        guard let context = SSL_CTX_new(TLS_server_method()) else {
            throw TLSError("TLS: cannot create a context: \(Self.takeError())")
        }
        self.context = context
        let minimum = settings.minimumVersion == .tls13 ? TLS1_3_VERSION : TLS1_2_VERSION
        guard swssl_ctx_set_min_proto_version(context, minimum) == 1 else {
            throw TLSError("TLS: cannot set the minimum version \(settings.minimumVersion.rawValue): \(Self.takeError())")
        }
        swssl_ctx_set_server_options(context)
        guard SSL_CTX_use_certificate_chain_file(context, settings.certificatePath) == 1 else {
            throw TLSError("TLS certificate \(settings.certificatePath): \(Self.takeError())")
        }
        guard SSL_CTX_use_PrivateKey_file(context, settings.keyPath, SSL_FILETYPE_PEM) == 1 else {
            // OpenSSL compares the key with the certificate as it loads it: say which pair does not match.
            let reason = Self.takeError()
            if reason == "key values mismatch" {
                throw TLSError("TLS key \(settings.keyPath) does not match the certificate \(settings.certificatePath): \(reason)")
            }
            throw TLSError("TLS key \(settings.keyPath): \(reason)")
        }
        guard SSL_CTX_check_private_key(context) == 1 else {
            throw TLSError("TLS key \(settings.keyPath) does not match the certificate \(settings.certificatePath): \(Self.takeError())")
        }
        for path in settings.clientCAPaths {
            guard swssl_ctx_add_client_ca_file(context, path) == 1 else {
                throw TLSError("TLS client CA file \(path): \(Self.takeError(orElse: "no certificate found"))")
            }
        }
        if requiresClientCertificate {
            SSL_CTX_set_verify(context, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nil)
        }
        // Needed for session resumption when client certificates are verified (else OpenSSL refuses to resume).
        let sessionContext = Array("swregistry".utf8)
        _ = SSL_CTX_set_session_id_context(context, sessionContext, UInt32(sessionContext.count))
        swssl_ctx_enable_alpn_http11(context)
    }

    deinit {
        SSL_CTX_free(context)
    }

    /// The oldest OpenSSL error of this thread as text, and clears the queue.
    static func takeError(orElse fallback: String = "unknown error") -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        swssl_take_error(&buffer, buffer.count)
        let text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return text.isEmpty ? fallback : text
    }

    /// Whether this kernel has TLS offload (`CONFIG_TLS`: the `tls` module loaded or built in): then file bodies
    /// go out with `SSL_sendfile` when the negotiated cipher allows it.
    static var kernelTLSAvailable: Bool {
        access("/proc/net/tls_stat", F_OK) == 0
    }
}
