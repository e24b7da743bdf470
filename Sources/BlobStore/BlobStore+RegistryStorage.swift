import OCIModel
import SystemIO

/// The embedded filesystem store as the registry's storage: lookups are a `stat` or a cache hit (cheap enough for
/// an event loop), blobs are sent with `sendfile`, uploads are files renamed into place.
extension BlobStore: RegistryStorage {
    public var isCheapOnEventLoop: Bool { true }

    public func blobContent(_ name: RepositoryName, _ digest: Digest) throws(StoreError) -> BlobContent {
        let (fd, size) = try openBlob(name, digest)
        return .file(fd, size: size)
    }

    public var uploadLimits: UploadLimits { uploads.limits }

    public func startUpload(_ name: RepositoryName, owner: String, kind: Upload.Kind) throws(StoreError) -> any UploadHandle {
        try uploads.start(name, owner: owner, kind: kind)
    }

    public func acquireUpload(_ id: some StringProtocol, for name: RepositoryName) throws(StoreError) -> any UploadHandle {
        try uploads.acquire(id, for: name)
    }

    /// A body of at most `inlineAppendLimit` bytes is hashed and written by the caller (on the event loop: a hop to
    /// the pool would cost more than the work); larger ones go through an `UploadWriter`, which hashes and writes on
    /// pool threads while the loop receives the next chunks.
    public func appender(for upload: any UploadHandle, declaredLength: Int64?,
                         pool: BlockingPool) throws(StoreError) -> any BlobAppender {
        let upload = Self.own(upload)
        if let declaredLength, declaredLength <= Self.inlineAppendLimit {
            return InlineAppender(upload, uploads)
        }
        return UploadWriter(upload, pool: pool)
    }

    /// Bodies up to this size are written by the caller's thread (see `appender`).
    public static let inlineAppendLimit: Int64 = 64 * 1024

    public func releaseUpload(_ upload: any UploadHandle) {
        uploads.release(Self.own(upload))
    }

    public func commitUpload(_ upload: any UploadHandle, expected: Digest) throws(StoreError) {
        try uploads.commit(Self.own(upload), expected: expected, into: self)
    }

    public func cancelUpload(_ upload: any UploadHandle) {
        uploads.cancel(Self.own(upload))
    }

    public func expireUploads() -> Int {
        uploads.expire()
    }

    /// This store's sessions are its own `Upload`s: a handle from elsewhere is a programming error.
    private static func own(_ upload: any UploadHandle) -> Upload {
        guard let upload = upload as? Upload else { preconditionFailure("not an upload of this store: \(type(of: upload))") }
        return upload
    }

    public func tagPage(_ name: RepositoryName, after last: String?, limit: Int?) throws(StoreError) -> (tags: [String], more: Bool) {
        Self.page(try tags(name), after: last, limit: limit, include: { _ in true })
    }

    public func repositoryPage(after last: String?, limit: Int,
                               include: (String) -> Bool) throws(StoreError) -> (names: [String], more: Bool) {
        let (names, more) = Self.page(try repositories(), after: last, limit: limit, include: include)
        return (names, more)
    }

    /// Up to `limit` of `sorted` after `last` that pass `include`, and whether another follows.
    static func page(_ sorted: [String], after last: String?, limit: Int?,
                     include: (String) -> Bool) -> ([String], Bool) {
        var result: [String] = []
        for name in sorted {
            if let last, !last.utf8.lexicographicallyPrecedes(name.utf8) { continue }
            guard include(name) else { continue }
            if let limit, result.count == limit { return (result, true) }
            result.append(name)
        }
        return (result, false)
    }
}

/// Appends a small body on the caller's thread, hashing as it goes.
final class InlineAppender: BlobAppender, @unchecked Sendable {
    private let upload: Upload
    private let uploads: UploadRegistry
    private var failure: StoreError?

    init(_ upload: Upload, _ uploads: UploadRegistry) {
        self.upload = upload
        self.uploads = uploads
    }

    func write(_ chunk: [UInt8]) async throws(StoreError) {
        if let failure { throw failure }
        do { try uploads.append(upload, chunk) } catch {
            failure = error
            throw error
        }
    }

    func reclaim() -> [[UInt8]] { [] }

    func finish() async -> (UploadState, StoreError?) {
        (UploadState(size: upload.size, data: []), failure)
    }
}
