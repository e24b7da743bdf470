import HTTPServer
import Logging
import Registry
import RegistryNotifications
import SystemIO

extension Configuration {
    public var logLevel: Logger.Level { Logger.Level(rawValue: string(.logLevel)!)! }

    public var logFormat: LogFormat { LogFormat(rawValue: string(.logFormatter)!)! }

    public var storagePath: String { string(.storageRoot)! }

    /// The engine's settings; what the table does not cover keeps `ServerConfiguration`'s own defaults.
    public func serverConfiguration() throws(AddressError) -> ServerConfiguration {
        var config = ServerConfiguration(address: try SocketAddress(parsing: string(.httpAddr)!))
        if let threads = int(.httpThreads) { config.eventLoopCount = threads }
        config.maxConnections = int(.httpMaxConnections)!
        config.headerTimeout = duration(.httpHeaderTimeout)!
        config.idleTimeout = duration(.httpIdleTimeout)!
        config.bodyTimeout = duration(.httpBodyTimeout)!
        config.minBodyRate = number(.httpMinBodyRate)!
        config.shutdownGrace = duration(.httpShutdownGrace)!
        config.parser.maxRequestLine = int(.httpMaxRequestLine)!
        config.parser.maxHeaderBytes = int(.httpMaxHeaderBytes)!
        config.parser.maxHeaderCount = int(.httpMaxHeaderCount)!
        return config
    }

    /// The registry's settings (security aside: see `security`).
    public func registryConfiguration() -> RegistryConfiguration {
        var config = RegistryConfiguration(storagePath: storagePath)
        // Whole seconds, rounded up so that a sub-second duration never becomes 0 (which would expire at once).
        config.uploadExpirySeconds = Int(duration(.uploadExpiry)!.rounded(.up))
        config.uploadIdleTimeoutSeconds = Int(duration(.uploadIdleTimeout)!.rounded(.up))
        config.maxOpenUploads = int(.uploadsMax)!
        config.maxUploadsPerClient = int(.uploadsMaxPerClient)
        config.maxManifestBytes = int(.maxManifestBytes)!
        config.catalogMaxEntries = int(.catalogMaxEntries)!
        return config
    }

    /// The typed security settings.
    public var security: SecuritySettings {
        var settings = SecuritySettings(
            rateLimits: .init(failuresPerMinute: int(.rateLimitFailures)!, requestsPerSecond: int(.rateLimitRequests)!),
            deleteEnabled: bool(.deleteEnabled)!, accessControl: accessControl)
        if let certificate = string(.tlsCertificate), let key = string(.tlsKey) {
            settings.tls = .init(certificatePath: certificate, keyPath: key, clientCAPaths: list(.tlsClientCAs),
                                 minimumVersion: SecuritySettings.TLSMinimum(rawValue: string(.tlsMinimum)!)!)
        }
        if let path = string(.htpasswdPath) {
            settings.htpasswd = .init(realm: string(.htpasswdRealm)!, path: path)
        }
        if let realm = string(.tokenRealm), let service = string(.tokenService), let issuer = string(.tokenIssuer) {
            settings.token = .init(realm: realm, service: service, issuer: issuer,
                                   rootCertBundlePath: string(.tokenRootCertBundle), jwksPath: string(.tokenJWKS))
        }
        if bool(.tokenServiceEnabled)! {
            settings.tokenService = .init(realm: string(.tokenServiceRealm), service: string(.tokenServiceService)!,
                                          issuer: string(.tokenServiceIssuer)!, keyPath: tokenServiceKeyPath,
                                          expirationSeconds: duration(.tokenServiceExpiration)!)
        }
        return settings
    }

    /// The token-signing key: as configured, else `token-key.pem` beside the storage folder (outside it, so that
    /// nothing in the store's tree is a secret).
    public var tokenServiceKeyPath: String {
        if let path = string(.tokenServiceKey) { return path }
        var root = storagePath
        while root.count > 1 && root.hasSuffix("/") { root.removeLast() }
        let parent = FileSystem.parent(of: root)
        return (parent == "/" ? "" : parent) + "/token-key.pem"
    }

    /// Where the events' queues live and how much they keep; the folder defaults to `_events` in the storage
    /// folder (beside `blobs` and `repositories`, on the same disk).
    public var notificationQueueSettings: NotificationQueueSettings {
        var root = storagePath
        while root.count > 1 && root.hasSuffix("/") { root.removeLast() }
        return NotificationQueueSettings(directory: string(.notificationsQueueDirectory) ?? root + "/_events",
                                         maxEvents: int(.notificationsQueueMaxEvents)!)
    }

    /// The keys whose values differ between `self` and `other`, in table order (accesscontrol and
    /// notifications.endpoints last).
    public func changedKeys(from other: Configuration) -> [String] {
        var changed = ConfigKey.all.filter { self[$0] != other[$0] }.map(\.path)
        if accessControl != other.accessControl { changed.append(ConfigKey.accessControlPath) }
        if notificationEndpoints != other.notificationEndpoints { changed.append(ConfigKey.notificationEndpointsPath) }
        return changed
    }
}
