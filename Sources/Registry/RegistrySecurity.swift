import HTTPServer
import RegistryAuth

/// Who may use the registry and how that is checked: the authenticators, the access policy, the abuse limits,
/// whether deletes are allowed, and the built-in token service. One immutable snapshot; a reload (SIGHUP) builds
/// a new one and hands it to `RegistryResponder.updateSecurity(_:)`, and each request reads the snapshot once.
public struct RegistrySecurity: Sendable {
    /// Checked in order; the first that accepts the credentials wins (Basic and Bearer can be offered side by
    /// side). A 401 carries the challenge of each.
    public var authenticators: [any Authenticator]
    /// The authenticators whose challenge a 401 carries; nil: all of them. With bearer tokens on, only the Bearer
    /// challenge is sent (as distribution does): several `WWW-Authenticate` fields are merged into one by many
    /// clients (Python's requests, hence oras-py), which then read the Basic realm as the token realm. Basic
    /// credentials sent anyway are still accepted.
    public var challengers: [any Authenticator]?
    public var policy: AccessPolicy
    /// Failed authentications and, optionally, requests per client; nil: no limits. A reload should pass the
    /// running limiter on so that a SIGHUP does not forgive anyone.
    public var rateLimiter: RateLimiter?
    /// `storage.delete.enabled`: when false, every DELETE answers 405 UNSUPPORTED: manifests, tags, blobs, and the
    /// cancelling of an upload session (which then expires by itself).
    public var deleteEnabled: Bool
    /// Answers `GET`/`POST /token` (the built-in token service); nil: `/token` is not found.
    public var tokenService: TokenHandler?

    /// - Parameters:
    ///   - policy: nil: the policy without an `accessControl` section (with authenticators, every authenticated
    ///     user may do everything and anonymous requests nothing; without, everything is open).
    public init(authenticators: [any Authenticator] = [], policy: AccessPolicy? = nil, rateLimiter: RateLimiter? = nil,
                deleteEnabled: Bool = true,
                tokenService: TokenHandler? = nil) {
        self.authenticators = authenticators
        self.policy = policy ?? AccessPolicy(configuration: nil, authenticationConfigured: !authenticators.isEmpty)
        self.rateLimiter = rateLimiter
        self.deleteEnabled = deleteEnabled
        self.tokenService = tokenService
    }

    /// The result of checking an `Authorization` header against every authenticator: the first acceptance, else
    /// the refusal that names a user (the authenticator of the scheme sent: the Bearer one refuses Basic
    /// credentials without reading them, and the per-user limit needs the name), else the first refusal, else
    /// anonymous (no authenticator recognised credentials in it).
    func authenticate(_ authorization: String?) -> AuthResult {
        combine(authenticators.lazy.map { $0.authenticate(authorization: authorization) })!
    }

    /// `authenticate`'s result when every authenticator has it at once (see `Authenticator.quickResult`); nil when
    /// one needs real work.
    func quickAuthenticate(_ authorization: String?) -> AuthResult? {
        combine(authenticators.lazy.map { $0.quickResult(authorization: authorization) })
    }

    /// The first acceptance, else the refusal naming a user, else the first refusal, else anonymous; nil as soon as
    /// a result is missing.
    private func combine(_ results: some Sequence<AuthResult?>) -> AuthResult? {
        var refusal: AuthResult?
        for result in results {
            guard let result else { return nil }
            switch result {
            case .authenticated: return result
            case .invalid(_, let user):
                if refusal == nil { refusal = result }
                if user != nil, case .invalid(_, nil)? = refusal { refusal = result }
            case .anonymous: continue
            }
        }
        return refusal ?? .anonymous
    }
}

/// The built-in token service's handler: the answer, and whose credentials it checked (for the abuse limits). It
/// runs its checks (a bcrypt, a signature) through `TokenWork`, which takes them off the event loop.
public typealias TokenHandler = @Sendable (Request, RequestBody, TokenWork) async -> TokenAnswer

/// Runs a token service's checks on the registry's authentication pool and returns their answer.
public typealias TokenWork = @Sendable (@escaping @Sendable () -> TokenService.Response) async -> TokenService.Response

public struct TokenAnswer: Sendable {
    public var response: Response
    /// `.invalid` with the claimed user for wrong credentials or a refused refresh token; `.authenticated` when a
    /// token was issued to a user; `.anonymous` otherwise (no credentials, a malformed request).
    public var outcome: AuthResult

    public init(_ response: Response, outcome: AuthResult) {
        self.response = response
        self.outcome = outcome
    }
}
