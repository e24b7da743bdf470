import Glibc
import HTTPServer
import Registry
import RegistryNotifications
import SystemIO

/// The one table of configuration keys. Defaults that the engine or the registry also use come from
/// `ServerConfiguration` / `RegistryConfiguration` themselves, so each default is written once.
extension ConfigKey {
    private static let server = ServerConfiguration(address: SocketAddress(storage: sockaddr_storage(), length: 0))
    private static let registry = RegistryConfiguration(storagePath: "")
    private static let positive = 1...Int.max
    private static let counts = 0...Int.max

    // MARK: version and log
    public static let version = ConfigKey("version", .choice(["0.1"]), .string("0.1"),
        help: "Version of the file format (distribution's).")
    public static let logLevel = ConfigKey("log.level",
        .choice(["trace", "debug", "info", "notice", "warning", "error", "critical"], aliases: ["warn": "warning"]),
        .string("info"), reloadable: true, flag: "log-level",
        help: "Least severity logged; info logs one access-log line per request.")
    public static let accessLogDisabled = ConfigKey("log.accesslog.disabled", .bool, .bool(false),
        help: "No access-log line per request.")
    public static let logFormatter = ConfigKey("log.formatter", .choice(LogFormat.allCases.map(\.rawValue)),
        .string(LogFormat.text.rawValue), flag: "log-formatter",
        help: "Log lines as logfmt (text) or one JSON object per line (json), the access log included.")

    // MARK: http
    public static let httpAddr = ConfigKey("http.addr", .address, .string("127.0.0.1:5000"),
        variable: "SWREGISTRY_ADDRESS", flag: "address", help: "Address to listen on, host:port.")
    public static let httpThreads = ConfigKey("http.threads", .int(1...256), nil, defaultText: "one per core",
        variable: "SWREGISTRY_THREADS", flag: "threads", help: "Event-loop threads.")
    public static let httpMaxConnections = ConfigKey("http.maxconnections", .int(positive), .int(server.maxConnections),
        variable: "SWREGISTRY_MAX_CONNECTIONS", flag: "max-connections",
        help: "Most open connections; more get 503 UNAVAILABLE with Retry-After: 1 and are closed.")
    public static let httpHeaderTimeout = ConfigKey("http.headertimeout", .duration(allowZero: false),
        .duration(server.headerTimeout), variable: "SWREGISTRY_HEADER_TIMEOUT", flag: "header-timeout",
        help: "Time for a whole request header section to arrive, from accept or a later request's first byte.")
    public static let httpIdleTimeout = ConfigKey("http.idletimeout", .duration(allowZero: false),
        .duration(server.idleTimeout), variable: "SWREGISTRY_IDLE_TIMEOUT", flag: "idle-timeout",
        help: "Time an idle keep-alive connection stays open.")
    public static let httpBodyTimeout = ConfigKey("http.bodytimeout", .duration(allowZero: false),
        .duration(server.bodyTimeout), variable: "SWREGISTRY_BODY_TIMEOUT", flag: "body-timeout",
        help: "Time a request body may make no progress.")
    public static let httpMinBodyRate = ConfigKey("http.minbodyrate", .number(0...Double.infinity),
        .number(server.minBodyRate), variable: "SWREGISTRY_MIN_BODY_RATE", flag: "min-body-rate",
        help: "Least average request-body rate in bytes/s after the body timeout's grace (slower: 408); 0 for none.")
    public static let httpShutdownGrace = ConfigKey("http.shutdowngrace", .duration(allowZero: true),
        .duration(server.shutdownGrace), variable: "SWREGISTRY_SHUTDOWN_GRACE", flag: "shutdown-grace",
        help: "Time in-flight requests get to finish on SIGTERM or SIGINT.")
    public static let httpMaxRequestLine = ConfigKey("http.maxrequestline", .bytes(positive),
        .int(server.parser.maxRequestLine), variable: "SWREGISTRY_MAX_REQUEST_LINE", flag: "max-request-line",
        help: "Longest request line (longer: 414).")
    public static let httpMaxHeaderBytes = ConfigKey("http.maxheaderbytes", .bytes(positive),
        .int(server.parser.maxHeaderBytes), variable: "SWREGISTRY_MAX_HEADER_BYTES", flag: "max-header-bytes",
        help: "Largest header section (larger: 431).")
    public static let httpMaxHeaderCount = ConfigKey("http.maxheadercount", .int(positive),
        .int(server.parser.maxHeaderCount), variable: "SWREGISTRY_MAX_HEADER_COUNT", flag: "max-header-count",
        help: "Most header fields in a request (more: 431).")
    public static let tlsCertificate = ConfigKey("http.tls.certificate", .string, nil, defaultText: "plain HTTP",
        reloadable: true, help: "PEM certificate chain, leaf first; with http.tls.key, serve HTTPS.")
    public static let tlsKey = ConfigKey("http.tls.key", .string, nil, reloadable: true,
        help: "PEM private key of the certificate (the path is shown, never the key).")
    public static let tlsClientCAs = ConfigKey("http.tls.clientcas", .pathList, .list([]), reloadable: true,
        help: "PEM CA bundles; when set, clients must present a certificate they signed (mTLS).")
    public static let tlsMinimum = ConfigKey("http.tls.minimumtls", .choice(SecuritySettings.TLSMinimum.allCases.map(\.rawValue)), .string("tls1.2"),
        reloadable: true, help: "Oldest TLS version accepted.")
    public static let httpDebugAddr = ConfigKey("http.debug.addr", .address, nil, defaultText: "off",
        flag: "debug-address",
        help: "Second plain-HTTP listener serving only /metrics, /healthz and /readyz, without authentication: bind it to loopback or a cluster-internal address.")

