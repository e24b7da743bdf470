import Glibc

/// The built-in token server of the Docker token protocol (`docker-registry/auth-token`, `auth-oauth`), without
/// HTTP: the caller hands over the method, query, form body and `Authorization` header of a `/token` request and
/// sends back the `Response`.
///
/// - `GET /token?service=&scope=&scope=&account=&offline_token=` with optional Basic credentials (anonymous is
///   allowed: the token then carries what `grant` gives an anonymous identity).
/// - `POST /token` (OAuth2 form): `grant_type=password` with `username`/`password`, or `grant_type=refresh_token`
///   with a refresh token this service issued; `client_id` (required by the spec), `scope` (space-separated),
///   `access_type=offline` for a refresh token in the answer.
///
/// The access token holds, for each requested resource, the requested actions that `grant` allows (the spec's
/// intersection; a partial grant is not an error). Refresh tokens are ES256 JWTs too, bound to the user (`sub`),
/// with their own audience (`<service>#refresh`) so that neither kind of token can be used as the other; a refresh
/// token stops working when its user leaves the htpasswd file.
public struct TokenService: Sendable {
    /// A complete answer: status, headers (JSON content type, no caching) and body.
    public struct Response: Sendable {
        public var status: Int
        public var headers: [(name: String, value: String)]
        public var body: [UInt8]
        /// What the request's credentials turned out to be, for the access log's user and the failed-authentication
        /// limiter (`.invalid` for a wrong password or refresh token).
        public var authentication: AuthResult
    }

    public let service: String
    public let signer: TokenSigner
    /// Access token lifetime in seconds (at least 60, as the spec asks).
    public let expiration: Int
    /// Refresh token lifetime in seconds.
    public let refreshExpiration: Int
    public let users: BasicAuthenticator?
    let grant: @Sendable (Identity, [Scope]) -> [Scope]
    let refreshVerifier: JWTVerifier

    /// Bodies larger than this are refused (a form of a few fields and scopes is well under a kilobyte).
    public static let maxFormBytes = 64 << 10

    /// - Parameters:
    ///   - users: who may log in (Basic or `grant_type=password`); nil when only anonymous tokens are given.
    ///   - grant: the policy: given who asks and the resources requested, the scopes allowed.
    public init(service: String, signer: TokenSigner, expiration: Int = 300, refreshExpiration: Int = 30 * 86_400,
                users: BasicAuthenticator?, grant: @escaping @Sendable (Identity, [Scope]) -> [Scope]) {
        self.service = service
        self.signer = signer
        self.expiration = max(60, expiration)
        self.refreshExpiration = max(60, refreshExpiration)
        self.users = users
        self.grant = grant
        self.refreshVerifier = JWTVerifier(trust: signer.trust, issuer: signer.issuer, audience: service + "#refresh")
    }

    /// Answers one `/token` request. `form` is the body of a POST (at most `maxFormBytes`).
    public func respond(method: String, query: [(name: String, value: String)], form: [UInt8]?,
                        authorization: String?, now: Int64? = nil) -> Response {
        let now = now ?? currentUnixTime()
        switch method {
        case "GET": return get(query: query, authorization: authorization, now: now)
        case "POST": return post(form: form ?? [], now: now)
        default:
            var response = Self.error(405, "unsupported_method", "use GET or POST", authentication: .anonymous)
            response.headers.append(("Allow", "GET, POST"))
            return response
        }
    }

    private func get(query: [(name: String, value: String)], authorization: String?, now: Int64) -> Response {
        var identity = Identity.anonymous
        var authentication = AuthResult.anonymous
        if let authorization, !authorization.trimmingWhitespace.isEmpty {
            authentication = users?.authenticate(authorization: authorization)
                ?? .invalid(reason: "no users are configured", user: nil)
            switch authentication {
            case .authenticated(let who): identity = who
            case .anonymous: break
            case .invalid: return unauthorized(authentication)
            }
        }
        let values = { (name: String) in query.filter { $0.name == name }.map(\.value) }
        guard let requestedService = values("service").first else {
            return Self.error(400, "invalid_request", "service parameter missing", authentication: authentication)
        }
        guard requestedService == service else {
            return Self.error(400, "invalid_request", "unknown service", authentication: authentication)
        }
        if let account = values("account").first, !account.isEmpty, let user = identity.user, account != user {
            return Self.error(400, "invalid_request", "account does not match the credentials",
                              authentication: authentication)
        }
        guard let requested = Self.parseScopes(values("scope").joined(separator: " ")) else {
            return Self.error(400, "invalid_scope", "malformed scope", authentication: authentication)
        }
        let offline = values("offline_token").first == "true"
        return issue(to: identity, requested: requested, refresh: offline ? .new : .none, oauth: false,
                     authentication: authentication, now: now)
    }

