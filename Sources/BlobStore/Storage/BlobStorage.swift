import OCIModel

/// Where blob content lives: content-addressed blobs (layers, configs, manifests' bytes) and the data of uploads
/// in progress. Implementations: the filesystem (`FileBlobStorage`) and S3 (`S3BlobStorage`); one contract test
/// suite (`StorageContractTests`) runs against each.
///
/// Every method may block (disk, network): the registry calls them from its blocking pool, never from an event
/// loop. Failures of the backend itself (unreachable, timed out, refused) throw `StoreError.unavailable`, which the
/// registry answers with 503; nothing partial may become visible under a digest after any failure.
///
/// A blob is written once under its digest and never changed; writing the same digest again is harmless.
public protocol BlobStorage: Sendable {
    /// The size of a stored blob, nil when absent.
    func size(of digest: Digest) throws(StoreError) -> Int64?

    /// How to send a stored blob: an open file, a stream, or (when `redirect` allows it and the backend can) a URL.
    /// - Throws: `blobUnknown` when absent.
    func content(of digest: Digest, redirect: Bool) throws(StoreError) -> BlobContent

    /// Stores small content (a manifest's bytes, ≤ 4 MiB) under its digest, durably, before returning.
    /// The caller computed `digest` from `bytes`.
    func put(_ bytes: [UInt8], as digest: Digest) throws(StoreError)

    /// Reads a small stored blob whole (a manifest), nil when absent.
    /// - Throws: `sizeInvalid` when it is larger than `maxBytes`.
    func read(_ digest: Digest, maxBytes: Int) throws(StoreError) -> [UInt8]?

    /// Deletes a blob. - Returns: whether it was there.
    func delete(_ digest: Digest) throws(StoreError) -> Bool

    /// Every stored blob, in any order (garbage collection, verification, import). `modified` is the backend's
    /// own time of the object (nanoseconds since the epoch); the collector decides by the metadata store's times,
    /// and uses this one only for blobs the metadata store does not know (leftovers of a crash).
    func enumerate(_ visit: (BlobEntry) throws(StoreError) -> Void) throws(StoreError)

    // MARK: - Uploads

    /// Starts storing the data of upload `id` (nothing visible under any digest).
    func beginUpload(_ id: UploadID) throws(StoreError) -> UploadState

    /// Something that appends a request's chunks to the upload described by `state`, streaming (no chunk kept
    /// longer than needed, back-pressure through `write`). One appender per upload at a time (the metadata store
    /// leases sessions to one request across replicas).
    func appender(for id: UploadID, _ state: UploadState) throws(StoreError) -> any BlobAppender

    /// Verifies the upload against `expected` and stores it under that digest; the upload's data is gone
    /// afterwards. Verification never reads the blob back when `state` carries the running hash (the normal case);
    /// only state without it (an old or foreign session) may be rehashed.
    /// - Returns: the blob's size.
    /// - Throws: `digestMismatch` (the upload stays as it was, the client may go on), `unavailable`, `io`.
    func commitUpload(_ id: UploadID, _ state: UploadState, as expected: Digest) throws(StoreError) -> Int64

    /// Deletes the upload's data (cancel, expiry); best effort, idempotent.
    func abortUpload(_ id: UploadID, _ state: UploadState)

    /// Upload data the backend holds that started before `cutoff` (nanoseconds since the epoch), whether or not a
    /// session still names it: expiry compares these with the sessions and aborts the orphans (a replica killed
    /// between `beginUpload` and the session's record; multipart uploads nobody completes).
    func staleUploads(startedBefore cutoff: Int64) throws(StoreError) -> [UploadID]

    /// Whether the backend answers now (`/readyz`); fast (a second at most).
    func isReachable() -> Bool
}

/// Appends one request's chunks to an upload.
public protocol BlobAppender: AnyObject, Sendable {
    /// Queues a chunk; suspends while too much is queued (back-pressure).
    /// - Throws: once a write failed (later chunks are dropped).
    func write(_ chunk: [UInt8]) async throws(StoreError)
    /// Chunk buffers done with, emptied, for the caller to fill again (may be empty).
    func reclaim() -> [[UInt8]]
    /// Waits until everything queued is stored, then describes the upload: the state to persist. After a
    /// failure it describes what was stored before it (a client can resume from there).
    func finish() async -> (UploadState, StoreError?)
}
