/// htpasswd users over `Authorization: Basic` (RFC 7617).
///
/// A bcrypt check costs tens to hundreds of milliseconds of CPU by design, and a client sends the same credentials
/// on every request: successful checks are remembered for `cacheLifetime` seconds, keyed by a SHA-256 of the user,
/// the password and the entry's hash (so a changed entry never matches an old success), in a bounded cache.
/// Failures are never cached, so they always cost a full bcrypt check (which also slows guessing down).
public struct BasicAuthenticator: Authenticator {
    public let realm: String
    public let users: HtpasswdFile
    let cache: VerificationCache<Bool>
    let cacheLifetime: Int64
    /// Random per authenticator: the cache keys are fast hashes of passwords, and must be of no use outside this
    /// process (a memory dump would otherwise offer a SHA-256 instead of a bcrypt to attack).
    let cacheSalt = randomBytes(32)

    public init(realm: String, users: HtpasswdFile, cacheLifetime: Int = 60, cacheCapacity: Int = 4096) {
        self.realm = realm
        self.users = users
        self.cacheLifetime = Int64(cacheLifetime)
        self.cache = VerificationCache(capacity: cacheCapacity)
    }

    public func authenticate(authorization: String?) -> AuthResult {
        switch Self.credentials(authorization) {
        case .settled(let result): return result
        case .check(let user, let password): return check(user: user, password: password)
        }
    }

    /// At once when the header is no Basic credentials or these were checked recently (cached); nil when they cost
    /// a bcrypt.
    public func quickResult(authorization: String?) -> AuthResult? {
        switch Self.credentials(authorization) {
        case .settled(let result):
            return result
        case .check(let user, let password):
            guard let hash = users.hashes[user], cache.value(for: cacheKey(user, password, hash)) == true else { return nil }
            return .authenticated(Identity(user: user))
        }
    }

    /// What an `Authorization` header comes to before any password is checked.
    private enum Credentials {
        /// No credentials, or malformed ones: the result needs no check.
        case settled(AuthResult)
        case check(user: String, password: String)
    }

    private static func credentials(_ authorization: String?) -> Credentials {
        guard let authorization, authorization.utf8.contains(where: { $0 != 0x20 && $0 != 0x09 && $0 != 0x0D }) else {
            return .settled(.anonymous)
        }
        switch parse(authorization: authorization) {
        case .failure(let reason): return .settled(.invalid(reason: reason.description, user: nil))
        case .success(let (user, password)): return .check(user: user, password: password)
        }
    }

    private func cacheKey(_ user: String, _ password: String, _ hash: String) -> [UInt8] {
        sha256(fields: [cacheSalt, Array(user.utf8), Array(password.utf8), Array(hash.utf8)])
    }

    /// Checks a user name and password (the Basic header's, or an OAuth2 `grant_type=password` form's).
    public func check(user: String, password: String) -> AuthResult {
        guard let hash = users.hashes[user] else {
            _ = users.verify(user: user, password: password)  // the same cost as a known user
            return .invalid(reason: "unknown user", user: user)
        }
        let key = cacheKey(user, password, hash)
        if cache.value(for: key) == true { return .authenticated(Identity(user: user)) }
        guard HtpasswdFile.bcryptMatches(password: password, hash: hash) else {
            return .invalid(reason: "wrong password", user: user)
        }
        let now = currentUnixTime()
        cache.store(true, for: key, expires: now + cacheLifetime, now: now)
        return .authenticated(Identity(user: user))
    }

    public func challenge(for scopes: [Scope], error: String?) -> String {
        "Basic realm=\(Challenge.quoted(realm))"
    }

    /// The user and password of a `Basic` header: strict base64 of UTF-8 `user:password` (RFC 7617 §2).
    static func parse(authorization: String) -> Result<(String, String), AuthError> {
        guard let (scheme, credentials) = Challenge.split(authorization: authorization) else {
            return .failure(AuthError("malformed Authorization header"))
        }
        guard Challenge.isScheme(scheme, "basic") else { return .failure(AuthError("\(scheme.lowercased()) credentials sent to a Basic realm")) }
        guard let decoded = Base64.decodeStandard(credentials) else {
            return .failure(AuthError("Basic credentials are not valid base64"))
        }
        guard let text = String(validating: decoded, as: UTF8.self), let colon = text.firstIndex(of: ":") else {
            return .failure(AuthError("Basic credentials are not UTF-8 user:password"))
        }
        let user = String(text[..<colon])
        guard !user.isEmpty else { return .failure(AuthError("Basic credentials have an empty user name")) }
        return .success((user, String(text[text.index(after: colon)...])))
    }
}
