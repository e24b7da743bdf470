import COpenSSL

/// A private key that signs JWS (RS256, ES256, EdDSA): the built-in token service's ES256 key, and in tests the
/// keys of simulated external token servers.
final class SigningKey: @unchecked Sendable {
    let pkey: OpaquePointer
    let publicKey: PublicKey

    private init(taking pkey: OpaquePointer) throws(AuthError) {
        self.pkey = pkey
        var der: UnsafeMutablePointer<UInt8>?
        let length = i2d_PUBKEY(pkey, &der)
        guard length > 0, let der else {
            EVP_PKEY_free(pkey)
            throw AuthError("cannot encode the public half of a private key")
        }
        let spki = Array(UnsafeBufferPointer(start: der, count: Int(length)))
        CRYPTO_free(der, #fileID, #line)
        do {
            publicKey = try PublicKey(spki: spki)
        } catch {
            EVP_PKEY_free(pkey)
            throw error
        }
    }

    deinit { EVP_PKEY_free(pkey) }

    /// Reads a PEM private key (PKCS#8, or the traditional RSA/EC forms); unencrypted only.
    convenience init(pem: [UInt8]) throws(AuthError) {
        let pkey: OpaquePointer? = pem.withUnsafeBytes { raw in
            guard let bio = BIO_new_mem_buf(raw.baseAddress, Int32(raw.count)) else { return nil }
            defer { BIO_free(bio) }
            return PEM_read_bio_PrivateKey(bio, nil, nil, nil)
        }
        ERR_clear_error()
        guard let pkey else { throw AuthError("not an unencrypted PEM private key") }
        try self.init(taking: pkey)
    }

    /// A new EC P-256 key.
    static func generateP256() throws(AuthError) -> SigningKey {
        guard let pkey = swr_generate_p256_key() else { throw AuthError("EC P-256 key generation failed") }
        return try SigningKey(taking: pkey)
    }

    /// The key as unencrypted PKCS#8 PEM.
    var pem: [UInt8] {
        guard let bio = BIO_new(BIO_s_mem()) else { return [] }
        defer { BIO_free(bio) }
        guard PEM_write_bio_PrivateKey(bio, pkey, nil, nil, 0, nil, nil) == 1 else { return [] }
        var out = [UInt8](repeating: 0, count: Int(BIO_ctrl_pending(bio)))
        let n = out.withUnsafeMutableBytes { BIO_read(bio, $0.baseAddress, Int32($0.count)) }
        return Array(out.prefix(Int(max(n, 0))))
    }

    /// The JWS algorithm of this key's type.
    var algorithm: JWSAlgorithm {
        switch publicKey.kind {
        case .rsa: .rs256
        case .p256: .es256
        case .ed25519: .edDSA
        }
    }

    /// Signs `input` the JOSE way (ES256 as r || s).
    func sign(_ input: [UInt8]) throws(AuthError) -> [UInt8] {
        guard let ctx = EVP_MD_CTX_new() else { throw AuthError("out of memory") }
        defer { EVP_MD_CTX_free(ctx) }
        let md = algorithm == .edDSA ? nil : EVP_sha256()
        var length = 0
        guard EVP_DigestSignInit(ctx, nil, md, nil, pkey) == 1,
              EVP_DigestSign(ctx, nil, &length, input, input.count) == 1 else {
            ERR_clear_error()
            throw AuthError("signing failed")
        }
        var signature = [UInt8](repeating: 0, count: length)
        guard EVP_DigestSign(ctx, &signature, &length, input, input.count) == 1 else {
            ERR_clear_error()
            throw AuthError("signing failed")
        }
        signature.removeLast(signature.count - length)
        guard algorithm == .es256 else { return signature }
        guard let raw = DER.rawSignature(der: signature, size: 32) else { throw AuthError("bad ECDSA signature") }
        return raw
    }
}
