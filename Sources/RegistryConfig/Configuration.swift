import RegistryAuth
import StoreMaintenance
import RegistryNotifications
import SystemIO

/// The effective configuration of `swregistry serve`: every key of `ConfigKey.all` with its value and where it
/// came from, merged as default ← file ← environment ← flags (a later source wins).
public struct Configuration: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        public var value: ConfigValue
        public var source: ConfigSource
    }

    /// Keys that have a value (their default or a given one), by path.
    public private(set) var entries: [String: Entry] = [:]
    /// zot-style policies, from the file only.
    public private(set) var accessControl: AccessControlConfiguration?
    public private(set) var accessControlSource: ConfigSource?
    /// `gc.retention`, from the file only.
    public private(set) var retention: [RetentionRule] = []
    public private(set) var retentionSource: ConfigSource?
    /// Event receivers (`notifications.endpoints`), from the file only.
    public private(set) var notificationEndpoints: [EndpointConfiguration] = []
    public private(set) var notificationEndpointsSource: ConfigSource?
    /// The file read, if any.
    public private(set) var filePath: String?

    /// The variable that names the configuration file when `--config` is absent.
    public static let fileVariable = "SWREGISTRY_CONFIG"

    /// Largest configuration file read (a mistake such as pointing at a blob must not load gigabytes).
    static let maxFileBytes = 4 * 1024 * 1024

    /// Reads the configuration.
    /// - Parameters:
    ///   - file: the YAML file to read, or nil for none.
    ///   - environment: the process environment (`SWREGISTRY_…` variables are read, others ignored).
    ///   - flags: the flags given on the command line, by name without dashes, in order.
    /// - Throws: `ConfigErrors` listing every malformed or unknown value, each with its key and source.
    public static func load(file: String?, environment: [String: String],
                            flags: [(name: String, value: String)] = []) throws(ConfigErrors) -> Configuration {
        var configuration = Configuration()
        var errors: [ConfigError] = []
        for key in ConfigKey.all {
            if let value = key.defaultValue { configuration.entries[key.path] = Entry(value: value, source: .defaultValue) }
        }
        if let file {
            configuration.filePath = file
            errors += configuration.readFile(file)
        }
        errors += configuration.readEnvironment(environment)
        for (name, text) in flags {
            guard let key = ConfigKey.byFlag[name] else {
                errors.append(ConfigError(key: name, source: .flag(name), problem: "not a flag of swregistry serve"))
                continue
            }
            errors += configuration.set(key, text: text, source: .flag(name))
        }
        configuration.applyAWSVariables(environment)
        if errors.isEmpty { errors += configuration.combinationErrors() + configuration.backendErrors() }
        guard errors.isEmpty else { throw ConfigErrors(errors) }
        return configuration
    }

    /// The file named by `--config`, else by `$SWREGISTRY_CONFIG`; nil for none.
    public static func filePath(flag: String?, environment: [String: String]) -> String? {
        if let flag { return flag }
        if let path = environment[fileVariable], !path.isEmpty { return path }
        return nil
    }

    mutating func set(_ key: ConfigKey, text: String, source: ConfigSource) -> [ConfigError] {
        switch key.kind.parse(text) {
        case .success(let value):
            entries[key.path] = Entry(value: value, source: source)
            return []
        case .failure(let problem):
            return [ConfigError(key: key.path, source: source, problem: problem.text, accepted: key.kind.accepted)]
        }
    }

    mutating func set(_ key: ConfigKey, value: ConfigValue, source: ConfigSource) {
        entries[key.path] = Entry(value: value, source: source)
    }

    mutating func setRetention(_ rules: [RetentionRule], source: ConfigSource) {
        retention = rules
        retentionSource = source
    }

    mutating func setNotificationEndpoints(_ value: [EndpointConfiguration], source: ConfigSource) {
        notificationEndpoints = value
        notificationEndpointsSource = source
    }

    mutating func setAccessControl(_ value: AccessControlConfiguration, source: ConfigSource) {
        accessControl = value
        accessControlSource = source
    }

    // MARK: typed reads (the table's kind decides which one applies to a key)

    public subscript(key: ConfigKey) -> ConfigValue? { entries[key.path]?.value }

    public func source(of key: ConfigKey) -> ConfigSource? { entries[key.path]?.source }

    public func string(_ key: ConfigKey) -> String? {
        if case .string(let text)? = self[key] { return text }
        return nil
    }

    public func int(_ key: ConfigKey) -> Int? {
        if case .int(let number)? = self[key] { return number }
        return nil
    }

    public func bool(_ key: ConfigKey) -> Bool? {
        if case .bool(let flag)? = self[key] { return flag }
        return nil
    }

    /// Seconds.
    public func duration(_ key: ConfigKey) -> Double? {
        if case .duration(let seconds)? = self[key] { return seconds }
        return nil
    }

    public func number(_ key: ConfigKey) -> Double? {
        if case .number(let number)? = self[key] { return number }
        return nil
    }

    public func list(_ key: ConfigKey) -> [String] {
        if case .list(let items)? = self[key] { return items }
        return []
    }

    /// Keys that only make sense together (a certificate needs its key; token verification needs a trust anchor).
    func combinationErrors() -> [ConfigError] {
        var errors: [ConfigError] = []
        func requires(_ key: ConfigKey, _ other: ConfigKey, _ why: String) {
            if let source = source(of: key), self[other] == nil {
                errors.append(ConfigError(key: key.path, source: source, problem: "needs \(other.path): \(why)"))
            }
        }
        requires(.tlsCertificate, .tlsKey, "the certificate's private key")
        requires(.tlsKey, .tlsCertificate, "the certificate the key belongs to")
        if !list(.tlsClientCAs).isEmpty, self[.tlsCertificate] == nil {
            errors.append(ConfigError(key: ConfigKey.tlsClientCAs.path, source: source(of: .tlsClientCAs)!,
                                      problem: "client certificates need TLS: set http.tls.certificate and http.tls.key"))
        }
        // A collection walks the whole store: back to back they would only load the disk and flood the log.
        if let source = source(of: .gcInterval), let interval = duration(.gcInterval), interval > 0, interval < 1 {
            errors.append(ConfigError(key: ConfigKey.gcInterval.path, source: source, problem: "under a second",
                                      accepted: "0 for no scheduled collection, or 1s or more"))
        }
        requires(.tokenRealm, .tokenService, "the audience tokens must name")
        requires(.tokenRealm, .tokenIssuer, "the issuer tokens must name")
        if let source = source(of: .tokenRealm), self[.tokenRootCertBundle] == nil, self[.tokenJWKS] == nil {
            errors.append(ConfigError(key: ConfigKey.tokenRealm.path, source: source,
                                      problem: "needs auth.token.rootcertbundle or auth.token.jwks to verify tokens"))
        }
        for key in [ConfigKey.tokenService, .tokenIssuer, .tokenRootCertBundle, .tokenJWKS] {
            if let source = source(of: key), self[.tokenRealm] == nil {
                errors.append(ConfigError(key: key.path, source: source, problem: "needs auth.token.realm (the token server's URL)"))
            }
        }
        if bool(.tokenServiceEnabled) == true {
            let source = source(of: .tokenServiceEnabled)!
            if self[.htpasswdPath] == nil {
                errors.append(ConfigError(key: ConfigKey.tokenServiceEnabled.path, source: source,
                                          problem: "the token service needs auth.htpasswd.path for its users"))
            }
            if self[.tokenRealm] != nil {
                errors.append(ConfigError(key: ConfigKey.tokenServiceEnabled.path, source: source,
                                          problem: "choose one token issuer: auth.token (external) or auth.tokenservice"))
            }
        }
        // Shorter tokens would expire in flight on a slow pull (the service would otherwise raise it silently).
        if let expiration = duration(.tokenServiceExpiration), expiration < 60,
           let source = source(of: .tokenServiceExpiration) {
            errors.append(ConfigError(key: ConfigKey.tokenServiceExpiration.path, source: source,
                                      problem: "\(expiration) seconds is too short", accepted: "a duration of at least 60s"))
        }
        return errors
    }
}
