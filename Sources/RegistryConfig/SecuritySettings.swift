import RegistryAuth

/// The TLS, authentication, token-service, rate-limit and delete settings, typed, for the types that enforce them
/// (HTTPServer's `TLSSettings`, RegistryAuth's authenticators and `AccessPolicy`, Registry's `RegistrySecurity`).
/// Plain data: building those objects (which reads the files named here) happens in `swregistry`.
public struct SecuritySettings: Sendable, Equatable {
    public struct TLS: Sendable, Equatable {
        /// PEM chain, leaf first.
        public var certificatePath: String
        public var keyPath: String
        /// Non-empty: clients must present a certificate signed by one of these (mTLS).
        public var clientCAPaths: [String]
        public var minimumVersion: TLSMinimum
    }

    /// Oldest TLS version accepted, as `http.tls.minimumtls` spells it.
    public enum TLSMinimum: String, Sendable, Equatable, CaseIterable {
        case tls12 = "tls1.2"
        case tls13 = "tls1.3"
    }

    public struct Htpasswd: Sendable, Equatable {
        public var realm: String
        public var path: String
    }

    /// An external token server (Docker token protocol).
    public struct ExternalToken: Sendable, Equatable {
        public var realm: String
        public var service: String
        public var issuer: String
        public var rootCertBundlePath: String?
        public var jwksPath: String?
    }

    /// The built-in token service at `/token`.
    public struct TokenService: Sendable, Equatable {
        /// nil: `https://HOST/token` from each request's Host.
        public var realm: String?
        public var service: String
        public var issuer: String
        public var keyPath: String
        public var expirationSeconds: Double
    }

    public struct RateLimits: Sendable, Equatable {
        /// Failed authentications per minute per client address and per user name; 0 = no limit.
        public var failuresPerMinute: Int
        /// Requests per second per client address; 0 = no limit.
        public var requestsPerSecond: Int
    }

    public var tls: TLS?
    public var htpasswd: Htpasswd?
    public var token: ExternalToken?
    public var tokenService: TokenService?
    public var rateLimits: RateLimits
    public var deleteEnabled: Bool
    public var accessControl: AccessControlConfiguration?

    /// Some authentication is configured: anonymous requests then get only what a policy grants them.
    public var authenticationConfigured: Bool { htpasswd != nil || token != nil || tokenService != nil }
}
