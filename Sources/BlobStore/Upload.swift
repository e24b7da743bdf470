import OCIModel

/// One blob upload session. Its bytes live in `uploads/<id>/data`, its description (repository, start time, owner,
/// kind) in `uploads/<id>/info`; the running hash lives here, in memory, and is rebuilt from the data file once, at
/// commit, when the server restarted in the middle of the upload.
///
/// A session is used by one request at a time (`UploadRegistry.acquire` enforces it), so its mutable state
/// needs no lock of its own. Its data file is open only while a request holds it: an idle session costs a few
/// bytes of memory and no descriptor.
public final class Upload: UploadHandle, @unchecked Sendable {
    /// How the session was started, recorded on disk so that start-up can tell them apart after a crash.
    public enum Kind: String, Sendable {
        /// `POST` without a digest: the client got its `Location` and may continue it, also after a restart.
        case resumable
        /// `POST ?digest=` with the whole blob: its id never leaves the server, so once that request is gone
        /// (cut off, or the server crashed under it) no client can continue it.
        case monolithic
    }

    public let id: UploadID
    public let repository: RepositoryName
    /// Whom the session counts against (see `UploadLimits.maxPerOwner`): the client's address today, the user
    /// once requests are authenticated.
    public let owner: String
    public let kind: Kind
    /// When the session started (seconds since the epoch); `UploadLimits.maxAge` counts from here.
    public let started: Int
    /// Bytes received so far.
    public internal(set) var size: Int64
    /// The data file, open while a request holds the session, -1 otherwise.
    var fd: Int32 = -1
    var hasher: DigestHasher?
    /// When the session last received bytes (or started, or came back after a restart);
    /// `UploadLimits.idleTimeout` counts from here.
    var lastActive: Int
    /// `size` when the current request acquired the session: bytes received since then make it active.
    var sizeWhenAcquired: Int64 = 0

    init(id: UploadID, repository: RepositoryName, owner: String, kind: Kind, started: Int, size: Int64,
         hasher: DigestHasher?, now: Int) {
        self.id = id
        self.repository = repository
        self.owner = owner
        self.kind = kind
        self.started = started
        self.size = size
        self.hasher = hasher
        lastActive = now
    }
}
