@testable import BlobStore
import Glibc
import Logging
import OCIModel
import StoreMaintenance
import Synchronization
import SystemIO
import Testing
import TestSupport

/// `ComposedStorage` over the filesystem halves (`FileBlobStorage` + `BlobStore` as metadata, one folder),
/// through `RegistryStorage` and `CollectableStore` as the registry and the collector use it.
@Suite(.offCooperativePool) struct ComposedStorageTests {
    /// A composed storage in a temporary folder, with a clock the test moves.
    final class Fixture: @unchecked Sendable {
        let root = makeTemporaryDirectory(prefix: "swr-composed")
        let blobs: FileBlobStorage
        let store: BlobStore
        let metadata: CountingMetadataStore
        let storage: ComposedStorage
        let pool = BlockingPool(threadCount: 2)
        /// Seconds since the epoch, as the storage sees them.
        final class Clock: Sendable { let seconds = Atomic<Int>(Int(time(nil))) }
        let now = Clock()

        init(limits: UploadLimits = UploadLimits()) throws {
            blobs = try FileBlobStorage(root: root, pool: pool)
            store = try BlobStore(root: root)
            metadata = CountingMetadataStore(store)
            let now = now
            storage = ComposedStorage(blobs: blobs, metadata: metadata, uploadLimits: limits,
                                      logger: Logger(label: "test"), redirect: false, clock: { now.seconds.load(ordering: .relaxed) })
        }

        func remove() {
            pool.shutdown()
            FileSystem.removeTree(root)
        }

        /// One request's body through the storage's appender.
        func send(_ chunks: [[UInt8]], _ upload: any UploadHandle) async throws {
            let appender = try storage.appender(for: upload, declaredLength: nil, pool: pool)
            for chunk in chunks { try await appender.write(chunk) }
            let (_, failure) = await appender.finish()
            if let failure { throw failure }
        }

        /// A blob uploaded and committed into `repo`, as a client pushes it.
        func push(_ repo: RepositoryName, _ bytes: [UInt8]) async throws -> Digest {
            let upload = try storage.startUpload(repo, owner: "test", kind: .resumable)
            try await send([bytes], upload)
            let digest = Digest.sha256(of: bytes)
            try storage.commitUpload(upload, expected: digest)
            return digest
        }

        /// An image (config and layer pushed) put with `tag`.
        func pushImage(_ repo: RepositoryName, seed: String, tag: Tag?) async throws -> (Digest, [UInt8]) {
            let config = Array(#"{"seed":"\#(seed)"}"#.utf8), layer = Array("layer \(seed)".utf8)
            let configDigest = try await push(repo, config), layerDigest = try await push(repo, layer)
            let text = #"{"schemaVersion":2,"mediaType":"\#(MediaType.ociManifest.rawValue)","config":{"mediaType":"\#(MediaType.ociConfig.rawValue)","digest":"\#(configDigest)","size":\#(config.count)},"layers":[{"mediaType":"\#(MediaType.ociLayerGzip.rawValue)","digest":"\#(layerDigest)","size":\#(layer.count)}]}"#
            let bytes = Array(text.utf8)
            let digest = Digest.sha256(of: bytes)
            let refusal = try storage.putManifest(repo, bytes: bytes, digest: digest, mediaType: MediaType.ociManifest.rawValue,
                                                  tag: tag, subject: nil, referrer: nil,
                                                  references: ManifestReferences(bytes: bytes)) { () -> StoreError? in nil }
            precondition(refusal == nil)
            return (digest, bytes)
        }
    }

    @Test func uploadInChunksAcrossRequests() async throws {
        let f = try Fixture()
        defer { f.remove() }
        let repo = try RepositoryName(validating: "composed/up")
        let upload = try f.storage.startUpload(repo, owner: "client", kind: .resumable)
        let id = upload.id.value
        #expect(throws: StoreError.uploadBusy(id)) { _ = try f.storage.acquireUpload(id, for: repo) }
        try await f.send([Array("first ".utf8), Array("request".utf8)], upload)
        #expect(upload.size == 13 && upload.rangeHeader == "0-12")
        f.storage.releaseUpload(upload)

        let second = try f.storage.acquireUpload(id, for: repo)
        #expect(second.size == 13)
        try await f.send([Array(", second".utf8)], second)
        f.storage.releaseUpload(second)
        #expect(throws: StoreError.uploadUnknown(id)) { _ = try f.storage.acquireUpload(id, for: try RepositoryName(validating: "composed/other")) }
        #expect(throws: StoreError.uploadUnknown("nope")) { _ = try f.storage.acquireUpload("nope", for: repo) }

        let all = Array("first request, second".utf8)
        let third = try f.storage.acquireUpload(id, for: repo)
        let wrong = Digest.sha256(of: Array("wrong".utf8))
        #expect(throws: StoreError.digestMismatch(expected: wrong, actual: Digest.sha256(of: all))) {
            try f.storage.commitUpload(third, expected: wrong)
        }
        f.storage.releaseUpload(third)
        let last = try f.storage.acquireUpload(id, for: repo)
        #expect(last.size == Int64(all.count), "a mismatch leaves the upload as it was")
        try f.storage.commitUpload(last, expected: Digest.sha256(of: all))

