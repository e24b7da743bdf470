/// Verifies a bearer JWT the way distribution's token access controller does (`docker-registry/auth-jwt`): a
/// trusted key (an `x5c` chain up to a root, a `kid` or an embedded `jwk` that is itself trusted), the algorithm that
/// key type signs with, and the `iss`, `aud`, `exp`, `nbf` and `iat` claims with some leeway for clock skew.
struct JWTVerifier: Sendable {
    let trust: TokenTrust
    let issuer: String
    let audience: String
    /// Seconds of clock skew tolerated on `exp`, `nbf` and `iat` (distribution uses 60).
    let leeway: Int64 = 60

    struct Verified {
        let claims: JSON
        let expires: Int64
    }

    func verify(_ token: Substring, now: Int64) -> Result<Verified, AuthError> {
        let jws: CompactJWS
        switch CompactJWS.parse(token) {
        case .success(let parsed): jws = parsed
        case .failure(let error): return .failure(error)
        }
        // RFC 7515 §4.1.11: a `crit` extension we do not understand makes the token invalid; we understand none.
        if jws.header["crit"] != nil { return .failure(AuthError("token has critical header extensions")) }
        guard let name = jws.header["alg"]?.string, let algorithm = JWSAlgorithm(rawValue: name) else {
            // Quoted and cut short: the header is the sender's text, and this reason goes to the log.
            let shown = jws.header["alg"].map { String($0.serialized.prefix(40)) } ?? "missing"
            return .failure(AuthError("token algorithm \(shown) is not accepted"))
        }
        let key: PublicKey
        switch signingKey(header: jws.header) {
        case .success(let found): key = found
        case .failure(let error): return .failure(error)
        }
        guard algorithm.keyKind == key.kind else {
            return .failure(AuthError("token algorithm \(name) does not fit its \(key.kind.rawValue) key"))
        }
        guard key.verify(algorithm, input: jws.signingInput, signature: jws.signature) else {
            return .failure(AuthError("bad token signature"))
        }
        return checkClaims(jws.claims, now: now)
    }

    private func signingKey(header: JSON) -> Result<PublicKey, AuthError> {
        if let x5c = header["x5c"] {
            guard let roots = trust.roots else { return .failure(AuthError("x5c token but no root bundle configured")) }
            guard let list = x5c.array, !list.isEmpty else { return .failure(AuthError("x5c is not a non-empty array")) }
            var chain: [[UInt8]] = []
            for item in list {
                // RFC 7515 §4.1.6: standard base64 (with padding), not base64url.
                guard let text = item.string, let der = Base64.decodeStandard(text) else {
                    return .failure(AuthError("x5c entry is not base64 DER"))
                }
                chain.append(der)
            }
            return roots.verifiedLeafKey(chain: chain)
        }
        if let jwk = header["jwk"] {
            // An embedded key proves nothing by itself: it must be one we already trust.
            guard jwk.isObject, let embedded = try? PublicKey(jwk: jwk) else {
                return .failure(AuthError("token jwk header is not a usable key"))
            }
            guard let trusted = trust.keys[embedded.libtrustKeyID], trusted.spki == embedded.spki else {
                return .failure(AuthError("token jwk is not a trusted key"))
            }
            return .success(trusted)
        }
        guard let kid = header["kid"]?.string else { return .failure(AuthError("token names no key (kid, x5c, jwk)")) }
        guard let key = trust.keys[kid] else { return .failure(AuthError("token kid is not a trusted key")) }
        return .success(key)
    }

    private func checkClaims(_ claims: JSON, now: Int64) -> Result<Verified, AuthError> {
        guard claims["iss"]?.string == issuer else { return .failure(AuthError("token issuer is not \(issuer)")) }
        let audiences: [String]
        switch claims["aud"] {
        case .string(let one)?: audiences = [one]
        case .array(let many)?: audiences = many.compactMap(\.string)
        default: audiences = []
        }
        guard audiences.contains(audience) else { return .failure(AuthError("token audience is not \(audience)")) }
        guard let exp = claims["exp"]?.number, exp.isFinite, abs(exp) < 1e15 else {
            return .failure(AuthError("token has no numeric exp"))
        }
        guard Double(now) < exp + Double(leeway) else { return .failure(AuthError("token expired")) }
        for (name, label) in [("nbf", "not valid yet"), ("iat", "issued in the future")] {
            guard let value = claims[name] else { continue }
            guard let time = value.number else { return .failure(AuthError("token \(name) is not a number")) }
            guard time <= Double(now + leeway) else { return .failure(AuthError("token \(label)")) }
        }
        return .success(Verified(claims: claims, expires: Int64(exp)))
    }
}
