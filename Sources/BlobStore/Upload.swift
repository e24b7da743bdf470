import OCIModel

/// One blob upload session. Its bytes live in `uploads/<id>/data`; the running hash lives here, in memory, and
/// is rebuilt from the data file when the server restarted in the middle of the upload.
///
/// A session is used by one request at a time (`UploadRegistry.acquire` enforces it), so its mutable state
/// needs no lock of its own.
public final class Upload: @unchecked Sendable {
    public let id: UploadID
    public let repository: RepositoryName
    /// Bytes received so far.
    public internal(set) var size: Int64
    var fd: Int32
    var hasher: DigestHasher?
    var lastActive: Int

    init(id: UploadID, repository: RepositoryName, fd: Int32, size: Int64, hasher: DigestHasher?, now: Int) {
        self.id = id
        self.repository = repository
        self.fd = fd
        self.size = size
        self.hasher = hasher
        lastActive = now
    }

    /// The `Range` header value of distribution-spec: `0-<last byte offset>`, and `0-0` while empty.
    public var rangeHeader: String { "0-\(max(size - 1, 0))" }
}
