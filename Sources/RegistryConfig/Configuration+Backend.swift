/// Which storage the registry runs on: the embedded filesystem store (the default), or blobs in S3 with the
/// metadata in PostgreSQL, for any number of replicas (they go together: see `backendErrors`).
public enum StorageBackend: Sendable, Equatable {
    case filesystem(path: String)
    case scaleOut(S3StorageSettings, DatabaseSettings)
}

extension Configuration {
    /// The keys of each half of the scale-out backend.
    static let s3Keys: [ConfigKey] = [.s3RegionEndpoint, .s3Region, .s3Bucket, .s3AccessKey, .s3SecretKey,
                                      .s3RootDirectory, .s3ForcePathStyle, .s3ChunkSize]
    static let databaseKeys: [ConfigKey] = [.databaseHost, .databasePort, .databaseUser, .databasePassword,
                                            .databaseName, .databaseSSLMode, .databaseConnectTimeout,
                                            .databaseStatementTimeout,
                                            .databasePoolMaxIdle, .databasePoolMaxOpen, .databasePoolMaxLifetime]

    /// The variables the AWS tools read, taken when the matching key is absent (and S3 is in use).
    static let awsVariables: [(key: ConfigKey, names: [String])] = [
        (.s3AccessKey, ["AWS_ACCESS_KEY_ID"]), (.s3SecretKey, ["AWS_SECRET_ACCESS_KEY"]),
        (.s3Region, ["AWS_REGION", "AWS_DEFAULT_REGION"]),
    ]

    /// Whether `key` has a value other than its default. A printed configuration writes every default out, and
    /// must read back as the same configuration: a default written out selects nothing.
    func isGiven(_ key: ConfigKey) -> Bool {
        guard let value = self[key] else { return false }
        return value != key.defaultValue
    }

    /// Blobs go to S3: some `storage.s3` key is given.
    public var usesS3: Bool { Self.s3Keys.contains { isGiven($0) } }

    public var databaseEnabled: Bool { bool(.databaseEnabled) == true }

    /// The storage `serve`, `migrate` and `import` work on.
    public var storageBackend: StorageBackend {
        if let s3 = s3Settings, let database = databaseSettings { return .scaleOut(s3, database) }
        return .filesystem(path: storagePath)
    }

    /// The S3 settings when S3 is in use (the configuration was checked by `load`, so required keys are there).
    public var s3Settings: S3StorageSettings? {
        guard usesS3, let region = string(.s3Region), let bucket = string(.s3Bucket) else { return nil }
        return S3StorageSettings(
            endpoint: string(.s3RegionEndpoint) ?? S3StorageSettings.awsEndpoint(region: region), region: region,
            bucket: bucket, accessKey: string(.s3AccessKey) ?? "", secretKey: string(.s3SecretKey) ?? "",
            rootDirectory: S3StorageSettings.normalizedRootDirectory(string(.s3RootDirectory)!) ?? "",
            forcePathStyle: bool(.s3ForcePathStyle)!, chunkSize: int(.s3ChunkSize)!,
            redirect: !bool(.redirectDisable)!)
    }

    /// The database settings when `database.enabled` is true.
    public var databaseSettings: DatabaseSettings? {
        guard databaseEnabled, let host = string(.databaseHost), let user = string(.databaseUser),
              let dbname = string(.databaseName) else { return nil }
        return DatabaseSettings(
            host: host, port: int(.databasePort)!, user: user, password: string(.databasePassword) ?? "",
            dbname: dbname, sslmode: string(.databaseSSLMode)!,
            connectTimeoutSeconds: Int(duration(.databaseConnectTimeout)!.rounded(.up)),
            maxOpen: int(.databasePoolMaxOpen)!, maxIdle: int(.databasePoolMaxIdle)!,
            maxLifetimeSeconds: Int(duration(.databasePoolMaxLifetime)!.rounded(.up)),
            statementTimeoutSeconds: duration(.databaseStatementTimeout)!)
    }

    /// With S3 in use, takes the credentials and region the AWS tools would from their variables when the
    /// configuration does not give them (their source says which variable). Without S3 they are left alone: a
    /// developer's AWS variables must not turn S3 on.
    mutating func applyAWSVariables(_ environment: [String: String]) {
        guard usesS3 else { return }
        for (key, names) in Self.awsVariables where self[key] == nil {
            if let name = names.first(where: { !(environment[$0] ?? "").isEmpty }) {
                set(key, value: .string(environment[name]!), source: .environment(name))
            }
        }
    }

