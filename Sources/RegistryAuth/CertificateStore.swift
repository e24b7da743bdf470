import COpenSSL

/// Trusted root certificates (an `X509_STORE`), against which a JWS `x5c` chain is verified. Built once, then only
/// read: libcrypto locks the store internally and each verification has its own `X509_STORE_CTX`.
final class CertificateStore: @unchecked Sendable {
    private let store: OpaquePointer
    /// The public keys of the roots, which distribution also trusts directly by `kid`.
    let rootKeys: [PublicKey]

    /// Reads every certificate of a PEM bundle. - Throws: `AuthError` when there is none or one does not parse.
    init(pem: [UInt8], source: String) throws(AuthError) {
        guard let store = X509_STORE_new() else { throw AuthError("\(source): out of memory") }
        self.store = store
        var certificates: [OpaquePointer] = []
        defer { certificates.forEach { X509_free($0) } }
        pem.withUnsafeBytes { raw in
            guard let bio = BIO_new_mem_buf(raw.baseAddress, Int32(raw.count)) else { return }
            defer { BIO_free(bio) }
            while let cert = PEM_read_bio_X509(bio, nil, nil, nil) { certificates.append(cert) }
        }
        // The loop ends on "no start line" once the bundle is exhausted: expected, not an error to leave queued.
        ERR_clear_error()
        let begins = pem.occurrences(of: Array("-----BEGIN CERTIFICATE-----".utf8))
        guard !certificates.isEmpty else {
            X509_STORE_free(store)
            throw AuthError("\(source): no PEM certificate found")
        }
        guard begins == certificates.count else {
            X509_STORE_free(store)
            throw AuthError("\(source): certificate \(certificates.count + 1) of \(begins) does not parse")
        }
        var keys: [PublicKey] = []
        for cert in certificates {
            X509_STORE_add_cert(store, cert)
            // A root with a key type we cannot verify JWS with still anchors chains; it is just not a `kid` key.
            if let pkey = X509_get_pubkey(cert), let key = try? PublicKey(taking: pkey) { keys.append(key) }
        }
        rootKeys = keys
    }

    deinit { X509_STORE_free(store) }

    /// Verifies an `x5c` chain (DER certificates, leaf first) up to one of the roots, at the current time.
    /// - Returns: the leaf's public key, or the reason it is not trusted.
    func verifiedLeafKey(chain: [[UInt8]]) -> Result<PublicKey, AuthError> {
        var parsed: [OpaquePointer] = []
        for der in chain {
            let cert: OpaquePointer? = der.withUnsafeBufferPointer { buffer in
                var cursor: UnsafePointer<UInt8>? = buffer.baseAddress
                return d2i_X509(nil, &cursor, buffer.count)
            }
            guard let cert else {
                parsed.forEach { X509_free($0) }
                ERR_clear_error()
                return .failure(AuthError("x5c certificate \(parsed.count + 1) does not parse"))
            }
            parsed.append(cert)
        }
        guard let leaf = parsed.first, let untrusted = swr_x509_stack_new() else {
            parsed.forEach { X509_free($0) }
            return .failure(AuthError("empty x5c chain"))
        }
        defer {
            X509_free(leaf)
            swr_x509_stack_free_all(untrusted)  // owns the intermediates
        }
        for cert in parsed.dropFirst() where swr_x509_stack_push(untrusted, cert) == 0 { X509_free(cert) }
        guard let ctx = X509_STORE_CTX_new() else { return .failure(AuthError("out of memory")) }
        defer { X509_STORE_CTX_free(ctx) }
        guard X509_STORE_CTX_init(ctx, store, leaf, untrusted) == 1 else {
            ERR_clear_error()
            return .failure(AuthError("x5c verification could not start"))
        }
        guard X509_verify_cert(ctx) == 1 else {
            let reason = String(cString: X509_verify_cert_error_string(Int(X509_STORE_CTX_get_error(ctx))))
            ERR_clear_error()
            return .failure(AuthError("x5c chain not trusted: \(reason)"))
        }
        guard let pkey = X509_get_pubkey(leaf) else { return .failure(AuthError("x5c leaf has no public key")) }
        do {
            return .success(try PublicKey(taking: pkey))
        } catch {
            return .failure(error)
        }
    }
}

extension Array where Element == UInt8 {
    /// How many times `needle` occurs (non-overlapping).
    func occurrences(of needle: [UInt8]) -> Int {
        guard !needle.isEmpty, count >= needle.count else { return 0 }
        var found = 0, i = 0
        while i + needle.count <= count {
            if self[i] == needle[0], self[i..<i + needle.count].elementsEqual(needle) {
                found += 1
                i += needle.count
            } else {
                i += 1
            }
        }
        return found
    }
}
