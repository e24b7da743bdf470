import HTTPServer
import Logging
import Registry
import RegistryAuth
import RegistryConfig
import SystemIO

// Where the configuration's security keys become the objects that enforce them: TLS settings for the engine, and
// the authenticators, policy, limits and token service for the registry (`RegistrySecurity`).
extension Serve {
    /// Builds and installs what enforces `configuration.security` before the server starts.
    /// - Throws: `ConfigErrors` naming each key this build cannot honour, or the `AuthError` of a file named (a bad
    ///   htpasswd line, an unreadable key or trust bundle).
    static func installSecurity(_ configuration: Configuration, server: inout ServerConfiguration,
                                registry: inout RegistryConfiguration, logger: Logger? = nil,
                                checkOnly: Bool = false) throws {
        let settings = configuration.security
        try installTLS(settings, &server)
        registry.security = try makeRegistrySecurity(settings, keeping: nil, logger: logger, checkOnly: checkOnly)
    }

    /// Re-reads what `installSecurity` built, on SIGHUP, after `configuration` was validated: the htpasswd file, the
    /// token trust, the signing key and the policy, swapped in at once; the failure counts of the rate limiter are
    /// kept when its limits did not change.
    /// - Throws: when the new settings cannot be applied; the caller logs it and keeps the running ones.
    static func reloadSecurity(_ configuration: Configuration, server: HTTPServer, responder: RegistryResponder,
                               logger: Logger? = nil) throws {
        let security = try makeRegistrySecurity(configuration.security, keeping: responder.security?.rateLimiter,
                                                logger: logger)
        // Certificates first: when they fail, nothing of the new configuration is in force.
        var engine = ServerConfiguration(address: server.localAddress)
        try installTLS(configuration.security, &engine)
        try server.reloadTLS(engine.tls)
        responder.updateSecurity(security)
    }

    /// Sets the engine's TLS from `http.tls.*` and reads its files, so that `config check` and a start with a bad
    /// certificate fail the same way.
    static func installTLS(_ settings: SecuritySettings, _ server: inout ServerConfiguration) throws {
        server.tls = settings.tls.map { tls in
            TLSSettings(certificatePath: tls.certificatePath, keyPath: tls.keyPath, clientCAPaths: tls.clientCAPaths,
                        minimumVersion: tls.minimumVersion == .tls13 ? .tls13 : .tls12)
        }
        try server.tls?.check()
    }

    /// The registry's security for `settings`; nil when nothing is asked for (the open registry keeps the path
    /// without any check).
    /// - Parameter running: the rate limiter in force, reused when its limits are unchanged so that a reload
    ///   forgives nobody.
    /// - Parameter checkOnly: for `config check`: a token-signing key that does not exist yet is not created.
    static func makeRegistrySecurity(_ settings: SecuritySettings, keeping running: RateLimiter?,
                                     logger: Logger?, checkOnly: Bool = false) throws -> RegistrySecurity? {
        let limits = settings.rateLimits
        let nothingAsked = !settings.authenticationConfigured && settings.accessControl == nil && settings.deleteEnabled
            && limits.requestsPerSecond == 0
        if nothingAsked { return nil }

        let users = try settings.htpasswd.map { htpasswd throws(AuthError) in
            let file = try HtpasswdFile(path: htpasswd.path)
            if let warning = file.warning { logger?.warning("\(warning)") }
            return file
        }
        let basic = settings.htpasswd.flatMap { htpasswd in users.map { BasicAuthenticator(realm: htpasswd.realm, users: $0) } }
        // Bearer first: a client that can do both then takes the token flow, and the 401 lists it first.
        var authenticators: [any Authenticator] = []
        if let token = settings.token {
            let trust = try TokenTrust(rootCertBundlePath: token.rootCertBundlePath, jwksPath: token.jwksPath)
            authenticators.append(TokenAuthenticator(realm: token.realm, service: token.service, issuer: token.issuer,
                                                     trust: trust))
        }
        // The policy before the token service, so that the service grants from the same snapshot.
        let policy = AccessPolicy(configuration: settings.accessControl,
                                  authenticationConfigured: settings.authenticationConfigured)
        var tokenHandler: TokenHandler?
        if let tokenService = settings.tokenService, !checkOnly || FileSystem.exists(tokenService.keyPath) {
            let signer = try TokenSigner(keyPath: tokenService.keyPath, issuer: tokenService.issuer)
            let service = TokenService(service: tokenService.service, signer: signer,
                                       expiration: Int(tokenService.expirationSeconds.rounded()), users: basic,
                                       grant: { identity, requested in policy.grant(identity, requested: requested) })
            let builtIn = BuiltInTokenService(service: service, realm: tokenService.realm,
                                              scheme: settings.tls == nil ? "http" : "https")
            authenticators.append(builtIn.authenticator)
            tokenHandler = builtIn.handler
        }
        let bearers = authenticators
        if let basic { authenticators.append(basic) }

        let limiter: RateLimiter?
        if limits.failuresPerMinute == 0 && limits.requestsPerSecond == 0 {
            limiter = nil
        } else if let running, running.failuresPerMinute == limits.failuresPerMinute,
                  running.requestsPerSecond == limits.requestsPerSecond {
            limiter = running
        } else {
            limiter = RateLimiter(failuresPerMinute: limits.failuresPerMinute, requestsPerSecond: limits.requestsPerSecond)
        }
        var security = RegistrySecurity(authenticators: authenticators, policy: policy, rateLimiter: limiter,
                                        deleteEnabled: settings.deleteEnabled, tokenService: tokenHandler)
        if !bearers.isEmpty { security.challengers = bearers }
        return security
    }
}
