import COpenSSL

/// A JWS algorithm this registry verifies, each bound to exactly one key type (RFC 8725 §2.1, §3.1: the key decides
/// the algorithm, so `alg: HS256` over an RSA public key or `RS256` over an EC key can never be accepted).
enum JWSAlgorithm: String, Sendable {
    case rs256 = "RS256", es256 = "ES256", edDSA = "EdDSA"

    var keyKind: PublicKey.Kind {
        switch self {
        case .rs256: .rsa
        case .es256: .p256
        case .edDSA: .ed25519
        }
    }
}

/// A public key that can check JWS signatures: RSA (≥ 2048 bits), EC P-256 or Ed25519, in a libcrypto `EVP_PKEY`.
/// Immutable after creation, so shared between threads (libcrypto allows concurrent verification with one key).
final class PublicKey: @unchecked Sendable {
    enum Kind: String, Sendable { case rsa = "RSA", p256 = "EC P-256", ed25519 = "Ed25519" }

    let pkey: OpaquePointer
    let kind: Kind
    /// The DER SubjectPublicKeyInfo: the key's identity for comparisons and key ids.
    let spki: [UInt8]

    /// Takes ownership of `pkey` (freed on failure too).
    init(taking pkey: OpaquePointer) throws(AuthError) {
        self.pkey = pkey
        switch EVP_PKEY_get_base_id(pkey) {
        case EVP_PKEY_RSA:
            let bits = EVP_PKEY_get_bits(pkey)
            guard bits >= 2048 else {
                EVP_PKEY_free(pkey)
                throw AuthError("RSA key of \(bits) bits: at least 2048 are required")
            }
            kind = .rsa
        case EVP_PKEY_EC:
            var name = [CChar](repeating: 0, count: 64)
            var length = 0
            guard EVP_PKEY_get_group_name(pkey, &name, name.count, &length) == 1,
                  String(decoding: name.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self) == "prime256v1" else {
                EVP_PKEY_free(pkey)
                throw AuthError("EC key on a curve other than P-256")
            }
            kind = .p256
        case EVP_PKEY_ED25519:
            kind = .ed25519
        default:
            EVP_PKEY_free(pkey)
            throw AuthError("unsupported key type: RSA, EC P-256 and Ed25519 are accepted")
        }
        var der: UnsafeMutablePointer<UInt8>?
        let length = i2d_PUBKEY(pkey, &der)
        guard length > 0, let der else {
            EVP_PKEY_free(pkey)
            throw AuthError("cannot encode a public key")
        }
        spki = Array(UnsafeBufferPointer(start: der, count: Int(length)))
        CRYPTO_free(der, #fileID, #line)
    }

    deinit { EVP_PKEY_free(pkey) }

    /// Reads a DER SubjectPublicKeyInfo.
    convenience init(spki: [UInt8]) throws(AuthError) {
        let pkey: OpaquePointer? = spki.withUnsafeBufferPointer { buffer in
            var cursor: UnsafePointer<UInt8>? = buffer.baseAddress
            return d2i_PUBKEY(nil, &cursor, buffer.count)
        }
        guard let pkey else { throw AuthError("not a DER public key") }
        try self.init(taking: pkey)
    }

    /// Reads a public JWK (RFC 7517/7518: `kty` RSA with `n`,`e`; EC with `crv` P-256, `x`, `y`; OKP with `crv`
    /// Ed25519, `x`) by building its SubjectPublicKeyInfo.
    convenience init(jwk: JSON) throws(AuthError) {
        func member(_ name: String) throws(AuthError) -> [UInt8] {
            guard let text = jwk[name]?.string, let bytes = Base64.decodeURL(text), !bytes.isEmpty else {
                throw AuthError("JWK member \"\(name)\" missing or not base64url")
            }
            return bytes
        }
        switch jwk["kty"]?.string {
        case "RSA":
            let key = DER.sequence([DER.integer(try member("n")), DER.integer(try member("e"))])
            try self.init(spki: DER.sequence([DER.rsaAlgorithm, DER.bitString(key)]))
        case "EC":
            guard jwk["crv"]?.string == "P-256" else { throw AuthError("EC JWK on a curve other than P-256") }
            let x = try member("x"), y = try member("y")
            guard x.count == 32, y.count == 32 else { throw AuthError("EC P-256 JWK coordinates are not 32 bytes") }
            try self.init(spki: DER.p256Prefix + [0x04] + x + y)
        case "OKP":
            guard jwk["crv"]?.string == "Ed25519" else { throw AuthError("OKP JWK on a curve other than Ed25519") }
            let x = try member("x")
            guard x.count == 32 else { throw AuthError("Ed25519 JWK key is not 32 bytes") }
            try self.init(spki: DER.ed25519Prefix + x)
        default:
            throw AuthError("JWK kty \(jwk["kty"]?.serialized ?? "missing"): RSA, EC and OKP are accepted")
        }
    }

    /// The required public members of the key's JWK (RFC 7638 §3.2), from which the thumbprint is computed.
    var jwkMembers: [String: JSON] {
        switch kind {
        case .rsa:
            return ["kty": .string("RSA"), "n": .string(Base64.encodeURL(bignum("n"))),
                    "e": .string(Base64.encodeURL(bignum("e")))]
        case .p256:
            // The SPKI of a P-256 key ends with the uncompressed point 04 || x || y.
            let point = spki.suffix(65)
            return ["kty": .string("EC"), "crv": .string("P-256"),
                    "x": .string(Base64.encodeURL(point.dropFirst().prefix(32))),
                    "y": .string(Base64.encodeURL(point.suffix(32)))]
        case .ed25519:
            return ["kty": .string("OKP"), "crv": .string("Ed25519"), "x": .string(Base64.encodeURL(spki.suffix(32)))]
        }
    }

    private func bignum(_ name: String) -> [UInt8] {
        var bn: OpaquePointer?
        guard EVP_PKEY_get_bn_param(pkey, name, &bn) == 1, let bn else { return [] }
        defer { BN_free(bn) }
        var bytes = [UInt8](repeating: 0, count: (Int(BN_num_bits(bn)) + 7) / 8)
        _ = BN_bn2bin(bn, &bytes)
        return bytes
    }

    /// RFC 7638 JWK thumbprint: base64url SHA-256 of the required members, sorted, no whitespace.
    var thumbprint: String { Base64.encodeURL(sha256(Array(JSON.object(jwkMembers).serialized.utf8))) }

    /// distribution's (libtrust's) key id: the first 240 bits of SHA-256 of the DER SubjectPublicKeyInfo, base32
    /// (RFC 4648, no padding), in 12 groups of 4 characters separated by `:`.
    var libtrustKeyID: String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
        let digest = sha256(spki).prefix(30)
        var chars: [Character] = []
        var buffer: UInt32 = 0, bits = 0
        for byte in digest {
            buffer = buffer << 8 | UInt32(byte)
            bits += 8
            while bits >= 5 {
                bits -= 5
                chars.append(alphabet[Int(buffer >> UInt32(bits) & 31)])
            }
        }
        return stride(from: 0, to: chars.count, by: 4).map { String(chars[$0..<min($0 + 4, chars.count)]) }
            .joined(separator: ":")
    }

    /// Checks a JWS signature over `input`. The algorithm must be the one of this key's type.
    func verify(_ algorithm: JWSAlgorithm, input: [UInt8], signature: [UInt8]) -> Bool {
        guard algorithm.keyKind == kind else { return false }
        var der = signature
        if algorithm == .es256 {
            // JOSE carries r || s, 32 bytes each (RFC 7518 §3.4); libcrypto wants the DER ECDSA-Sig-Value.
            guard signature.count == 64, let encoded = DER.ecdsaSignature(raw: signature) else { return false }
            der = encoded
        }
        if algorithm == .edDSA && signature.count != 64 { return false }
        guard let ctx = EVP_MD_CTX_new() else { return false }
        defer { EVP_MD_CTX_free(ctx) }
        // Ed25519 hashes internally: no digest is named, and only the one-shot call is allowed.
        let md = algorithm == .edDSA ? nil : EVP_sha256()
        guard EVP_DigestVerifyInit(ctx, nil, md, nil, pkey) == 1 else { ERR_clear_error(); return false }
        let ok = EVP_DigestVerify(ctx, der, der.count, input, input.count)
        ERR_clear_error()
        return ok == 1
    }
}
