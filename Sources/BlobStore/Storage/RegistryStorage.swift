import OCIModel
import SystemIO

/// An upload session held by one request (see `RegistryStorage.acquireUpload`).
public protocol UploadHandle: AnyObject, Sendable {
    var id: UploadID { get }
    var repository: RepositoryName { get }
    /// Bytes received so far.
    var size: Int64 { get }
}

extension UploadHandle {
    /// The `Range` header value of distribution-spec: `0-<last byte offset>`, and `0-0` while empty.
    public var rangeHeader: String { "0-\(max(size - 1, 0))" }
}

/// Everything the registry's HTTP layer asks of its storage, in registry terms. The registry is handed one:
/// `BlobStore` (the embedded filesystem store: one process, sendfile, crash-safe on one disk) or `ComposedStorage`
/// (any `BlobStorage` with any `MetadataStore`: S3 + PostgreSQL for stateless replicas).
///
/// Methods marked *blocking* go to the blocking pool; the others are cheap enough for an event loop
/// (a cache hit or a `stat`) in every implementation — or are blocking in some, which then say so and the registry
/// treats them as blocking (see `isCheapOnEventLoop`).
public protocol RegistryStorage: AnyObject, Sendable {
    /// Whether the lookups below (sizes, links, manifests, tags) may run on an event loop: true for the filesystem
    /// (a `stat` or a cache hit), false for a database over the network.
    var isCheapOnEventLoop: Bool { get }

    // MARK: Blobs

    /// The size of a stored blob, whatever repository links it; nil when absent.
    func blobSize(_ digest: Digest) throws(StoreError) -> Int64?
    /// Whether `name` links the blob.
    func isLinked(_ name: RepositoryName, _ digest: Digest) throws(StoreError) -> Bool
    /// The size of a blob `name` links (for `HEAD`: never touches blob content), nil when it does not link it.
    func linkedBlobSize(_ name: RepositoryName, _ digest: Digest) throws(StoreError) -> Int64?
    /// How to send a blob `name` links.
    /// - Throws: `blobUnknown`.
    func blobContent(_ name: RepositoryName, _ digest: Digest) throws(StoreError) -> BlobContent
    /// Cross-repository mount (blocking). - Throws: `blobUnknown` when the blob is not stored.
    func linkBlob(_ name: RepositoryName, _ digest: Digest) throws(StoreError)
    /// Cross-repository mount from `from` (blocking): links the blob into `name` when `from` links it.
    /// - Returns: the blob's size, nil when `from` does not link it (nothing changes then).
    func mountBlob(_ name: RepositoryName, _ digest: Digest, from: RepositoryName) throws(StoreError) -> Int64?
    /// Removes a blob's link (blocking). - Throws: `blobUnknown` when not linked.
    func unlinkBlob(_ name: RepositoryName, _ digest: Digest) throws(StoreError)

    // MARK: Uploads

    var uploadLimits: UploadLimits { get }
    /// Starts a session, held by the calling request until `releaseUpload`, `commitUpload` or `cancelUpload`.
    func startUpload(_ name: RepositoryName, owner: String, kind: Upload.Kind) throws(StoreError) -> any UploadHandle
    /// Takes a session for one request. - Throws: `uploadUnknown`, `uploadBusy`.
    func acquireUpload(_ id: some StringProtocol, for name: RepositoryName) throws(StoreError) -> any UploadHandle
    /// Something to stream this request's body into. `declaredLength` (when the request has one) lets the storage
    /// pick a cheaper path for small bodies. `finish` it before `releaseUpload` or `commitUpload`.
    func appender(for upload: any UploadHandle, declaredLength: Int64?, pool: BlockingPool) throws(StoreError) -> any BlobAppender
    /// Ends the request's hold; what it received is kept for the next request.
    func releaseUpload(_ upload: any UploadHandle)
    /// Verifies against `expected`, stores the blob and links it into the session's repository; the session ends
    /// (blocking). - Throws: `digestMismatch` (the session stays), `unavailable`, `io`.
    func commitUpload(_ upload: any UploadHandle, expected: Digest) throws(StoreError)
    /// Deletes the session and its data.
    func cancelUpload(_ upload: any UploadHandle)
    /// Deletes idle and old sessions and their data, and upload data no session names (blocking).
    /// - Returns: how many sessions.
    func expireUploads() -> Int

    // MARK: Manifests, tags, referrers

    /// Whether `putManifest` compares the descriptors' declared sizes (`ManifestReferences.declaredSizes`) with
    /// the stored ones itself, in its atomic step; a mismatch then throws `manifestInvalid`. When false the
    /// registry's `verify` must look every size up.
    var checksReferenceSizes: Bool { get }
    /// See `BlobStore.putManifest` (blocking): stores unless `verify` refuses, atomically.
    func putManifest<Refusal: Error>(_ name: RepositoryName, bytes: [UInt8], digest: Digest, mediaType: String,
                                     tag: Tag?, subject: Digest?, referrer: Descriptor?,
                                     references: ManifestReferences,
                                     verify: () -> Refusal?) throws(StoreError) -> Refusal?
    /// - Throws: `manifestUnknown` when there is no such tag.
    func resolve(_ name: RepositoryName, tag: Tag) throws(StoreError) -> Digest
    /// The media type of a manifest `name` holds, nil when absent.
    func manifestMediaType(_ name: RepositoryName, _ digest: Digest) throws(StoreError) -> String?
    /// - Throws: `manifestUnknown`.
    func manifest(_ name: RepositoryName, _ digest: Digest, maxBytes: Int) throws(StoreError) -> StoredManifest
    /// Removes a manifest, its tags and its referrer entry (blocking). - Throws: `manifestUnknown`.
    func deleteManifest(_ name: RepositoryName, _ digest: Digest, subject: Digest?) throws(StoreError)
    /// (blocking) - Throws: `manifestUnknown`.
    func deleteTag(_ name: RepositoryName, _ tag: Tag) throws(StoreError)
    /// (blocking) See `MetadataStore.tagPage`.
    func tagPage(_ name: RepositoryName, after last: String?, limit: Int?) throws(StoreError) -> (tags: [String], more: Bool)
    /// (blocking) See `MetadataStore.repositoryPage`.
    func repositoryPage(after last: String?, limit: Int, include: (String) -> Bool) throws(StoreError) -> (names: [String], more: Bool)
    func repositoryExists(_ name: RepositoryName) throws(StoreError) -> Bool
    /// (blocking)
    func referrers(_ name: RepositoryName, subject: Digest) throws(StoreError) -> [Descriptor]
    /// See `MetadataStore.generation`.
    var metadataGeneration: UInt64 { get }

    // MARK: Operations

    /// Why the storage cannot take writes now (`/readyz`), nil when it can (blocking, about a second at most).
    func readinessProblem() -> String?
}

extension RegistryStorage {
    /// `from`'s link looked up, then the link made: two steps, each cheap on the filesystem.
    public func mountBlob(_ name: RepositoryName, _ digest: Digest, from: RepositoryName) throws(StoreError) -> Int64? {
        guard try isLinked(from, digest) else { return nil }
        try linkBlob(name, digest)
        return try blobSize(digest)
    }

    public var checksReferenceSizes: Bool { false }
}