    // MARK: storage and catalog
    public static let storageRoot = ConfigKey("storage.filesystem.rootdirectory", .string, .string("./registry-data"),
        variable: "SWREGISTRY_STORAGE", flag: "storage", help: "Folder where the registry stores its data.")
    public static let deleteEnabled = ConfigKey("storage.delete.enabled", .bool, .bool(true), reloadable: true,
        help: "false: every DELETE answers 405 UNSUPPORTED.")
    public static let uploadExpiry = ConfigKey("storage.uploads.expiry", .duration(allowZero: false),
        .duration(Double(registry.uploadExpirySeconds)), variable: "SWREGISTRY_UPLOAD_EXPIRY", flag: "upload-expiry",
        help: "An upload session is deleted this long after its start, however active.")
    public static let uploadIdleTimeout = ConfigKey("storage.uploads.idletimeout", .duration(allowZero: false),
        .duration(Double(registry.uploadIdleTimeoutSeconds)), variable: "SWREGISTRY_UPLOAD_IDLE_TIMEOUT",
        flag: "upload-idle-timeout", help: "An upload session that receives no byte this long is deleted.")
    public static let uploadsMax = ConfigKey("storage.uploads.max", .int(positive), .int(registry.maxOpenUploads),
        variable: "SWREGISTRY_MAX_UPLOADS", flag: "max-uploads",
        help: "Most upload sessions open at once (more: 429 TOOMANYREQUESTS).")
    public static let uploadsMaxPerClient = ConfigKey("storage.uploads.maxperclient", .int(positive), nil,
        defaultText: "a tenth of storage.uploads.max, at least 1", variable: "SWREGISTRY_MAX_UPLOADS_PER_CLIENT",
        flag: "max-uploads-per-client",
        help: "Most upload sessions open at once per client address (an IPv6 client by its /64).")
    public static let maxManifestBytes = ConfigKey("storage.maxmanifestbytes", .bytes(positive),
        .int(registry.maxManifestBytes), variable: "SWREGISTRY_MAX_MANIFEST_BYTES", flag: "max-manifest-bytes",
        help: "Largest manifest accepted (larger: 413).")
    // MARK: storage.s3 and storage.redirect (distribution's names and defaults; see `S3StorageSettings`)
    public static let s3RegionEndpoint = ConfigKey("storage.s3.regionendpoint", .endpoint, nil,
        defaultText: "AWS: https://s3.REGION.amazonaws.com",
        help: "Base URL of the S3-compatible service (Ceph RGW, MinIO); setting any storage.s3 key stores blobs in S3.")
    public static let s3Region = ConfigKey("storage.s3.region", .string, nil, defaultText: "$AWS_REGION",
        help: "The region requests are signed for (SigV4); RGW answers to any, conventionally us-east-1.")
    public static let s3Bucket = ConfigKey("storage.s3.bucket", .string, nil, defaultText: "none: required with S3",
        help: "The bucket that holds the blobs and the data of uploads in progress; it must exist.")
    public static let s3AccessKey = ConfigKey("storage.s3.accesskey", .string, nil, defaultText: "$AWS_ACCESS_KEY_ID",
        help: "The access key id (an identifier, printed).")
    public static let s3SecretKey = ConfigKey("storage.s3.secretkey", .string, nil, defaultText: "$AWS_SECRET_ACCESS_KEY",
        secret: true, help: "The secret access key (never printed).")
    public static let s3RootDirectory = ConfigKey("storage.s3.rootdirectory", .string, .string(""),
        defaultText: "the bucket's top",
        help: "Prefix of every object the registry writes in the bucket (several registries may share one bucket).")
    public static let s3ForcePathStyle = ConfigKey("storage.s3.forcepathstyle", .bool, .bool(false),
        help: "Address the bucket in the path (http://host/bucket/key) instead of the host name; RGW and MinIO need true.")
    public static let s3ChunkSize = ConfigKey("storage.s3.chunksize", .bytes(S3StorageSettings.minChunkSize...S3StorageSettings.maxChunkSize),
        .int(S3StorageSettings.defaultChunkSize),
        help: "Size of the parts of an upload (S3 multipart); smaller request bodies are buffered until a part is full.")
    public static let redirectDisable = ConfigKey("storage.redirect.disable", .bool, .bool(false),
        help: "true: blob GETs are streamed through the registry; false: with S3, answered with 307 to a presigned URL.")

