import Glibc
import OCIModel
import SystemIO

/// The upload flow over the two halves. Each step changes one of them, in an order a crash at any point leaves
/// safe: data without a session (found by `expireUploads` through `staleUploads`), a session without data
/// (expired), or a stored blob nobody links (collected) — never a link to a missing blob.
extension ComposedStorage {
    /// The lease of a request on its session: long enough to outlive a stalled renewal or two, short enough
    /// that a replica killed mid-request blocks its session for half a minute at most.
    static let leaseSeconds = 30

    /// The data first (`beginUpload`), then the session's record; the data is aborted when the record fails.
    /// At a limit, expired sessions give way before anyone is refused (as `UploadRegistry.start` does).
    public func startUpload(_ name: RepositoryName, owner: String, kind: Upload.Kind) throws(StoreError) -> any UploadHandle {
        let id = UploadID.random()
        let state = try blobs.beginUpload(id)
        let now = clock()
        let session = UploadSession(id: id, repository: name, owner: UploadRegistry.ownerKey(owner), kind: kind,
                                    started: now, lastActive: now, state: state)
        do throws(StoreError) {
            do throws(StoreError) {
                try metadata.createUpload(session, limits: uploadLimits)
            } catch {
                guard Self.isLimit(error), expireUploads() > 0 else { throw error }
                try metadata.createUpload(session, limits: uploadLimits)
            }
        } catch {
            blobs.abortUpload(id, state)
            throw error
        }
        keeper.hold(id)
        return ComposedUpload(session)
    }

    private static func isLimit(_ error: StoreError) -> Bool {
        switch error {
        case .tooManyUploads, .tooManyUploadsForOwner: true
        default: false
        }
    }

    public func acquireUpload(_ idText: some StringProtocol, for name: RepositoryName) throws(StoreError) -> any UploadHandle {
        guard let id = UploadID(validating: idText) else { throw .uploadUnknown(String(idText.prefix(64))) }
        let session = try metadata.acquireUpload(id, for: name, leaseSeconds: Self.leaseSeconds)
        keeper.hold(id)
        return ComposedUpload(session)
    }

    /// The blob storage's appender, whose final state becomes the session's (saved at release).
    public func appender(for upload: any UploadHandle, declaredLength: Int64?,
                         pool: BlockingPool) throws(StoreError) -> any BlobAppender {
        let upload = Self.own(upload)
        return SessionAppender(try blobs.appender(for: upload.id, upload.session.state), upload)
    }

    /// Saves the state (and, when bytes arrived, the time of activity) and ends the lease. A failure to save
    /// leaves the previous state: the next request finds the upload where it was before this one (its bytes
    /// past that are cut off), and a client that resumes from the `Range` it was told gets 416 and asks again.
    public func releaseUpload(_ upload: any UploadHandle) {
        let upload = Self.own(upload)
        keeper.release(upload.id)
        if upload.size != upload.sizeWhenAcquired { upload.session.lastActive = clock() }
        do throws(StoreError) { try metadata.releaseUpload(upload.session) } catch {
            logger.error("upload \(upload.id): state not saved: \(error)")
        }
    }

    /// Blob storage commit (verifying the digest), then the link, then the session goes. A digest mismatch
    /// leaves everything as it was (the client may go on). Once the blob is committed the upload's data is gone,
    /// so the session goes whatever follows.
    ///
    /// A collection may take the blob between its commit and its link (while no metadata records it, or while
    /// its record is old): the link fails (`blobUnknown` from a store that checks) or succeeds over nothing, so
    /// the blob's presence is checked after the link — which, made in a shared section with a fresh time, the
    /// collector respects. Gone, the link is undone and the client told to upload again (`uploadUnknown`).
    public func commitUpload(_ upload: any UploadHandle, expected: Digest) throws(StoreError) {
        let upload = Self.own(upload)
        let size = try blobs.commitUpload(upload.id, upload.session.state, as: expected)
        defer {
            keeper.release(upload.id)
            do throws(StoreError) { try metadata.removeUpload(upload.id) } catch {
                logger.warning("upload \(upload.id): session not removed yet (retried every second): \(error)")
                keeper.removeLater(upload.id)
            }
        }
        do {
            try metadata.link(upload.repository, expected, size: size, requireKnown: false)
        } catch {
            guard case .blobUnknown = error else { throw error }
            throw .uploadUnknown(upload.id.value)
        }
        guard try blobs.size(of: expected) != nil else {
            _ = try? metadata.unlink(upload.repository, expected)
            logger.warning("upload \(upload.id): \(expected) was collected while it was committed")
            throw .uploadUnknown(upload.id.value)
        }
    }