        let digest = Digest.sha256(of: all)
        #expect(try f.storage.linkedBlobSize(repo, digest) == Int64(all.count))
        #expect(try f.storage.isLinked(repo, digest))
        #expect(try f.storage.blobSize(digest) == Int64(all.count))
        guard case .file(let fd, let size) = try f.storage.blobContent(repo, digest) else { Issue.record("not a file"); return }
        var read = [UInt8](repeating: 0, count: Int(size))
        #expect(read.withUnsafeMutableBytes { pread(fd.rawValue, $0.baseAddress, $0.count, 0) } == all.count)
        #expect(read == all)
        #expect(throws: StoreError.uploadUnknown(id)) { _ = try f.storage.acquireUpload(id, for: repo) }
        #expect(try f.metadata.uploadCount() == 0)
        #expect(try f.blobs.staleUploads(startedBefore: Int64.max) == [])
        // Mount into another repository, then unlink.
        let other = try RepositoryName(validating: "composed/mounted")
        try f.storage.linkBlob(other, digest)
        #expect(try f.storage.linkedBlobSize(other, digest) == Int64(all.count))
        try f.storage.unlinkBlob(other, digest)
        #expect(throws: StoreError.blobUnknown(digest)) { try f.storage.unlinkBlob(other, digest) }
        #expect(throws: StoreError.blobUnknown(digest)) { _ = try f.storage.blobContent(other, digest) }
        let never = Digest.sha256(of: Array("never".utf8))
        #expect(throws: StoreError.blobUnknown(never)) { try f.storage.linkBlob(other, never) }
        #expect(f.storage.readinessProblem() == nil)
        #expect(!f.storage.isCheapOnEventLoop)
    }

    @Test func cancelAndExpiry() async throws {
        let f = try Fixture(limits: UploadLimits(maxOpen: 2, maxPerOwner: 2, idleTimeout: 900, maxAge: 86_400))
        defer { f.remove() }
        let repo = try RepositoryName(validating: "composed/expire")
        let cancelled = try f.storage.startUpload(repo, owner: "c", kind: .resumable)
        try await f.send([Array("to be cancelled".utf8)], cancelled)
        f.storage.cancelUpload(cancelled)
        #expect(throws: StoreError.uploadUnknown(cancelled.id.value)) { _ = try f.storage.acquireUpload(cancelled.id.value, for: repo) }
        #expect(try f.blobs.staleUploads(startedBefore: Int64.max) == [])

        let idle = try f.storage.startUpload(repo, owner: "c", kind: .resumable)
        try await f.send([Array("left idle".utf8)], idle)
        f.storage.releaseUpload(idle)
        let busy = try f.storage.startUpload(repo, owner: "c", kind: .resumable)
        // Data a replica began before it died, no session naming it.
        let orphan = UploadID.random()
        _ = try f.blobs.beginUpload(orphan)
        #expect(f.storage.expireUploads() == 0)
        #expect(try Set(f.blobs.staleUploads(startedBefore: Int64.max)) == [idle.id, busy.id, orphan])

        f.now.seconds.add(1000, ordering: .relaxed)
        #expect(f.storage.expireUploads() == 1, "the idle one; the one in use stays")
        #expect(throws: StoreError.uploadUnknown(idle.id.value)) { _ = try f.storage.acquireUpload(idle.id.value, for: repo) }
        #expect(try f.blobs.staleUploads(startedBefore: Int64.max) == [busy.id], "idle data and orphan data gone")
        // At the limit, expired sessions give way before a refusal.
        let next = try f.storage.startUpload(repo, owner: "c", kind: .resumable)
        #expect(throws: StoreError.tooManyUploads(limit: 2)) { _ = try f.storage.startUpload(repo, owner: "d", kind: .resumable) }
        #expect(try f.blobs.staleUploads(startedBefore: Int64.max).count == 2, "a refused start leaves no data")
        f.storage.cancelUpload(next)
        f.storage.cancelUpload(busy)
    }