    // MARK: database (GitLab container registry's names; see `DatabaseSettings`)
    public static let databaseEnabled = ConfigKey("database.enabled", .bool, .bool(false),
        help: "Keep the metadata (repositories, tags, manifests, links, uploads) in PostgreSQL; needs storage.s3.")
    public static let databaseHost = ConfigKey("database.host", .string, nil, defaultText: "none: required with the database",
        help: "Host name, address or Unix-socket folder of the PostgreSQL server.")
    public static let databasePort = ConfigKey("database.port", .int(1...65535), .int(5432), help: "Port of the PostgreSQL server.")
    public static let databaseUser = ConfigKey("database.user", .string, nil, defaultText: "none: required with the database",
        help: "The role the registry connects as.")
    public static let databasePassword = ConfigKey("database.password", .string, nil, defaultText: "none (~/.pgpass, peer or trust)",
        secret: true, help: "The role's password (never printed).")
    public static let databaseName = ConfigKey("database.dbname", .string, nil, defaultText: "none: required with the database",
        help: "The database; `swregistry migrate` creates the tables in it.")
    public static let databaseSSLMode = ConfigKey("database.sslmode", .choice(DatabaseSettings.sslModes), .string("prefer"),
        help: "libpq's sslmode: disable, allow, prefer, require, verify-ca or verify-full.")
    public static let databaseConnectTimeout = ConfigKey("database.connecttimeout", .duration(allowZero: false), .duration(5),
        help: "Longest wait for a connection to open (whole seconds, rounded up); a slower server counts as unreachable.")
    public static let databaseStatementTimeout = ConfigKey("database.statementtimeout", .duration(allowZero: false),
        .duration(30), help: "Longest a statement may run (the server's statement_timeout); 5 s more without an "
            + "answer and the server counts as gone: the request gets 503 UNAVAILABLE and the connection is dropped.")
    public static let databasePoolMaxIdle = ConfigKey("database.pool.maxidle", .int(counts), .int(4),
        help: "Idle connections kept open per replica; at most database.pool.maxopen (more stay up to 10 s after a burst).")
    public static let databasePoolMaxOpen = ConfigKey("database.pool.maxopen", .int(1...1000), .int(16),
        help: "Most connections open at once per replica (more requests wait for one).")
    public static let databasePoolMaxLifetime = ConfigKey("database.pool.maxlifetime", .duration(allowZero: true), .duration(3600),
        help: "A connection older than this is closed when returned to the pool (whole seconds); 0 = kept forever.")