    /// What is wrong with the choice of storage: S3 and the database go together; each needs its required keys;
    /// what a single filesystem store offered implicitly (a local folder, one token-signing key made on the spot)
    /// must be configured explicitly when replicas share the storage.
    func backendErrors() -> [ConfigError] {
        var errors: [ConfigError] = []
        func error(_ key: ConfigKey, _ problem: String, accepted: String? = nil) {
            errors.append(ConfigError(key: key.path, source: source(of: key) ?? .defaultValue, problem: problem,
                                      accepted: accepted))
        }
        let firstS3Key = Self.s3Keys.first { isGiven($0) }
        if !databaseEnabled, let key = Self.databaseKeys.first(where: { isGiven($0) }) {
            error(key, "needs database.enabled: true (the database settings are otherwise unused)")
        }
        if let key = firstS3Key, !databaseEnabled {
            error(key, "S3 blob storage needs the metadata in PostgreSQL: set database.enabled: true and database.host, user, dbname")
        }
        if databaseEnabled, firstS3Key == nil {
            error(.databaseEnabled, "the PostgreSQL metadata store works with S3 blob storage only: set storage.s3 (bucket, region, credentials), or database.enabled: false for the filesystem store")
        }
        if databaseEnabled {
            for key in [ConfigKey.databaseHost, .databaseUser, .databaseName] where (string(key) ?? "").isEmpty {
                errors.append(ConfigError(key: key.path, source: source(of: .databaseEnabled)!,
                                          problem: "required with database.enabled: true"))
            }
            if let idle = int(.databasePoolMaxIdle), let open = int(.databasePoolMaxOpen), idle > open {
                error(.databasePoolMaxIdle, "\(idle) is more than database.pool.maxopen (\(open))",
                      accepted: "at most database.pool.maxopen")
            }
        }
        guard let key = firstS3Key else { return errors }
        let s3Source = source(of: key)!
        func required(_ key: ConfigKey, _ variable: String?) {
            guard (string(key) ?? "").isEmpty else { return }
            errors.append(ConfigError(key: key.path, source: s3Source,
                                      problem: "required with S3" + (variable.map { " (or $\($0))" } ?? "")))
        }
        required(.s3Bucket, nil)
        required(.s3Region, "AWS_REGION")
        required(.s3AccessKey, "AWS_ACCESS_KEY_ID")
        required(.s3SecretKey, "AWS_SECRET_ACCESS_KEY")
        if let bucket = string(.s3Bucket), !bucket.isEmpty,
           let problem = S3StorageSettings.bucketProblem(bucket, pathStyle: bool(.s3ForcePathStyle)!) {
            error(.s3Bucket, "\"\(bucket)\": \(problem)")
        }
        if let region = string(.s3Region), !region.isEmpty,
           !region.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }) {
            error(.s3Region, "\"\(region)\" is not a region name", accepted: "letters, digits and '-' (us-east-1)")
        }
        if let root = string(.s3RootDirectory), S3StorageSettings.normalizedRootDirectory(root) == nil {
            error(.s3RootDirectory, "\"\(root)\" has a '.' or '..' segment or a control character",
                  accepted: "a prefix such as registry or teams/a/registry")
        }
        if isGiven(.storageRoot) {
            error(.storageRoot, "choose one storage: storage.filesystem or storage.s3 (with S3 nothing is stored in a local folder)")
        }
        // Each replica would otherwise make its own key: a token from one would be refused by the others.
        if bool(.tokenServiceEnabled) == true, self[.tokenServiceKey] == nil {
            error(.tokenServiceEnabled, "with S3 every replica must sign tokens with one key: set auth.tokenservice.key to a key file the replicas share")
        }
        // The default folder is inside the filesystem store, which S3 replaces.
        if notificationEndpoints.contains(where: { !$0.disabled }), self[.notificationsQueueDirectory] == nil {
            errors.append(ConfigError(key: ConfigKey.notificationsQueueDirectory.path,
                                      source: notificationEndpointsSource ?? s3Source,
                                      problem: "with S3 set a local folder for this replica's events' queues"))
        }
        return errors
    }
}
