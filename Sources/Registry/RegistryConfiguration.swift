import BlobStore
import Metrics

/// Settings of the registry above the HTTP engine.
public struct RegistryConfiguration: Sendable {
    /// Root folder of the store.
    public var storagePath: String
    /// Largest manifest accepted, in bytes (distribution-spec suggests 4 MiB).
    public var maxManifestBytes = 4 * 1024 * 1024
    /// Largest page of `/v2/_catalog`; a larger `n` is refused with PAGINATION_NUMBER_INVALID (as distribution
    /// does since CVE-2023-2253), and it is the page size when `n` is absent.
    public var catalogMaxEntries = 1000
    /// Upload sessions started longer ago than this are deleted, however active.
    public var uploadExpirySeconds = 24 * 3600
    /// Upload sessions that received no byte for this long are deleted (see `UploadLimits.idleTimeout`).
    public var uploadIdleTimeoutSeconds = 15 * 60
    /// Most upload sessions open at once; more get TOOMANYREQUESTS.
    public var maxOpenUploads = 1000
    /// Most upload sessions open at once for one client address; nil: a tenth of `maxOpenUploads`.
    public var maxUploadsPerClient: Int?
    /// Threads for blocking store work (fsync, renames, directory walks).
    /// 32: most of these threads wait, for a flush shared by concurrent writers (`GroupCommit`) or for a database
    /// or object-store round trip, not on a core; four let at most four writers share a flush.
    public var blockingThreads = 32
    /// Authentication, access policy, abuse limits and `storage.delete.enabled`; nil: open to everyone, as
    /// before any of these existed. Replaced at run time by `RegistryResponder.updateSecurity(_:)`.
    public var security: RegistrySecurity?
    /// Where the registry's counters go (cache hits, refused authentications); nil: the bootstrapped
    /// `MetricsSystem.factory` (a no-op when none was). Tests pass a backend of their own.
    public var metricsFactory: (any MetricsFactory)?
    /// Renders the Prometheus text exposition for `/metrics`; nil: `/metrics` is not found (`metrics.enabled`
    /// false). When authentication is on, `/metrics` needs credentials, and an administrator's when an access
    /// policy is configured (see `AccessPolicy.Requirement.metrics`).
    public var metricsExposition: (@Sendable () -> [UInt8])?
    /// Where push, pull, mount and delete events go (see `RegistryEvent`); nil: no events, and nothing is done
    /// for them on any request.
    public var events: (any RegistryEventSink)?

    public init(storagePath: String) {
        self.storagePath = storagePath
    }

    /// The upload settings, as the store takes them.
    public var uploadLimits: UploadLimits {
        UploadLimits(maxOpen: maxOpenUploads, maxPerOwner: maxUploadsPerClient, idleTimeout: uploadIdleTimeoutSeconds,
                     maxAge: uploadExpirySeconds)
    }
}