    public static let catalogMaxEntries = ConfigKey("catalog.maxentries", .int(positive),
        .int(registry.catalogMaxEntries), variable: "SWREGISTRY_CATALOG_MAX_ENTRIES", flag: "catalog-max-entries",
        help: "Largest /v2/_catalog page; a larger n gets 400 PAGINATION_NUMBER_INVALID.")
    public static let metricsEnabled = ConfigKey("metrics.enabled", .bool, .bool(true), flag: "metrics-enabled",
        help: "Prometheus metrics on /metrics (under the access policy when authentication is on) and on http.debug.addr.")

    // MARK: auth
    public static let htpasswdRealm = ConfigKey("auth.htpasswd.realm", .string, .string("swregistry"), reloadable: true,
        help: "Realm of the Basic challenge.")
    public static let htpasswdPath = ConfigKey("auth.htpasswd.path", .string, nil, defaultText: "no htpasswd",
        reloadable: true, help: "htpasswd file of bcrypt entries; turns Basic authentication on.")
    public static let tokenRealm = ConfigKey("auth.token.realm", .url, nil, defaultText: "no external token server",
        reloadable: true, help: "URL of the external token server; turns bearer-token authentication on.")
    public static let tokenService = ConfigKey("auth.token.service", .string, nil, reloadable: true,
        help: "The tokens' audience (aud), as the token server names this registry.")
    public static let tokenIssuer = ConfigKey("auth.token.issuer", .string, nil, reloadable: true,
        help: "The tokens' issuer (iss).")
    public static let tokenRootCertBundle = ConfigKey("auth.token.rootcertbundle", .string, nil, reloadable: true,
        help: "PEM certificates whose keys (or x5c chains) may sign tokens.")
    public static let tokenJWKS = ConfigKey("auth.token.jwks", .string, nil, reloadable: true,
        help: "JWKS file of the keys that may sign tokens.")
    public static let tokenServiceEnabled = ConfigKey("auth.tokenservice.enabled", .bool, .bool(false), reloadable: true,
        help: "Serve the built-in token service at /token (users from auth.htpasswd).")
    public static let tokenServiceRealm = ConfigKey("auth.tokenservice.realm", .url, nil,
        defaultText: "https://HOST/token (http:// without TLS) from the request's Host", reloadable: true,
        help: "Realm announced in the Bearer challenge.")
    public static let tokenServiceService = ConfigKey("auth.tokenservice.service", .string, .string("swregistry"),
        reloadable: true, help: "Service (audience) of the tokens issued.")
    public static let tokenServiceIssuer = ConfigKey("auth.tokenservice.issuer", .string, .string("swregistry"),
        reloadable: true, help: "Issuer of the tokens issued.")
    public static let tokenServiceKey = ConfigKey("auth.tokenservice.key", .string, nil,
        defaultText: "token-key.pem beside the storage folder", reloadable: true,
        help: "ES256 private key signing the tokens; created 0600 when absent.")
    public static let tokenServiceExpiration = ConfigKey("auth.tokenservice.expiration", .duration(allowZero: false),
        .duration(300), reloadable: true, help: "Lifetime of the tokens issued.")
    public static let rateLimitFailures = ConfigKey("auth.ratelimit.failures", .int(counts), .int(10), reloadable: true,
        help: "Failed authentications per minute per client address and per user name before 429; 0 = off.")
    public static let rateLimitRequests = ConfigKey("auth.ratelimit.requests", .int(counts), .int(0), reloadable: true,
        help: "Requests per second per client address before 429; 0 = off.")