    public func cancelUpload(_ upload: any UploadHandle) {
        let upload = Self.own(upload)
        keeper.release(upload.id)
        blobs.abortUpload(upload.id, upload.session.state)
        do throws(StoreError) { try metadata.removeUpload(upload.id) } catch {
            logger.warning("upload \(upload.id): session not removed yet (retried every second): \(error)")
            keeper.removeLater(upload.id)
        }
    }

    /// The metadata store's expired sessions (data aborted, then the session removed), then upload data no
    /// session names that is older than the idle timeout (a replica killed between `beginUpload` and the
    /// record, or between a commit and the session's removal).
    public func expireUploads() -> Int {
        expireSessions(dryRun: false).count
    }

    /// - Parameter dryRun: only find the expired sessions.
    /// - Returns: the sessions expired.
    func expireSessions(dryRun: Bool) -> [UploadSession] {
        let now = clock()
        let expired: [UploadSession]
        do throws(StoreError) { expired = try metadata.expiredUploads(now: now, limits: uploadLimits) } catch {
            logger.warning("upload expiry: sessions not listed: \(error)")
            return []
        }
        if dryRun { return expired }
        for session in expired {
            blobs.abortUpload(session.id, session.state)
            do throws(StoreError) { try metadata.removeUpload(session.id) } catch {
                logger.warning("upload expiry: session \(session.id) not removed: \(error)")
            }
        }
        do throws(StoreError) {
            // Listed before the sessions: a session recorded meanwhile is among them.
            let cutoff = Int64(now - uploadLimits.idleTimeout) * 1_000_000_000
            let stale = try blobs.staleUploads(startedBefore: cutoff)
            if !stale.isEmpty {
                let named = try metadata.uploadIDs()
                for id in stale where !named.contains(id) {
                    blobs.abortUpload(id, UploadState(size: 0, data: []))
                    logger.info("upload expiry: data of \(id) aborted, no session named it")
                }
            }
        } catch {
            logger.warning("upload expiry: stale upload data not listed: \(error)")
        }
        return expired
    }

    /// This storage's handles are its own: anything else is a programming error.
    static func own(_ upload: any UploadHandle) -> ComposedUpload {
        guard let upload = upload as? ComposedUpload else { preconditionFailure("not an upload of this storage: \(type(of: upload))") }
        return upload
    }
}

/// A session held by one request.
final class ComposedUpload: UploadHandle, @unchecked Sendable {
    /// Changed only by the request holding the session (its appender's `finish`, release).
    var session: UploadSession
    /// The size when the request took the session: bytes since make it active.
    let sizeWhenAcquired: Int64

    init(_ session: UploadSession) {
        self.session = session
        sizeWhenAcquired = session.state.size
    }

    var id: UploadID { session.id }
    var repository: RepositoryName { session.repository }
    var size: Int64 { session.state.size }
}

/// The blob storage's appender, recording the state it ends with in the session.
final class SessionAppender: BlobAppender, @unchecked Sendable {
    private let inner: any BlobAppender
    private let upload: ComposedUpload

    init(_ inner: any BlobAppender, _ upload: ComposedUpload) {
        self.inner = inner
        self.upload = upload
    }

    func write(_ chunk: [UInt8]) async throws(StoreError) {
        try await inner.write(chunk)
    }

    func reclaim() -> [[UInt8]] {
        inner.reclaim()
    }

    func finish() async -> (UploadState, StoreError?) {
        let (state, failure) = await inner.finish()
        upload.session.state = state
        return (state, failure)
    }
}