    private func post(form bytes: [UInt8], now: Int64) -> Response {
        guard bytes.count <= Self.maxFormBytes else {
            return Self.error(400, "invalid_request", "form larger than \(Self.maxFormBytes) bytes", authentication: .anonymous)
        }
        guard let form = FormDecoding.decode(bytes) else {
            return Self.error(400, "invalid_request", "malformed form", authentication: .anonymous)
        }
        var fields: [String: String] = [:]
        for (name, value) in form {
            guard fields.updateValue(value, forKey: name) == nil else {
                return Self.error(400, "invalid_request", "\(name) given twice", authentication: .anonymous)
            }
        }
        guard let requestedService = fields["service"] else {
            return Self.error(400, "invalid_request", "service missing", authentication: .anonymous)
        }
        guard requestedService == service else {
            return Self.error(400, "invalid_request", "unknown service", authentication: .anonymous)
        }
        guard let clientID = fields["client_id"], !clientID.isEmpty else {
            return Self.error(400, "invalid_request", "client_id missing", authentication: .anonymous)
        }
        guard let requested = Self.parseScopes(fields["scope"] ?? "") else {
            return Self.error(400, "invalid_scope", "malformed scope", authentication: .anonymous)
        }
        switch fields["grant_type"] {
        case "password":
            guard let username = fields["username"], let password = fields["password"] else {
                return Self.error(400, "invalid_request", "username or password missing", authentication: .anonymous)
            }
            let authentication = users?.check(user: username, password: password)
                ?? .invalid(reason: "no users are configured", user: username)
            guard case .authenticated(let identity) = authentication else { return unauthorized(authentication) }
            return issue(to: identity, requested: requested, refresh: fields["access_type"] == "offline" ? .new : .none,
                         oauth: true, authentication: authentication, now: now)
        case "refresh_token":
            guard let refreshToken = fields["refresh_token"] else {
                return Self.error(400, "invalid_request", "refresh_token missing", authentication: .anonymous)
            }
            let authentication = checkRefreshToken(refreshToken, now: now)
            guard case .authenticated(let identity) = authentication else { return unauthorized(authentication) }
            return issue(to: identity, requested: requested, refresh: .same(refreshToken), oauth: true,
                         authentication: authentication, now: now)
        case nil:
            return Self.error(400, "invalid_request", "grant_type missing", authentication: .anonymous)
        default:
            return Self.error(400, "unsupported_grant_type", "grant_type must be password or refresh_token",
                              authentication: .anonymous)
        }
    }

    /// A refresh token of ours, unexpired, whose user still exists with the password it had when the token was
    /// issued (a changed password revokes the refresh tokens its old one obtained).
    private func checkRefreshToken(_ token: String, now: Int64) -> AuthResult {
        switch refreshVerifier.verify(token[...], now: now) {
        case .failure(let error):
            return .invalid(reason: "refresh token: \(error)", user: nil)
        case .success(let verified):
            guard let user = verified.claims["sub"]?.string, !user.isEmpty else {
                return .invalid(reason: "refresh token without a subject", user: nil)
            }
            guard let entry = users?.users.hashes[user] else {
                return .invalid(reason: "refresh token of a user no longer in the htpasswd file", user: user)
            }
            guard verified.claims["pwd"]?.string == Self.passwordBinding(entry) else {
                return .invalid(reason: "refresh token issued before the user's password changed", user: user)
            }
            return .authenticated(Identity(user: user))
        }
    }

    private enum Refresh { case none, new, same(String) }

    /// What a refresh token records of its user's htpasswd entry: 128 bits of a SHA-256 of the bcrypt string,
    /// which says nothing usable about the password, and changes whenever the password does.
    static func passwordBinding(_ entry: String) -> String {
        Base64.encodeURL(Array(sha256(Array("swregistry refresh binding\u{0}\(entry)".utf8)).prefix(16)))
    }

