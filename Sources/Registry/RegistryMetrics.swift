import Metrics

/// The registry's own figures (the manifest response cache, refused authentications), recorded through
/// swift-metrics: whatever backend `serve` bootstrapped exports them; with none (tests, other commands) they cost
/// a call into a no-op handler. Every handle is made once, here: making one takes the backend's lock.
final class RegistryMetrics: Sendable {
    /// Manifest `GET`/`HEAD` answered from `ResponseCache` (counted where a cached answer is sent).
    let manifestCacheHits: Counter
    /// Manifest `GET`/`HEAD` that had to read the store (counted in `getManifest`).
    let manifestCacheMisses: Counter
    /// By `AuthenticationFailure.rawValue`.
    private let authenticationFailures: [Counter]

    init(factory: any MetricsFactory) {
        manifestCacheHits = Counter(label: "swregistry_manifest_cache_hits_total", factory: factory)
        manifestCacheMisses = Counter(label: "swregistry_manifest_cache_misses_total", factory: factory)
        authenticationFailures = AuthenticationFailure.allCases.map { reason in
            Counter(label: "swregistry_auth_failures_total", dimensions: [("reason", reason.label)], factory: factory)
        }
    }

    func authenticationFailed(_ reason: AuthenticationFailure) {
        authenticationFailures[reason.rawValue].increment()
    }
}

/// Why a request was refused by the access check, as `swregistry_auth_failures_total{reason}` counts it (a fixed
/// set of labels: never the client's text). A request without credentials that gets the 401 challenge is not a
/// failure: every client starts that way.
enum AuthenticationFailure: Int, CaseIterable, Sendable {
    /// Basic credentials refused (unknown user, wrong password).
    case badCredentials
    /// A bearer token (or any other scheme) refused: bad signature, expired, wrong audience.
    case badToken
    /// `/token` refused the credentials or refresh token it was given.
    case tokenRefused
    /// 429: too many failed authentications from the address or for the user.
    case rateLimited
    /// A valid token without the scope the request needs (401 `insufficient_scope`).
    case insufficientScope
    /// Valid credentials that the policy does not allow this (403 DENIED).
    case denied

    var label: String {
        switch self {
        case .badCredentials: "bad_credentials"
        case .badToken: "bad_token"
        case .tokenRefused: "token_refused"
        case .rateLimited: "rate_limited"
        case .insufficientScope: "insufficient_scope"
        case .denied: "denied"
        }
    }

    /// The failure for credentials in `authorization` that no authenticator accepted.
    static func invalid(_ authorization: String) -> AuthenticationFailure {
        authorization.utf8.count >= 6 && authorization.prefix(6).lowercased() == "basic " ? .badCredentials : .badToken
    }
}
