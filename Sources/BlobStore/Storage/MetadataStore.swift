import OCIModel

/// A manifest as the registry stores it: exact bytes, media type, and what it names.
public struct ManifestRecord: Sendable {
    public let digest: Digest
    public let mediaType: String
    public let bytes: [UInt8]
    /// The manifest's `subject`, whose referrers list it.
    public let subject: Digest?
    /// The descriptor listed under the subject's referrers (media type, digest, size, artifact type, annotations).
    public let referrer: Descriptor?
    /// The blobs (config, layers) and manifests (an index's children) it names.
    public let references: ManifestReferences
    /// A blob whose time is younger than this many seconds need not have it refreshed by the PUT (the links'
    /// times are): 0 refreshes every one (see `ComposedStorage.linkRefreshSeconds`).
    public let refreshAfter: Int

    public init(digest: Digest, mediaType: String, bytes: [UInt8], subject: Digest?, referrer: Descriptor?,
                references: ManifestReferences, refreshAfter: Int = 0) {
        self.digest = digest
        self.mediaType = mediaType
        self.bytes = bytes
        self.subject = subject
        self.referrer = referrer
        self.references = references
        self.refreshAfter = refreshAfter
    }
}

/// An upload session as the metadata store keeps it, so that any replica can continue it.
public struct UploadSession: Sendable, Equatable {
    public let id: UploadID
    public let repository: RepositoryName
    /// Whom it counts against (`UploadLimits.maxPerOwner`).
    public let owner: String
    public let kind: Upload.Kind
    /// Seconds since the epoch: when it started (`UploadLimits.maxAge`), and when it last received bytes
    /// (`UploadLimits.idleTimeout`).
    public let started: Int
    public var lastActive: Int
    /// Where its data stands in the blob storage.
    public var state: UploadState

    public init(id: UploadID, repository: RepositoryName, owner: String, kind: Upload.Kind, started: Int,
                lastActive: Int, state: UploadState) {
        self.id = id
        self.repository = repository
        self.owner = owner
        self.kind = kind
        self.started = started
        self.lastActive = lastActive
        self.state = state
    }
}

/// What a manifest PUT found missing: nothing was stored.
public enum MissingReference: Sendable, Equatable {
    /// A config or layer the repository does not link.
    case blob(Digest)
    /// An index child the repository does not hold.
    case manifest(Digest)
    /// The declared size at `index` of `ManifestReferences.declaredSizes` is not the size of the blob or manifest
    /// stored under that digest (`stored` bytes); only from a store that `checksDeclaredSizes`.
    case size(index: Int, stored: Int64)
}

/// Where the registry's metadata lives: repositories, tags, manifests (exact bytes and media type),
/// repository → blob links, referrers, upload sessions, and what garbage collection needs. Implementations: the
/// filesystem (`BlobStore`'s own tree) and PostgreSQL (`PostgresMetadataStore`); one contract suite
/// (`StorageContractTests`) runs against each.
///
/// Every method may block: call them from the blocking pool. Failures of the backend itself throw
/// `StoreError.unavailable` (503), and a failed mutation changes nothing (transactions, or write-then-rename).
///
/// Names and tags are compared and ordered as bytes (UTF-8), as distribution-spec's pagination requires.
///
/// **Several replicas** may use one store at once: every mutation is atomic across them, two racing on one tag end
/// with one winner, and `generation` moves when any replica changes something (within a bounded, documented time),
/// so that caches of derived views can be dropped.
///
/// **Garbage collection** (the requirements of `CollectableMetadata`, see `GarbageCollector`): mutations that make
/// something reachable run in a *shared* section and set the time (`modified`, nanoseconds, the store's clock) of
/// everything they make reachable; the collector deletes only inside `exclusively` and only what is still older
/// than its cutoff.
public protocol MetadataStore: CollectableMetadata {
    // MARK: Repositories

    /// Whether the repository holds any manifest, tag or blob link.
    func repositoryExists(_ name: RepositoryName) throws(StoreError) -> Bool

    /// Up to `limit` repository names after `last` (exclusive), in byte order, that pass `include`; `more` tells
    /// whether another such name follows. Costs O(page), not O(repositories), when `include` passes most names.
    func repositoryPage(after last: String?, limit: Int,
                        include: (String) -> Bool) throws(StoreError) -> (names: [String], more: Bool)

    // MARK: Blobs and links

    /// The size recorded for a blob that some repository links; nil when none does.
    func blobSize(_ digest: Digest) throws(StoreError) -> Int64?

    /// The blob's size when `name` links it, else nil. A link older than `refreshAfter` seconds has its time
    /// refreshed (a client's HEAD, skipped upload and manifest PUT then find the blob kept by the collector).
    func linkedBlobSize(_ name: RepositoryName, _ digest: Digest, refreshAfter: Int) throws(StoreError) -> Int64?

    /// Records a stored blob of `size` bytes and links it into `name`, with fresh times for both (shared section).
    /// - Parameter requireKnown: link only when the blob is already recorded (a mount); `blobUnknown` otherwise.
    func link(_ name: RepositoryName, _ digest: Digest, size: Int64?, requireKnown: Bool) throws(StoreError)

    /// A cross-repository mount in one step: when `from` links the blob, links it into `name` as `link` with
    /// `requireKnown` does. A blob time younger than `refreshAfter` seconds need not be refreshed (its link is).
    /// - Returns: the blob's size, or nil when `from` does not link it (nothing changes then).
    func mount(_ name: RepositoryName, _ digest: Digest, from: RepositoryName, refreshAfter: Int) throws(StoreError) -> Int64?

