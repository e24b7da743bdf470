import HTTPServer
import Registry
import RegistryConfig

// The two functions in this file are where the TLS, authentication and policy types of issue 11 (built on other
// branches) are wired to the configuration. Until they are, a configuration that asks for any of them is refused
// with an error naming the key, rather than served without the protection it asked for.
extension Serve {
    /// Builds and installs what enforces `configuration.security` before the server starts.
    ///
    /// WIRING (lead, at merge of the tls/authcrypto/policy branches):
    /// - `server.tls = settings.tls.map { TLSSettings(certificatePath:, keyPath:, clientCAPaths:, minimumVersion:) }`
    ///   and `server.accessLog = !configuration.bool(.accessLogDisabled)!`;
    /// - `registry.security = try makeRegistrySecurity(settings)` with `BasicAuthenticator(realm:users:
    ///   HtpasswdFile(path:))`, `TokenAuthenticator(realm:service:issuer:trust: TokenTrust(rootCertBundlePath:jwksPath:))`,
    ///   `TokenSigner(keyPath:issuer:)` + `TokenService`, `AccessPolicy(configuration: settings.accessControl,
    ///   authenticationConfigured: settings.authenticationConfigured)`, `RateLimiter`, `deleteEnabled`;
    /// - then drop the corresponding entries of `unavailableSecurityKeys`.
    /// - Throws: `ConfigErrors` naming each key this build cannot honour, or (after wiring) the `AuthError`s of the
    ///   files named (a bad htpasswd line, an unreadable certificate).
    static func installSecurity(_ configuration: Configuration, server: inout ServerConfiguration,
                                registry: inout RegistryConfiguration) throws {
        let unavailable = unavailableSecurityKeys(configuration)
        guard unavailable.isEmpty else { throw ConfigErrors(unavailable) }
    }

    /// Re-reads what `installSecurity` built, on SIGHUP, after `configuration` was validated.
    ///
    /// WIRING (lead, at merge): rebuild the authenticators and policy from `configuration.security` (re-reading the
    /// htpasswd file, token trust and signing key) and `responder.updateSecurity(_:)`; then `try server.reloadTLS()`
    /// when `settings.tls` is set (it keeps the old context and throws when the new files are bad).
    /// - Throws: when the new settings cannot be applied; the caller logs it and keeps the running ones.
    static func reloadSecurity(_ configuration: Configuration, server: HTTPServer, responder: RegistryResponder) throws {
        let unavailable = unavailableSecurityKeys(configuration)
        guard unavailable.isEmpty else { throw ConfigErrors(unavailable) }
    }

    /// Security keys set to something this build does not enforce yet.
    static func unavailableSecurityKeys(_ configuration: Configuration) -> [ConfigError] {
        var errors: [ConfigError] = []
        func refuse(_ key: ConfigKey, _ what: String) {
            guard let source = configuration.source(of: key), source != .defaultValue else { return }
            errors.append(ConfigError(key: key.path, source: source, problem: "\(what) is not available in this build yet"))
        }
        refuse(.tlsCertificate, "TLS")
        refuse(.htpasswdPath, "htpasswd authentication")
        refuse(.tokenRealm, "bearer-token authentication")
        if configuration.bool(.tokenServiceEnabled) == true { refuse(.tokenServiceEnabled, "the built-in token service") }
        if configuration.bool(.deleteEnabled) == false { refuse(.deleteEnabled, "refusing DELETE") }
        if configuration.bool(.accessLogDisabled) == true { refuse(.accessLogDisabled, "turning the access log off") }
        if let source = configuration.accessControlSource {
            errors.append(ConfigError(key: ConfigKey.accessControlPath, source: source,
                                      problem: "access-control policies are not available in this build yet"))
        }
        return errors
    }
}