    // MARK: notifications (the endpoints are a structured section: see `notificationEndpointsPath`)
    public static let notificationsQueueDirectory = ConfigKey("notifications.queue.directory", .string, nil,
        defaultText: "_events in the storage folder",
        help: "Folder of the events' queues on disk, one folder per endpoint (created 0700).")
    public static let notificationsQueueMaxEvents = ConfigKey("notifications.queue.maxevents", .int(positive),
        .int(NotificationQueueSettings.defaultMaxEvents),
        help: "Events kept per endpoint while it is down; past this the oldest are dropped (and counted).")
    // MARK: gc (the retention rules are a structured list: see `gcRetentionPath`)
    public static let gcInterval = ConfigKey("gc.interval", .duration(allowZero: true), .duration(86400),
        help: "Time between garbage collections inside the server, the first one interval after start; 0 = off.")
    public static let gcGrace = ConfigKey("gc.grace", .duration(allowZero: true), .duration(3600),
        help: "Garbage collection removes nothing made or used more recently than this (uploads awaiting their manifest).")
    public static let gcDeleteUntagged = ConfigKey("gc.deleteuntagged", .bool, .bool(false),
        help: "Garbage collection removes manifests no tag reaches (else they are kept).")

    /// Every key, in the order `config print` and the README list them.
    public static let all: [ConfigKey] = [
        version, logLevel, logFormatter, accessLogDisabled,
        httpAddr, httpThreads, httpMaxConnections, httpHeaderTimeout, httpIdleTimeout, httpBodyTimeout, httpMinBodyRate,
        httpShutdownGrace, httpMaxRequestLine, httpMaxHeaderBytes, httpMaxHeaderCount, httpDebugAddr,
        tlsCertificate, tlsKey, tlsClientCAs, tlsMinimum,
        storageRoot, deleteEnabled, uploadExpiry, uploadIdleTimeout, uploadsMax, uploadsMaxPerClient, maxManifestBytes,
        s3RegionEndpoint, s3Region, s3Bucket, s3AccessKey, s3SecretKey, s3RootDirectory, s3ForcePathStyle, s3ChunkSize,
        redirectDisable,
        databaseEnabled, databaseHost, databasePort, databaseUser, databasePassword, databaseName, databaseSSLMode,
        databaseConnectTimeout, databaseStatementTimeout, databasePoolMaxIdle, databasePoolMaxOpen, databasePoolMaxLifetime,
        catalogMaxEntries, metricsEnabled,
        htpasswdRealm, htpasswdPath, tokenRealm, tokenService, tokenIssuer, tokenRootCertBundle, tokenJWKS,
        tokenServiceEnabled, tokenServiceRealm, tokenServiceService, tokenServiceIssuer, tokenServiceKey,
        tokenServiceExpiration, rateLimitFailures, rateLimitRequests,
        notificationsQueueDirectory, notificationsQueueMaxEvents, gcInterval, gcGrace, gcDeleteUntagged,
    ]

    /// The structured section read from the file only (zot's `accessControl`).
    public static let accessControlPath = "accesscontrol"
    /// The retention rules, a structured list read from the file only (see `RetentionParser`).
    public static let gcRetentionPath = "gc.retention"
    /// The list of event receivers, read from the file only (distribution's `notifications.endpoints`).
    public static let notificationEndpointsPath = "notifications.endpoints"

    public static let byPath: [String: ConfigKey] = Dictionary(uniqueKeysWithValues: all.map { ($0.path, $0) })
    public static let byFlag: [String: ConfigKey] = Dictionary(uniqueKeysWithValues: all.compactMap { key in key.flag.map { ($0, key) } })
    /// Mechanical and legacy variable names.
    public static let byVariable: [String: ConfigKey] = {
        var map: [String: ConfigKey] = [:]
        for key in all { for name in key.variables { map[name] = key } }
        return map
    }()
}