    /// Removes the link. - Returns: whether it existed.
    func unlink(_ name: RepositoryName, _ digest: Digest) throws(StoreError) -> Bool

    // MARK: Manifests, tags, referrers

    /// In one atomic step (shared section): checks that `name` links every blob the manifest names and holds every
    /// child manifest, refreshes their times (an index's children transitively), stores the manifest in `name`,
    /// points `tag` at it, and lists it under its subject's referrers.
    /// - Returns: what was missing (nothing is stored then), or nil.
    func putManifest(_ name: RepositoryName, _ manifest: ManifestRecord, tag: Tag?) throws(StoreError) -> MissingReference?

    /// Whether `putManifest` also compares `references.declaredSizes` with the stored sizes (returning `.size`),
    /// so that the registry need not look each one up first.
    var checksDeclaredSizes: Bool { get }

    /// A manifest `name` holds, nil when it holds none with that digest.
    func manifest(_ name: RepositoryName, _ digest: Digest) throws(StoreError) -> StoredManifest?

    /// The media type of a manifest `name` holds (cheaper than the bytes), nil when absent.
    func manifestMediaType(_ name: RepositoryName, _ digest: Digest) throws(StoreError) -> String?

    /// The digest a tag points to, nil when there is no such tag.
    func resolve(_ name: RepositoryName, _ tag: Tag) throws(StoreError) -> Digest?

    /// Removes a manifest from `name`, with every tag pointing to it and its entry among its subject's referrers.
    /// - Returns: whether `name` held it.
    func deleteManifest(_ name: RepositoryName, _ digest: Digest) throws(StoreError) -> Bool

    /// - Returns: whether the tag existed.
    func deleteTag(_ name: RepositoryName, _ tag: Tag) throws(StoreError) -> Bool

    /// Up to `limit` (all when nil) tags after `last`, in byte order, and whether more follow.
    /// - Throws: `nameUnknown` when the repository does not exist.
    func tagPage(_ name: RepositoryName, after last: String?, limit: Int?) throws(StoreError) -> (tags: [String], more: Bool)

    /// The descriptors of the manifests in `name` whose subject is `subject`, in a stable order.
    func referrers(_ name: RepositoryName, subject: Digest) throws(StoreError) -> [Descriptor]

    /// Moves whenever a change can make something read before it wrong — a tag moved to another manifest, a tag,
    /// manifest or referrer removed — here or (within the documented bound) on another replica: a view derived from
    /// the metadata, read after loading this number, is current while it is unchanged. Adding a manifest, a new
    /// tag or a link need not move it (a store may): the caches keep what was found, never an absence.
    var generation: UInt64 { get }

    // MARK: Upload sessions

    /// Records a new session, leased to the calling request (see `acquireUpload`).
    /// - Throws: `tooManyUploads` / `tooManyUploadsForOwner` at the limits (after expiring idle sessions is the
    ///   caller's business), `unavailable`.
    func createUpload(_ session: UploadSession, limits: UploadLimits) throws(StoreError)

    /// Leases a session of `name` to one request, across replicas, for `leaseSeconds` (renewed by
    /// `renewUpload`): a replica killed mid-request leaves a lease that lapses, and the session can be continued.
    /// - Throws: `uploadUnknown` (also for another repository's session, or a monolithic one), `uploadBusy`.
    func acquireUpload(_ id: UploadID, for name: RepositoryName, leaseSeconds: Int) throws(StoreError) -> UploadSession

    /// Extends a held lease (long requests renew it every few seconds).
    func renewUpload(_ id: UploadID, leaseSeconds: Int) throws(StoreError)

    /// Saves the session's new state (its `lastActive` too) and ends the lease.
    func releaseUpload(_ session: UploadSession) throws(StoreError)

    /// Forgets a session (committed, cancelled, expired). Idempotent.
    func removeUpload(_ id: UploadID) throws(StoreError)

    /// Sessions not leased now that are idle or too old at `now` (seconds since the epoch).
    func expiredUploads(now: Int, limits: UploadLimits) throws(StoreError) -> [UploadSession]

    /// Every session's id (expiry compares them with the blob storage's upload data).
    func uploadIDs() throws(StoreError) -> Set<UploadID>

    /// Sessions open now (metrics).
    func uploadCount() throws(StoreError) -> Int

    // MARK: Garbage collection (the rest is `CollectableMetadata`'s)

    /// Forgets a blob's record when no link or manifest names it and it is older than the cutoff.
    /// - Returns: its recorded size, nil when not removed.
    func removeBlobRecord(_ digest: Digest, modifiedBefore cutoff: Int64) throws(StoreError) -> Int64?

    /// Whether the backend answers now (`/readyz`); fast (a second at most).
    func isReachable() -> Bool
}

extension MetadataStore {
    /// Looks `from`'s link up, then links: two steps, for stores where each is cheap (the filesystem).
    public func mount(_ name: RepositoryName, _ digest: Digest, from: RepositoryName,
                      refreshAfter: Int) throws(StoreError) -> Int64? {
        guard try linkedBlobSize(from, digest, refreshAfter: Int.max) != nil else { return nil }
        try link(name, digest, size: nil, requireKnown: true)
        return try blobSize(digest)
    }

    public var checksDeclaredSizes: Bool { false }
}
