import SystemIO

/// What a bearer token's signature may be checked against (distribution's `auth.token.rootcertbundle` and
/// `auth.token.jwks`): root certificates anchoring a token's `x5c` chain, and keys found by the token's `kid`.
///
/// Each key answers to several ids: the `kid` its JWKS entry states, distribution's libtrust id of its
/// SubjectPublicKeyInfo, and its RFC 7638 thumbprint — token servers use each of these in the wild.
public struct TokenTrust: Sendable {
    let roots: CertificateStore?
    let keys: [String: PublicKey]

    /// Reads the root bundle and/or the JWKS file; at least one is needed.
    /// - Throws: `AuthError` naming the file when it cannot be read or holds nothing usable.
    public init(rootCertBundlePath: String?, jwksPath: String?) throws(AuthError) {
        guard rootCertBundlePath != nil || jwksPath != nil else {
            throw AuthError("token authentication needs a root certificate bundle or a JWKS file")
        }
        var roots: CertificateStore?
        var keys: [String: PublicKey] = [:]
        if let rootCertBundlePath {
            let store = try CertificateStore(pem: try Self.read(rootCertBundlePath), source: rootCertBundlePath)
            for key in store.rootKeys { Self.index(key, into: &keys) }
            roots = store
        }
        if let jwksPath {
            for (id, key) in try Self.parseJWKS(try Self.read(jwksPath), source: jwksPath) { keys[id] = key }
        }
        self.roots = roots
        self.keys = keys
    }

    /// Trusts the keys of a JWKS document (the built-in token service's `TokenSigner.publicJWKS`).
    public init(jwks: [UInt8], source: String = "JWKS") throws(AuthError) {
        roots = nil
        var keys: [String: PublicKey] = [:]
        for (id, key) in try Self.parseJWKS(jwks, source: source) { keys[id] = key }
        self.keys = keys
    }

    /// Trusts one key, under `keyID` and its thumbprint.
    init(key: PublicKey, keyID: String) {
        roots = nil
        keys = [keyID: key, key.thumbprint: key]
    }

    /// The trusted key ids (for logs and tests).
    public var keyIDs: [String] { keys.keys.sorted() }

    private static func read(_ path: String) throws(AuthError) -> [UInt8] {
        let bytes: [UInt8]?
        do {
            bytes = try FileSystem.read(path, maxBytes: 4 << 20)
        } catch {
            throw AuthError("\(path): \(error)")
        }
        guard let bytes else { throw AuthError("\(path): no such file") }
        return bytes
    }

    private static func index(_ key: PublicKey, into keys: inout [String: PublicKey]) {
        keys[key.libtrustKeyID] = key
        keys[key.thumbprint] = key
    }

    /// `{"keys":[JWK…]}` (RFC 7517 §5). Keys for encryption (`use: enc`) are skipped; any other key must parse.
    private static func parseJWKS(_ bytes: [UInt8], source: String) throws(AuthError) -> [(String, PublicKey)] {
        guard let document = JSON.parse(bytes), let list = document["keys"]?.array else {
            throw AuthError("\(source): not a JWKS document ({\"keys\":[…]})")
        }
        var out: [(String, PublicKey)] = []
        for (n, jwk) in list.enumerated() {
            guard jwk.isObject else { throw AuthError("\(source): key \(n + 1) is not a JSON object") }
            if jwk["use"]?.string == "enc" { continue }
            let key: PublicKey
            do {
                key = try PublicKey(jwk: jwk)
            } catch {
                throw AuthError("\(source): key \(n + 1): \(error)")
            }
            if let alg = jwk["alg"]?.string, JWSAlgorithm(rawValue: alg)?.keyKind != key.kind {
                throw AuthError("\(source): key \(n + 1): alg \(alg) does not fit a \(key.kind.rawValue) key")
            }
            if let kid = jwk["kid"]?.string { out.append((kid, key)) }
            out.append((key.libtrustKeyID, key))
            out.append((key.thumbprint, key))
        }
        guard !out.isEmpty else { throw AuthError("\(source): no signature key") }
        return out
    }
}
