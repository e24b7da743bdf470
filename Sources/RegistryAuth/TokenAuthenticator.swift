/// Bearer JWTs from a token server (distribution's `auth.token`): signature, issuer, audience and validity are
/// checked (`JWTVerifier`); the `access` claim becomes `Identity.grantedScopes` and `sub` the user.
///
/// A client sends the same token on every request until it expires: verified tokens are remembered, keyed by the
/// SHA-256 of the token, until their `exp`, in a bounded cache, so that a request pays one hash instead of a
/// signature check (and, for `x5c`, a chain verification). Refusals are never cached.
public struct TokenAuthenticator: Authenticator {
    public let realm: String
    public let service: String
    public let issuer: String
    let verifier: JWTVerifier
    let cache: VerificationCache<Identity>

    public init(realm: String, service: String, issuer: String, trust: TokenTrust, cacheCapacity: Int = 4096) {
        self.realm = realm
        self.service = service
        self.issuer = issuer
        self.verifier = JWTVerifier(trust: trust, issuer: issuer, audience: service)
        self.cache = VerificationCache(capacity: cacheCapacity)
    }

    public func authenticate(authorization: String?) -> AuthResult {
        guard let authorization, authorization.utf8.contains(where: { $0 != 0x20 && $0 != 0x09 && $0 != 0x0D }) else {
            return .anonymous
        }
        guard let (scheme, token) = Challenge.split(authorization: authorization) else {
            return .invalid(reason: "malformed Authorization header", user: nil)
        }
        guard Challenge.isScheme(scheme, "bearer") else { return .invalid(reason: "\(scheme.lowercased()) credentials sent to a Bearer realm", user: nil) }
        return authenticate(token: token, now: currentUnixTime())
    }

    /// At once when the header is no bearer token or the token was verified before (cached); nil when it needs a
    /// signature check.
    public func quickResult(authorization: String?) -> AuthResult? {
        guard let authorization, let (scheme, token) = Challenge.split(authorization: authorization),
              Challenge.isScheme(scheme, "bearer") else { return authenticate(authorization: authorization) }
        return cache.value(for: sha256(token.utf8), now: currentUnixTime()).map { .authenticated($0) }
    }

    /// Verifies a bearer token at time `now` (Unix seconds).
    public func authenticate(token: Substring, now: Int64) -> AuthResult {
        let key = sha256(token.utf8)
        if let identity = cache.value(for: key, now: now) { return .authenticated(identity) }
        switch verifier.verify(token, now: now) {
        case .failure(let error):
            return .invalid(reason: error.description, user: nil)
        case .success(let verified):
            guard let scopes = Self.scopes(verified.claims["access"]) else {
                return .invalid(reason: "token access claim is malformed", user: nil)
            }
            let subject = verified.claims["sub"]?.string
            let identity = Identity(user: subject?.isEmpty == false ? subject : nil, grantedScopes: scopes)
            cache.store(identity, for: key, expires: verified.expires, now: now)
            return .authenticated(identity)
        }
    }

    /// `Bearer realm="…",service="…",scope="a b"` (RFC 6750 §3; several scopes space-separated in one parameter, as
    /// distribution writes them), with `error="…"` when given (`insufficient_scope`, `invalid_token`).
    public func challenge(for scopes: [Scope], error: String?) -> String {
        Self.challenge(realm: realm, service: service, scopes: scopes, error: error)
    }

    public static func challenge(realm: String, service: String, scopes: [Scope], error: String?) -> String {
        var value = "Bearer realm=\(Challenge.quoted(realm)),service=\(Challenge.quoted(service))"
        if !scopes.isEmpty { value += ",scope=" + Challenge.quoted(scopes.map(\.description).joined(separator: " ")) }
        if let error { value += ",error=" + Challenge.quoted(error) }
        return value
    }

    /// The `access` claim: an array of `{type, name, actions}`; absent means no access. nil when malformed.
    static func scopes(_ access: JSON?) -> [Scope]? {
        guard let access, access != .null else { return [] }
        guard let entries = access.array else { return nil }
        var scopes: [Scope] = []
        for entry in entries {
            // Go token servers write an empty action list as `null`.
            guard let type = entry["type"]?.string, let name = entry["name"]?.string,
                  let actions = entry["actions"] == .null ? [] : entry["actions"]?.array else { return nil }
            let strings = actions.compactMap(\.string)
            guard strings.count == actions.count else { return nil }
            scopes.append(Scope(type: type, name: name, actions: strings))
        }
        return scopes
    }
}
