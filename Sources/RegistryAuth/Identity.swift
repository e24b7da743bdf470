/// Who made a request, once its credentials were checked.
public struct Identity: Sendable, Hashable {
    /// The user name; nil for an anonymous request.
    public var user: String?
    /// For a bearer token: the access its `access` claim grants (the token server already decided). nil when the
    /// credentials say only who the user is (Basic), so the local policy alone decides.
    public var grantedScopes: [Scope]? {
        didSet { repositoryGrants = Self.repositoryGrants(grantedScopes) }
    }
    /// `grantedScopes` by repository name, made once (a verified token is cached, then checked on every request).
    public private(set) var repositoryGrants: [String: Set<Action>] = [:]
    /// The subject of a verified TLS client certificate (mTLS), for policies and logs.
    public var clientCertificateSubject: String?

    public init(user: String?, grantedScopes: [Scope]? = nil, clientCertificateSubject: String? = nil) {
        self.user = user
        self.grantedScopes = grantedScopes
        self.clientCertificateSubject = clientCertificateSubject
        repositoryGrants = Self.repositoryGrants(grantedScopes)
    }

    private static func repositoryGrants(_ scopes: [Scope]?) -> [String: Set<Action>] {
        var grants: [String: Set<Action>] = [:]
        for scope in scopes ?? [] where scope.type == "repository" {
            grants[scope.name, default: []].formUnion(scope.repositoryActions)
        }
        return grants
    }

    public static let anonymous = Identity(user: nil)
    public var isAnonymous: Bool { user == nil }
}

/// The outcome of checking a request's `Authorization` header.
public enum AuthResult: Sendable, Equatable {
    /// No credentials were sent.
    case anonymous
    /// The credentials are valid.
    case authenticated(Identity)
    /// Credentials were sent and are wrong (bad password, bad signature, expired token, …); the reason is for the
    /// log only, never for the client. `user` is the claimed user name when one could be read (rate limits).
    case invalid(reason: String, user: String?)
}

/// Checks credentials and words the challenge for one authentication scheme (htpasswd's Basic, bearer tokens).
/// Implementations are immutable snapshots: a reload builds a new one and swaps it in.
public protocol Authenticator: Sendable {
    /// Checks the value of the `Authorization` header (nil when absent). Must not block on I/O: it runs on an
    /// event loop (bcrypt is CPU work and is allowed; results may be cached).
    func authenticate(authorization: String?) -> AuthResult
    /// The `WWW-Authenticate` value of a 401 for a request that needs `scopes` (empty for `/v2/`).
    func challenge(for scopes: [Scope], error: String?) -> String
    /// The same for a request that named `host` (its `Host` header, already checked to be a plain host[:port]):
    /// for a challenge whose realm is this server itself. Defaults to `challenge(for:error:)`.
    func challenge(for scopes: [Scope], error: String?, host: String?) -> String
    /// The result of `authenticate(authorization:)` when it costs nothing (a cached result, or nothing to check);
    /// nil when it needs real work (a bcrypt, a signature check), which the caller then runs off its event loop.
    /// Defaults to `authenticate(authorization:)`.
    func quickResult(authorization: String?) -> AuthResult?
}

extension Authenticator {
    public func quickResult(authorization: String?) -> AuthResult? { authenticate(authorization: authorization) }

    public func challenge(for scopes: [Scope], error: String?, host: String?) -> String {
        challenge(for: scopes, error: error)
    }
}
