import BlobStore
import Logging
import RegistryConfig
import StoreMaintenance

#if canImport(S3Storage) && canImport(PostgresMetadata)
import PostgresMetadata
import S3Storage

/// The S3 + PostgreSQL backend: the configuration's plain settings turned into the modules' own, and the
/// storage, migration and import target built from them.
enum ScaleOut {
    /// `ComposedStorage` over S3 blobs and PostgreSQL metadata; the schema migrations are applied on the way
    /// (idempotent: each replica starting does it, the first one does the work).
    static func makeStorage(s3: S3StorageSettings, database: DatabaseSettings, uploadLimits: UploadLimits,
                            logger: Logger) throws -> any RegistryStorage {
        let side = try makeSide(s3: s3, database: database, logger: logger)
        return ComposedStorage(blobs: side.blobs, metadata: side.metadata, uploadLimits: uploadLimits, logger: logger,
                               redirect: s3.redirect)
    }

    /// The two halves, for `swregistry import` (which writes through the protocols directly).
    static func makeSide(s3: S3StorageSettings, database: DatabaseSettings, logger: Logger) throws -> StoreImporter.Side {
        let blobs = try S3BlobStorage(s3)
        let metadata = try PostgresMetadataStore(settings: PGConnectionSettings(database), limits: PGPool.Limits(database),
                                                 logger: logger)
        return StoreImporter.Side(blobs: blobs, metadata: metadata)
    }

    /// Schedules `gc.interval` collections of the composed storage (see `GCScheduler`; the README advises one
    /// replica with an interval, the others with 0).
    static func startCollection(_ storage: any RegistryStorage, options: GCOptions, intervalSeconds: Double,
                                logger: Logger) {
        guard let composed = storage as? ComposedStorage else { return }
        GCScheduler.start(store: composed, setLinkRefresh: { composed.linkRefreshSeconds.store($0, ordering: .relaxed) },
                          options: options, intervalSeconds: intervalSeconds, logger: logger)
    }

    /// Applies the schema migrations not applied yet. - Returns: their versions.
    static func migrate(database: DatabaseSettings, logger: Logger) throws -> [Int] {
        try PostgresMetadataStore.migrate(settings: PGConnectionSettings(database))
    }
}

/// A filesystem store as the two protocols, for `swregistry import`'s source (the caller holds its lock).
enum FilesystemSide {
    static func open(_ layout: Layout, uploadLimits: UploadLimits) throws -> StoreImporter.Side {
        let store = try BlobStore(root: layout.root, uploadLimits: uploadLimits)
        return StoreImporter.Side(blobs: try FileBlobStorage(root: layout.root), metadata: store)
    }
}

extension S3BlobStorage {
    /// The bucket the configuration names. (`redirect` is `ComposedStorage`'s to apply.)
    convenience init(_ settings: S3StorageSettings) throws(S3ConfigurationError) {
        let configuration = S3Configuration(
            endpoint: settings.endpoint, region: settings.region, bucket: settings.bucket,
            credentials: S3Credentials(accessKey: settings.accessKey, secretKey: settings.secretKey),
            forcePathStyle: settings.forcePathStyle)
        try self.init(configuration, rootDirectory: settings.rootDirectory, chunkSize: settings.chunkSize)
    }
}

extension PGConnectionSettings {
    init(_ settings: DatabaseSettings) {
        self.init(host: settings.host, port: settings.port, user: settings.user,
                  password: settings.password.isEmpty ? nil : settings.password, dbname: settings.dbname,
                  sslmode: settings.sslmode)
        connectTimeout = .seconds(settings.connectTimeoutSeconds)
        statementTimeout = .milliseconds(Int64((settings.statementTimeoutSeconds * 1000).rounded(.up)))
    }
}

extension PGPool.Limits {
    init(_ settings: DatabaseSettings) {
        self.init(maxOpen: settings.maxOpen, maxIdle: settings.maxIdle,
                  maxLifetime: settings.maxLifetimeSeconds == 0 ? nil : .seconds(settings.maxLifetimeSeconds))
    }
}
#else
/// This build has no S3 and PostgreSQL modules: every entry point says so.
enum ScaleOut {
    private static var missing: BackendUnavailable {
        BackendUnavailable(description: "this swregistry was built without the S3 and PostgreSQL backend")
    }

    static func makeStorage(s3: S3StorageSettings, database: DatabaseSettings, uploadLimits: UploadLimits,
                            logger: Logger) throws -> any RegistryStorage {
        throw missing
    }

    static func makeSide(s3: S3StorageSettings, database: DatabaseSettings, logger: Logger) throws -> StoreImporter.Side {
        throw missing
    }

    static func migrate(database: DatabaseSettings, logger: Logger) throws -> [Int] {
        throw missing
    }

    static func startCollection(_ storage: any RegistryStorage, options: GCOptions, intervalSeconds: Double,
                                logger: Logger) {}
}

enum FilesystemSide {
    static func open(_ layout: Layout, uploadLimits: UploadLimits) throws -> StoreImporter.Side {
        throw BackendUnavailable(description: "this swregistry was built without the storage protocols' filesystem side")
    }
}
#endif
