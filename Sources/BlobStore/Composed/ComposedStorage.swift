import Glibc
import Logging
import OCIModel
import Synchronization
import SystemIO

/// The registry's storage built from any `BlobStorage` (where content lives) and any `MetadataStore` (what
/// content means): S3 + PostgreSQL for stateless replicas, or a folder and the filesystem tree.
///
/// - **Uploads** (`ComposedStorage+Uploads`): the session is the metadata store's (leased to one request across
///   replicas, renewed while the request holds it), its data the blob storage's; commit stores the blob, then
///   links it, then forgets the session.
/// - **Manifests** live in the metadata store only (bytes and media type, one transaction a PUT): no object
///   storage write per manifest. A PUT runs the registry's check (`verify`) and then the metadata store's own,
///   atomic with the write.
/// - **Cache**: tag → digest and manifests, in memory, valid only at the metadata store's current `generation`
///   (read before the lookup; filled only when unchanged after it), so a replica serves a stale tag no longer
///   than the metadata store's generation lags (see its documentation).
/// - **Garbage collection** (`ComposedStorage+Collection`): the metadata store's entries and sections, plus the
///   blobs the blob storage holds that no metadata records (a crash between an upload's commit and its link).
///
/// Every call may block on the network: `isCheapOnEventLoop` is false, the registry calls from its pool.
public final class ComposedStorage: RegistryStorage, Sendable {
    public let blobs: any BlobStorage
    public let metadata: any MetadataStore
    public let uploadLimits: UploadLimits
    /// Whether blob GETs may be answered with a redirect when the blob storage offers one.
    public let redirect: Bool
    let logger: Logger
    let cache = ManifestCache()
    let keeper: LeaseKeeper
    /// A link older than this many seconds is refreshed when a client asks about its blob (see
    /// `BlobStore.linkRefreshSeconds`; set by the server to a quarter of the collector's grace period).
    public let linkRefreshSeconds = Atomic<Int>(900)
    /// Seconds since the epoch (tests move it).
    let clock: @Sendable () -> Int
    /// Whether a collection runs in this process, and the blobs its listing found that no metadata records.
    let collection = Mutex<(running: Bool, unrecorded: Set<Digest>)>((false, []))

    /// - Parameters:
    ///   - redirect: allow redirects for blob GETs (the blob storage decides whether it can).
    public convenience init(blobs: any BlobStorage, metadata: any MetadataStore, uploadLimits: UploadLimits,
                            logger: Logger, redirect: Bool = true) {
        self.init(blobs: blobs, metadata: metadata, uploadLimits: uploadLimits, logger: logger, redirect: redirect,
                  clock: { Int(time(nil)) })
    }

    init(blobs: any BlobStorage, metadata: any MetadataStore, uploadLimits: UploadLimits, logger: Logger,
         redirect: Bool, clock: @escaping @Sendable () -> Int) {
        self.blobs = blobs
        self.metadata = metadata
        self.uploadLimits = uploadLimits
        self.logger = logger
        self.redirect = redirect
        self.clock = clock
        keeper = LeaseKeeper(metadata: metadata, leaseSeconds: Self.leaseSeconds, logger: logger)
    }

    deinit {
        keeper.stop()
    }

    /// A network round trip per lookup: never on an event loop.
    public var isCheapOnEventLoop: Bool { false }

    // MARK: - Blobs

    public func blobSize(_ digest: Digest) throws(StoreError) -> Int64? {
        try metadata.blobSize(digest)
    }

    public func isLinked(_ name: RepositoryName, _ digest: Digest) throws(StoreError) -> Bool {
        try metadata.linkedBlobSize(name, digest, refreshAfter: Int.max) != nil
    }

    /// From the metadata store alone: a `HEAD` never reaches the blob storage.
    public func linkedBlobSize(_ name: RepositoryName, _ digest: Digest) throws(StoreError) -> Int64? {
        try metadata.linkedBlobSize(name, digest, refreshAfter: linkRefreshSeconds.load(ordering: .relaxed))
    }

    public func blobContent(_ name: RepositoryName, _ digest: Digest) throws(StoreError) -> BlobContent {
        guard try isLinked(name, digest) else { throw .blobUnknown(digest) }
        return try blobs.content(of: digest, redirect: redirect)
    }

    public func linkBlob(_ name: RepositoryName, _ digest: Digest) throws(StoreError) {
        try metadata.link(name, digest, size: nil, requireKnown: true)
    }

    /// One call to the metadata store (for PostgreSQL one statement): the check of `from` and the link.
    public func mountBlob(_ name: RepositoryName, _ digest: Digest, from: RepositoryName) throws(StoreError) -> Int64? {
        try metadata.mount(name, digest, from: from, refreshAfter: linkRefreshSeconds.load(ordering: .relaxed))
    }

    public func unlinkBlob(_ name: RepositoryName, _ digest: Digest) throws(StoreError) {
        guard try metadata.unlink(name, digest) else { throw .blobUnknown(digest) }
    }

