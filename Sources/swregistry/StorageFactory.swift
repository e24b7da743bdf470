import BlobStore
import Logging
import Registry
import RegistryConfig

/// The storage `serve` hands the registry, as the configuration chooses it (`Configuration.storageBackend`):
/// the embedded filesystem store (the default), or `ComposedStorage` over S3 blobs and PostgreSQL metadata.
///
/// What only the filesystem store has stays with it, and `serve` asks for it by `storage as? BlobStore`: the
/// store's lock (one server per folder), the control socket in its folder (store commands inside the server),
/// the store statistics (`/metrics`), scheduled garbage collection over its tree. With S3 + PostgreSQL there is
/// no lock (any number of replicas share the storage on purpose), no control socket (store commands run in
/// their own process against the shared storage: the database coordinates them, see `MetadataStore.exclusively`),
/// and the metrics are the requests' (store statistics would be a walk of the bucket).
func makeStorage(_ configuration: Configuration, registry: RegistryConfiguration, logger: Logger) throws -> any RegistryStorage {
    switch configuration.storageBackend {
    case .filesystem(let path):
        return try BlobStore(root: path, uploadLimits: registry.uploadLimits)
    case .scaleOut(let s3, let database):
        return try ScaleOut.makeStorage(s3: s3, database: database, uploadLimits: registry.uploadLimits, logger: logger)
    }
}

/// A backend this build cannot reach (a build without the S3 and PostgreSQL modules).
struct BackendUnavailable: Error, CustomStringConvertible {
    let description: String
}