    @Test func manifestsThroughRegistryStorage() async throws {
        let f = try Fixture()
        defer { f.remove() }
        let repo = try RepositoryName(validating: "composed/manifests")
        let latest = try Tag(validating: "latest")
        let (digest, bytes) = try await f.pushImage(repo, seed: "one", tag: latest)
        #expect(try f.storage.resolve(repo, tag: latest) == digest)
        let stored = try f.storage.manifest(repo, digest, maxBytes: 1 << 20)
        #expect(stored.bytes == bytes && stored.mediaType == MediaType.ociManifest.rawValue)
        #expect(throws: StoreError.self) { _ = try f.storage.manifest(repo, digest, maxBytes: bytes.count - 1) }
        #expect(try f.storage.manifestMediaType(repo, digest) == MediaType.ociManifest.rawValue)
        #expect(try f.storage.tagPage(repo, after: nil, limit: nil) == (["latest"], false))
        #expect(try f.storage.repositoryPage(after: nil, limit: 10, include: { _ in true }) == (["composed/manifests"], false))
        #expect(try f.storage.repositoryExists(repo))

        // The registry's refusal stores nothing; so does the metadata store's own check.
        struct Refusal: Error, Equatable {}
        let other = Array(#"{"schemaVersion":2,"layers":[{"digest":"\#(Digest.sha256(of: Array("absent".utf8)))"}]}"#.utf8)
        let otherDigest = Digest.sha256(of: other)
        #expect(try f.storage.putManifest(repo, bytes: other, digest: otherDigest, mediaType: "x", tag: latest, subject: nil,
                                          referrer: nil, references: ManifestReferences(bytes: other)) { Refusal() } == Refusal())
        #expect(throws: StoreError.manifestBlobUnknown(Digest.sha256(of: Array("absent".utf8)))) {
            _ = try f.storage.putManifest(repo, bytes: other, digest: otherDigest, mediaType: "x", tag: latest, subject: nil,
                                          referrer: nil, references: ManifestReferences(bytes: other)) { () -> Refusal? in nil }
        }
        #expect(try f.storage.resolve(repo, tag: latest) == digest)
        #expect(throws: StoreError.manifestUnknown(otherDigest.description)) { _ = try f.storage.manifest(repo, otherDigest, maxBytes: 1 << 20) }

        try f.storage.deleteTag(repo, latest)
        #expect(throws: StoreError.manifestUnknown("latest")) { try f.storage.deleteTag(repo, latest) }
        #expect(throws: StoreError.manifestUnknown("latest")) { _ = try f.storage.resolve(repo, tag: latest) }
        try f.storage.deleteManifest(repo, digest, subject: nil)
        #expect(throws: StoreError.manifestUnknown(digest.description)) { try f.storage.deleteManifest(repo, digest, subject: nil) }
        #expect(throws: StoreError.manifestUnknown(digest.description)) { _ = try f.storage.manifest(repo, digest, maxBytes: 1 << 20) }
    }

    @Test func cacheIsValidAtOneGenerationOnly() async throws {
        let f = try Fixture()
        defer { f.remove() }
        let repo = try RepositoryName(validating: "composed/cache")
        let tag = try Tag(validating: "moving")
        let (one, _) = try await f.pushImage(repo, seed: "one", tag: tag)
        let (two, twoBytes) = try await f.pushImage(repo, seed: "two", tag: nil)

        #expect(try f.storage.resolve(repo, tag: tag) == one)
        let resolves = f.metadata.resolves.load(ordering: .relaxed)
        #expect(try f.storage.resolve(repo, tag: tag) == one)
        #expect(f.metadata.resolves.load(ordering: .relaxed) == resolves, "served from the cache")
        _ = try f.storage.manifest(repo, two, maxBytes: 1 << 20)
        let reads = f.metadata.manifestReads.load(ordering: .relaxed)
        #expect(try f.storage.manifest(repo, two, maxBytes: 1 << 20).bytes == twoBytes)
        #expect(f.metadata.manifestReads.load(ordering: .relaxed) == reads)

        // Moved behind the storage's back (as another replica would): the generation moves, the cache goes.
        let generation = f.storage.metadataGeneration
        _ = try f.store.putManifest(repo, bytes: twoBytes, digest: two, mediaType: MediaType.ociManifest.rawValue, tag: tag,
                                    subject: nil, referrer: nil)
        #expect(f.storage.metadataGeneration != generation)
        #expect(try f.storage.resolve(repo, tag: tag) == two)
        #expect(f.metadata.resolves.load(ordering: .relaxed) == resolves + 1)
        #expect(try f.storage.manifest(repo, two, maxBytes: 1 << 20).bytes == twoBytes)
        #expect(f.metadata.manifestReads.load(ordering: .relaxed) == reads + 1)
    }

    @Test func collectedByTheGarbageCollector() async throws {
        let f = try Fixture()
        defer { f.remove() }
        let repo = try RepositoryName(validating: "composed/gc")
        let kept = try Tag(validating: "kept")
        let (image, _) = try await f.pushImage(repo, seed: "kept", tag: kept)
        let (untagged, _) = try await f.pushImage(repo, seed: "untagged", tag: nil)
        let loose = try await f.push(repo, Array("unlinked soon".utf8))
        try f.storage.unlinkBlob(repo, loose)
        let idle = try f.storage.startUpload(repo, owner: "gc", kind: .resumable)
        f.storage.releaseUpload(idle)
        f.now.seconds.add(100_000, ordering: .relaxed)
        // Past the filesystem clock's tick: everything above is older than the collection's start.
        usleep(50_000)

        let report = try GarbageCollector(store: f.storage, options: GCOptions(deleteUntagged: true, graceSeconds: 0),
                                          output: CollectedOutput()).run()
        #expect(report.count(.manifest) == 1)
        #expect(report.count(.upload) == 1)
        #expect(try f.blobs.size(of: loose) == nil, "the unlinked blob went")
        #expect(try f.metadata.blobSize(loose) == nil)
        #expect(throws: StoreError.manifestUnknown(untagged.description)) { _ = try f.storage.manifest(repo, untagged, maxBytes: 1 << 20) }
        #expect(try f.storage.resolve(repo, tag: kept) == image)
        let stored = try f.storage.manifest(repo, image, maxBytes: 1 << 20)
        for blob in ManifestReferences(bytes: stored.bytes).blobs {
            #expect(try f.storage.linkedBlobSize(repo, blob) != nil && f.blobs.size(of: blob) != nil)
        }
        // A second collection finds nothing more.
        let again = try GarbageCollector(store: f.storage, options: GCOptions(deleteUntagged: true, graceSeconds: 0),
                                         output: CollectedOutput()).run()
        #expect(again.removals.isEmpty, "\(again.removals)")
    }

    @Test func leasesOfHeldSessionsAreRenewed() throws {
        let f = try Fixture()
        defer { f.remove() }
        let repo = try RepositoryName(validating: "composed/lease")
        let now = Int(time(nil))
        let session = UploadSession(id: UploadID.random(), repository: repo, owner: "o", kind: .resumable, started: now,
                                    lastActive: now, state: UploadState(size: 0, data: []))
        try f.store.createUpload(session, limits: UploadLimits())
        try f.store.releaseUpload(session)
        _ = try f.store.acquireUpload(session.id, for: repo, leaseSeconds: 3)
        // Renewed every second (a third of the lease) while held: still busy well past the 3 s.
        let keeper = LeaseKeeper(metadata: f.store, leaseSeconds: 3, logger: Logger(label: "test"))
        defer { keeper.stop() }
        keeper.hold(session.id)
        usleep(4_500_000)
        #expect(throws: StoreError.uploadBusy(session.id.value)) { _ = try f.store.acquireUpload(session.id, for: repo, leaseSeconds: 3) }
        // Let go (a replica that died): the lease lapses.
        keeper.release(session.id)
        usleep(3_500_000)
        #expect(try f.store.acquireUpload(session.id, for: repo, leaseSeconds: 3) == session)
    }

    /// The database goes away between the blob storage's commit and the link: the commit fails (503), the session
    /// cannot be removed then, and would stay leased to the ended request — a retry got "another request is
    /// writing" for the rest of the lease (Tests/e2e/faults_e2e.sh). It is removed once the database answers again,
    /// so the retry is told to start again (404 BLOB_UPLOAD_UNKNOWN), and that upload commits.
    @Test func aSessionWhoseRemovalFailedAtCommitIsRemovedOnceTheDatabaseAnswers() async throws {
        let f = try Fixture()
        defer { f.remove() }
        let repo = try RepositoryName(validating: "composed/cut")
        let bytes = Array("committed while the database went away".utf8)
        let digest = Digest.sha256(of: bytes)
        let upload = try f.storage.startUpload(repo, owner: "o", kind: .resumable)
        try await f.send([bytes], upload)
        f.metadata.unreachable.store(true, ordering: .relaxed)
        #expect(throws: StoreError.unavailable("test: database unreachable")) {
            try f.storage.commitUpload(upload, expected: digest)
        }
        #expect(f.storage.keeper.pendingRemovals == [upload.id])
        #expect(throws: StoreError.uploadBusy(upload.id.value)) {
            _ = try f.storage.acquireUpload(upload.id.value, for: repo)
        }
        // Still away for a few rounds of the keeper: nothing changes.
        usleep(1_500_000)
        #expect(f.storage.keeper.pendingRemovals == [upload.id])
        f.metadata.unreachable.store(false, ordering: .relaxed)
        var waited = 0
        while !f.storage.keeper.pendingRemovals.isEmpty && waited < 100 {
            usleep(100_000)
            waited += 1
        }
        #expect(f.storage.keeper.pendingRemovals.isEmpty)
        #expect(throws: StoreError.uploadUnknown(upload.id.value)) {
            _ = try f.storage.acquireUpload(upload.id.value, for: repo)
        }
        #expect(try !f.storage.isLinked(repo, digest), "the failed commit linked nothing")
        // The client starts again: the same bytes commit and link.
        #expect(try await f.push(repo, bytes) == digest)
        #expect(try f.storage.linkedBlobSize(repo, digest) == Int64(bytes.count))
    }

    @Test func embeddedStoreLeavesBlobStorageUploadsAlone() throws {
        let root = makeTemporaryDirectory(prefix: "swr-shared")
        defer { FileSystem.removeTree(root) }
        let blobs = try FileBlobStorage(root: root)
        let id = UploadID.random()
        _ = try blobs.beginUpload(id)
        // A store opened on the folder (which deletes uploads it cannot continue) keeps it, and does not count it.
        let store = try BlobStore(root: root)
        #expect(store.uploads.openCount == 0 && store.uploads.removedAtStart == 0)
        #expect(try blobs.staleUploads(startedBefore: Int64.max) == [id])
        // And the blob storage leaves the store's own sessions to it.
        let own = try store.uploads.start(try RepositoryName(validating: "own"), owner: "o")
        store.uploads.release(own)
        #expect(try blobs.staleUploads(startedBefore: Int64.max) == [id])
    }

    @Test func aBlobCollectedBeforeItsLinkIsNeverLinked() async throws {
        let f = try Fixture()
        defer { f.remove() }
        let hooked = HookedBlobStorage(f.blobs)
        let storage = ComposedStorage(blobs: hooked, metadata: f.store, uploadLimits: UploadLimits(),
                                      logger: Logger(label: "test"), redirect: false, clock: { Int(time(nil)) })
        let repo = try RepositoryName(validating: "composed/race")
        let bytes = Array("committed, then taken by a collector".utf8)
        let digest = Digest.sha256(of: bytes)
        // The blob goes between its commit and its link, as a collection that listed it unrecorded would take it.
        hooked.afterCommit = { digest in _ = try? hooked.delete(digest) }
        let upload = try storage.startUpload(repo, owner: "o", kind: .resumable)
        let appender = try storage.appender(for: upload, declaredLength: nil, pool: f.pool)
        try await appender.write(bytes)
        #expect(await appender.finish().1 == nil)
        #expect(throws: StoreError.uploadUnknown(upload.id.value)) { try storage.commitUpload(upload, expected: digest) }
        #expect(try !storage.isLinked(repo, digest), "no link to a missing blob")
        #expect(try f.store.uploadCount() == 0, "the session went with its data: the client starts again")

        // Without the collector, the same push links.
        hooked.afterCommit = { _ in }
        let again = try storage.startUpload(repo, owner: "o", kind: .resumable)
        let writer = try storage.appender(for: again, declaredLength: nil, pool: f.pool)
        try await writer.write(bytes)
        #expect(await writer.finish().1 == nil)
        try storage.commitUpload(again, expected: digest)
        #expect(try storage.linkedBlobSize(repo, digest) == Int64(bytes.count))
    }
}