    // MARK: - Manifests, tags, referrers

    public var checksReferenceSizes: Bool { metadata.checksDeclaredSizes }

    /// The registry's check (`verify`), then the metadata store's, atomic with the write; what the latter finds
    /// missing (removed since the first check, by a collection or a delete) is `manifestBlobUnknown`, and a
    /// declared size it finds wrong (when it `checksDeclaredSizes`) is `manifestInvalid`.
    ///
    /// Blobs whose time is younger than `linkRefreshSeconds` keep it (their links get a fresh one): a blob that
    /// every push names (a base layer) is then not a row that every concurrent PUT locks until its commit.
    public func putManifest<Refusal: Error>(_ name: RepositoryName, bytes: [UInt8], digest: Digest, mediaType: String,
                                            tag: Tag?, subject: Digest?, referrer: Descriptor?,
                                            references: ManifestReferences,
                                            verify: () -> Refusal?) throws(StoreError) -> Refusal? {
        if let refusal = verify() { return refusal }
        let record = ManifestRecord(digest: digest, mediaType: mediaType, bytes: bytes, subject: subject,
                                    referrer: referrer, references: references,
                                    refreshAfter: linkRefreshSeconds.load(ordering: .relaxed))
        switch try metadata.putManifest(name, record, tag: tag) {
        case nil: return nil
        case .blob(let missing)?, .manifest(let missing)?: throw .manifestBlobUnknown(missing)
        case .size(let index, let stored)?:
            guard references.declaredSizes.indices.contains(index) else {
                throw .unavailable("metadata store reported declared size \(index) of \(references.declaredSizes.count)")
            }
            let declared = references.declaredSizes[index]
            throw .manifestInvalid("descriptor size \(declared.size) does not match the \(stored) bytes of \(declared.digest)")
        }
    }

    public func resolve(_ name: RepositoryName, tag: Tag) throws(StoreError) -> Digest {
        let generation = metadata.generation
        if let digest = cache.tag(name, tag, at: generation) { return digest }
        guard let digest = try metadata.resolve(name, tag) else { throw .manifestUnknown(tag.value) }
        if metadata.generation == generation { cache.fill(name, tag, digest, at: generation) }
        return digest
    }

    public func manifestMediaType(_ name: RepositoryName, _ digest: Digest) throws(StoreError) -> String? {
        if let manifest = cache.manifest(name, digest, at: metadata.generation) { return manifest.mediaType }
        return try metadata.manifestMediaType(name, digest)
    }

    /// - Throws: `manifestUnknown`; `sizeInvalid` for a manifest stored larger than `maxBytes` (the limit was
    ///   lowered since).
    public func manifest(_ name: RepositoryName, _ digest: Digest, maxBytes: Int) throws(StoreError) -> StoredManifest {
        let generation = metadata.generation
        let manifest: StoredManifest
        if let cached = cache.manifest(name, digest, at: generation) {
            manifest = cached
        } else {
            guard let loaded = try metadata.manifest(name, digest) else { throw .manifestUnknown(digest.description) }
            if metadata.generation == generation { cache.fill(name, loaded, at: generation) }
            manifest = loaded
        }
        guard manifest.bytes.count <= maxBytes else {
            throw .sizeInvalid("manifest \(digest) has \(manifest.bytes.count) bytes, more than \(maxBytes)")
        }
        return manifest
    }

    /// The metadata store finds the subject itself: `subject` is not needed.
    public func deleteManifest(_ name: RepositoryName, _ digest: Digest, subject: Digest?) throws(StoreError) {
        guard try metadata.deleteManifest(name, digest) else { throw .manifestUnknown(digest.description) }
    }

    public func deleteTag(_ name: RepositoryName, _ tag: Tag) throws(StoreError) {
        guard try metadata.deleteTag(name, tag) else { throw .manifestUnknown(tag.value) }
    }

    public func tagPage(_ name: RepositoryName, after last: String?, limit: Int?) throws(StoreError) -> (tags: [String], more: Bool) {
        try metadata.tagPage(name, after: last, limit: limit)
    }

    public func repositoryPage(after last: String?, limit: Int,
                               include: (String) -> Bool) throws(StoreError) -> (names: [String], more: Bool) {
        try metadata.repositoryPage(after: last, limit: limit, include: include)
    }

    public func repositoryExists(_ name: RepositoryName) throws(StoreError) -> Bool {
        try metadata.repositoryExists(name)
    }

    public func referrers(_ name: RepositoryName, subject: Digest) throws(StoreError) -> [Descriptor] {
        try metadata.referrers(name, subject: subject)
    }

    public var metadataGeneration: UInt64 { metadata.generation }

    // MARK: - Operations

    /// Both halves must answer.
    public func readinessProblem() -> String? {
        if !metadata.isReachable() { return "metadata store unreachable" }
        if !blobs.isReachable() { return "blob storage unreachable" }
        return nil
    }
}