    private func issue(to identity: Identity, requested: [Scope], refresh: Refresh, oauth: Bool,
                       authentication: AuthResult, now: Int64) -> Response {
        let granted = Self.intersect(granted: grant(identity, requested), requested: requested)
        var body: [String: JSON] = [
            "expires_in": .number(Double(expiration)),
            "issued_at": .string(Self.rfc3339(now)),
        ]
        do {
            let token = try signer.makeToken(subject: identity.user, audience: service, access: granted,
                                             lifetime: expiration, now: now)
            body["token"] = .string(token)
            body["access_token"] = .string(token)
            switch refresh {
            case .none: break
            case .same(let token): body["refresh_token"] = .string(token)
            case .new:
                // Only a user can be refreshed: an anonymous client just asks again.
                if let user = identity.user, let entry = users?.users.hashes[user] {
                    body["refresh_token"] = .string(try signer.sign([
                        "sub": .string(user), "aud": .string(service + "#refresh"),
                        "pwd": .string(Self.passwordBinding(entry)),
                        "exp": .number(Double(now + Int64(refreshExpiration))), "iat": .number(Double(now)),
                        "jti": .string(Base64.encodeURL(randomBytes(16))),
                    ]))
                }
            }
        } catch {
            return Self.error(500, "server_error", "token signing failed", authentication: authentication)
        }
        if oauth {
            // auth-oauth: `scope` is required in the answer, the granted scopes space-separated.
            body["scope"] = .string(granted.filter { !$0.actions.isEmpty }.map(\.description).joined(separator: " "))
        }
        return Response(status: 200, headers: Self.jsonHeaders, body: Array(JSON.object(body).serialized.utf8),
                        authentication: authentication)
    }

    private func unauthorized(_ authentication: AuthResult) -> Response {
        var response = Self.error(401, "UNAUTHORIZED", "authentication required", authentication: authentication)
        response.body = Array(#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#.utf8)
        response.headers.append(("WWW-Authenticate",
                                 users?.challenge(for: [], error: nil) ?? "Basic realm=\(Challenge.quoted(service))"))
        return response
    }

    /// RFC 6749 §5.1: token answers must not be cached.
    private static let jsonHeaders: [(name: String, value: String)] = [
        ("Content-Type", "application/json"), ("Cache-Control", "no-store"), ("Pragma", "no-cache"),
    ]

    /// An OAuth2-shaped error (RFC 6749 §5.2), which Docker clients print.
    private static func error(_ status: Int, _ code: String, _ message: String, authentication: AuthResult) -> Response {
        let body = JSON.object(["error": .string(code), "error_description": .string(message)])
        return Response(status: status, headers: jsonHeaders, body: Array(body.serialized.utf8),
                        authentication: authentication)
    }

    /// Space-separated scopes (several `scope` parameters joined); nil when one is malformed.
    static func parseScopes(_ text: String) -> [Scope]? {
        var scopes: [Scope] = []
        for item in text.split(whereSeparator: { $0 == " " }) {
            // A client asks for a handful (a push with mounts: three); thousands would only make a token the
            // verifier refuses (over 32 KiB) at a cost to the event loop.
            guard scopes.count < maxScopes, let scope = Scope(parsing: item) else { return nil }
            scopes.append(scope)
        }
        return scopes
    }

    /// Most scopes one token request may name; more is `400 invalid_scope`.
    public static let maxScopes = 64

    /// For each requested resource (repeated ones merged), the requested actions that `granted` allows for the same
    /// type and name (a granted `*` allows any; a requested `*` gets every action granted). Whatever the policy
    /// answers, a token never holds more than asked.
    static func intersect(granted: [Scope], requested: [Scope]) -> [Scope] {
        var allowed: [String: [String]] = [:]
        for scope in granted { allowed[scope.type + ":" + scope.name, default: []] += scope.actions }
        var order: [String] = []
        var wanted: [String: Scope] = [:]
        for scope in requested {
            let key = scope.type + ":" + scope.name
            if wanted[key] == nil { order.append(key) }
            wanted[key, default: Scope(type: scope.type, name: scope.name, actions: [])].actions += scope.actions
        }
        // Resources with nothing granted are left out: an empty entry says nothing and only makes the token longer.
        return order.compactMap { key in
            let scope = wanted[key]!
            let granted = allowed[key] ?? []
            var actions: [String] = []
            for action in scope.actions {
                // A requested `*` (`repository:team/app:*`) asks for everything: it gets what was granted.
                let kept = action == "*" ? (granted.contains("*") ? ["*"] : granted)
                    : (granted.contains(action) || granted.contains("*") ? [action] : [])
                for action in kept where !actions.contains(action) { actions.append(action) }
            }
            return actions.isEmpty ? nil : Scope(type: scope.type, name: scope.name, actions: actions)
        }
    }

    /// `2009-11-10T23:00:00Z`.
    static func rfc3339(_ time: Int64) -> String {
        var t = time_t(time)
        var parts = tm()
        gmtime_r(&t, &parts)
        func pad(_ n: Int32, _ width: Int) -> String {
            let s = String(n)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2))Z"
    }
}
