import BlobStore
import Foundation
import Glibc
import Synchronization
import OCIModel
import SystemIO
import Testing
import TestSupport

/// The contract of `MetadataStore` (its doc comments), against every backend in `MetadataBackend.all`.
@Suite(.offCooperativePool) struct MetadataStoreContractTests {
    @Test(arguments: MetadataBackend.all)
    func repositoriesPageInByteOrder(_ backend: MetadataBackend) throws {
        let f = try backend.make()
        defer { f.cleanup() }
        let blob = try Self.storeBlob(f, "shared layer")
        // '-' (0x2D) < '/' (0x2F) < letters: nested names sort among the others by their bytes.
        let names = ["b", "a/b/c", "ab", "a", "a-b", "a/b", "z9/x"]
        for name in names { try f.store.link(try RepositoryName(validating: name), blob.digest, size: blob.size, requireKnown: false) }
        let sorted = ["a", "a-b", "a/b", "a/b/c", "ab", "b", "z9/x"]
        #expect(try f.store.repositoryPage(after: nil, limit: 100, include: { _ in true }) == (sorted, false))
        var pages: [[String]] = []
        var last: String?
        while true {
            let (page, more) = try f.store.repositoryPage(after: last, limit: 3, include: { _ in true })
            pages.append(page)
            last = page.last
            if !more { break }
        }
        #expect(pages == [["a", "a-b", "a/b"], ["a/b/c", "ab", "b"], ["z9/x"]])
        #expect(try f.store.repositoryPage(after: "a/b", limit: 2, include: { _ in true }) == (["a/b/c", "ab"], true))
        #expect(try f.store.repositoryPage(after: "zz", limit: 2, include: { _ in true }) == ([], false))
        // The filter applies before the limit: a page holds `limit` names that pass it.
        #expect(try f.store.repositoryPage(after: nil, limit: 2, include: { !$0.contains("/") }) == (["a", "a-b"], true))
        #expect(try f.store.repositoryPage(after: "a-b", limit: 5, include: { !$0.contains("/") }) == (["ab", "b"], false))
        #expect(try f.store.repositoryExists(try RepositoryName(validating: "a/b")))
        #expect(try !f.store.repositoryExists(try RepositoryName(validating: "a/bc")))
        #expect(try Set(f.store.repositoryNames().map(\.value)) == Set(names))
    }

    @Test(arguments: MetadataBackend.all)
    func linksRecordSizesAndMounts(_ backend: MetadataBackend) throws {
        let f = try backend.make()
        defer { f.cleanup() }
        let repo = try RepositoryName(validating: "links/one"), other = try RepositoryName(validating: "links/two")
        let blob = try Self.storeBlob(f, "a layer of 26 bytes or so")
        #expect(try f.store.linkedBlobSize(repo, blob.digest, refreshAfter: 0) == nil)
        #expect(try f.store.blobSize(blob.digest) == nil || backend.name == "filesystem")
        try f.store.link(repo, blob.digest, size: blob.size, requireKnown: false)
        #expect(try f.store.linkedBlobSize(repo, blob.digest, refreshAfter: 3600) == blob.size)
        #expect(try f.store.blobSize(blob.digest) == blob.size)
        #expect(try f.store.linkedBlobSize(other, blob.digest, refreshAfter: 3600) == nil)
        // A mount needs the blob recorded.
        let unknown = Digest.sha256(of: Array("never stored".utf8))
        #expect(throws: StoreError.blobUnknown(unknown)) { try f.store.link(other, unknown, size: nil, requireKnown: true) }
        try f.store.link(other, blob.digest, size: nil, requireKnown: true)
        #expect(try f.store.linkedBlobSize(other, blob.digest, refreshAfter: 3600) == blob.size)
        // Refreshing: an old enough link gets a new time, a young one keeps its own.
        let time = { () throws -> Int64? in try f.store.layerLinkEntries(repo).first { $0.digest == blob.digest }?.modified }
        let before = try #require(try time())
        usleep(30_000)
        _ = try f.store.linkedBlobSize(repo, blob.digest, refreshAfter: Int.max)
        #expect(try time() == before)
        _ = try f.store.linkedBlobSize(repo, blob.digest, refreshAfter: 0)
        #expect(try #require(try time()) > before)

        #expect(try f.store.unlink(repo, blob.digest))
        #expect(try !f.store.unlink(repo, blob.digest))
        #expect(try f.store.linkedBlobSize(repo, blob.digest, refreshAfter: 0) == nil)
        #expect(try f.store.linkedBlobSize(other, blob.digest, refreshAfter: 0) == blob.size)
    }

    @Test(arguments: MetadataBackend.all)
    func putManifestWithMissingReferencesStoresNothing(_ backend: MetadataBackend) throws {
        let f = try backend.make()
        defer { f.cleanup() }
        let repo = try RepositoryName(validating: "put/missing")
        let config = try Self.storeBlob(f, #"{"os":"linux"}"#)
        let layer = try Self.storeBlob(f, "layer bytes")
        try f.store.link(repo, config.digest, size: config.size, requireKnown: false)
        let image = Self.image(config: config, layers: [layer])
        let tag = try Tag(validating: "v1")
        #expect(try f.store.putManifest(repo, image, tag: tag) == .blob(layer.digest))
        #expect(try f.store.manifest(repo, image.digest) == nil)
        #expect(try f.store.manifestMediaType(repo, image.digest) == nil)
        #expect(try f.store.resolve(repo, tag) == nil)
        #expect(try f.store.tagPage(repo, after: nil, limit: nil).tags == [])

        try f.store.link(repo, layer.digest, size: layer.size, requireKnown: false)
        #expect(try f.store.putManifest(repo, image, tag: tag) == nil)
        let stored = try #require(try f.store.manifest(repo, image.digest))
        #expect(stored.bytes == image.bytes && stored.digest == image.digest && stored.mediaType == image.mediaType)
        #expect(try f.store.manifestMediaType(repo, image.digest) == image.mediaType)
        #expect(try f.store.resolve(repo, tag) == image.digest)
        #expect(try f.store.manifestBytes(image.digest, maxBytes: 1 << 20) == image.bytes)
        #expect(try f.store.manifest(try RepositoryName(validating: "put/other"), image.digest) == nil)

        // An index needs its children in the repository.
        let absent = Self.image(config: config, layers: [], seed: "absent child")
        let index = Self.index([image, absent])
        #expect(try f.store.putManifest(repo, index, tag: try Tag(validating: "multi")) == .manifest(absent.digest))
        #expect(try f.store.manifest(repo, index.digest) == nil)
        #expect(try f.store.resolve(repo, try Tag(validating: "multi")) == nil)
        #expect(try f.store.putManifest(repo, Self.index([image]), tag: try Tag(validating: "multi")) == nil)
        #expect(try f.store.resolve(repo, try Tag(validating: "multi")) == Self.index([image]).digest)
    }

    @Test(arguments: MetadataBackend.all)
    func tagsMoveAndGo(_ backend: MetadataBackend) throws {
        let f = try backend.make()
        defer { f.cleanup() }
        let repo = try RepositoryName(validating: "tags/move")
        let (one, two) = (try Self.pushImage(f, repo, seed: "one"), try Self.pushImage(f, repo, seed: "two"))
        let latest = try Tag(validating: "latest")
        #expect(try f.store.putManifest(repo, one, tag: latest) == nil)
        #expect(try f.store.resolve(repo, latest) == one.digest)
        #expect(try f.store.putManifest(repo, two, tag: latest) == nil)
        #expect(try f.store.resolve(repo, latest) == two.digest)
        #expect(try f.store.tagEntries(repo).map { [$0.tag.value, $0.digest.description] } == [["latest", two.digest.description]])
        #expect(try f.store.deleteTag(repo, latest))
        #expect(try !f.store.deleteTag(repo, latest))
        #expect(try f.store.resolve(repo, latest) == nil)
        #expect(try f.store.manifest(repo, two.digest) != nil, "the manifest stays")
    }

    @Test(arguments: MetadataBackend.all)
    func deleteManifestTakesItsTagsAndReferrerEntry(_ backend: MetadataBackend) throws {
        let f = try backend.make()
        defer { f.cleanup() }
        let repo = try RepositoryName(validating: "delete/me")
        let subject = try Self.pushImage(f, repo, seed: "subject")
        let (t1, t2, keep) = (try Tag(validating: "t1"), try Tag(validating: "t2"), try Tag(validating: "keep"))
        _ = try f.store.putManifest(repo, subject, tag: t1)
        _ = try f.store.putManifest(repo, subject, tag: t2)
        let other = try Self.pushImage(f, repo, seed: "other")
        _ = try f.store.putManifest(repo, other, tag: keep)
        let signature = try Self.pushImage(f, repo, seed: "signature", subject: subject, tag: nil)
        #expect(try f.store.referrers(repo, subject: subject.digest) == [try #require(signature.referrer)])
        #expect(try f.store.referrerEntries(repo) == [subject.digest: [signature.digest]])

        #expect(try f.store.deleteManifest(repo, signature.digest))
        #expect(try f.store.referrers(repo, subject: subject.digest) == [])
        #expect(try f.store.deleteManifest(repo, subject.digest))
        #expect(try !f.store.deleteManifest(repo, subject.digest))
        #expect(try f.store.resolve(repo, t1) == nil && f.store.resolve(repo, t2) == nil)
        #expect(try f.store.manifest(repo, subject.digest) == nil)
        #expect(try f.store.resolve(repo, keep) == other.digest)
        #expect(try f.store.tagPage(repo, after: nil, limit: nil) == (["keep"], false))
    }

    @Test(arguments: MetadataBackend.all)
    func tagsPageInByteOrder(_ backend: MetadataBackend) throws {
        let f = try backend.make()
        defer { f.cleanup() }
        let repo = try RepositoryName(validating: "tags/page")
        let image = try Self.pushImage(f, repo, seed: "tagged")
        let tags = ["latest", "A", "1.0", "b_3", "b-1", "b.2", "Z", "a"]
        for tag in tags { _ = try f.store.putManifest(repo, image, tag: try Tag(validating: tag)) }
        let sorted = tags.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        #expect(sorted == ["1.0", "A", "Z", "a", "b-1", "b.2", "b_3", "latest"])
        #expect(try f.store.tagPage(repo, after: nil, limit: nil) == (sorted, false))
        #expect(try f.store.tagPage(repo, after: nil, limit: 3) == (["1.0", "A", "Z"], true))
        #expect(try f.store.tagPage(repo, after: "Z", limit: 3) == (["a", "b-1", "b.2"], true))
        #expect(try f.store.tagPage(repo, after: "b.2", limit: 3) == (["b_3", "latest"], false))
        #expect(try f.store.tagPage(repo, after: "latest", limit: 3) == ([], false))
        #expect(throws: StoreError.nameUnknown("tags/none")) {
            _ = try f.store.tagPage(try RepositoryName(validating: "tags/none"), after: nil, limit: nil)
        }
    }

    @Test(arguments: MetadataBackend.all)
    func referrersAreListedInAStableOrder(_ backend: MetadataBackend) throws {
        let f = try backend.make()
        defer { f.cleanup() }
        let repo = try RepositoryName(validating: "ref/list")
        let subject = try Self.pushImage(f, repo, seed: "the subject")
        let first = try Self.pushImage(f, repo, seed: "sbom", subject: subject, tag: nil)
        let second = try Self.pushImage(f, repo, seed: "signature", subject: subject, tag: nil)
        let listed = try f.store.referrers(repo, subject: subject.digest)
        #expect(Set(listed.map(\.digest)) == [first.digest, second.digest])
        #expect(try f.store.referrers(repo, subject: subject.digest) == listed)
        #expect(try f.store.referrers(try RepositoryName(validating: "ref/other"), subject: subject.digest) == [])
        // A referrer may come before its subject.
        let early = Self.image(config: try Self.storeBlob(f, "cfg"), layers: [], seed: "early",
                               subject: Self.image(config: try Self.storeBlob(f, "x"), layers: [], seed: "absent"))
        try f.store.link(repo, try Self.storeBlob(f, "cfg").digest, size: 3, requireKnown: false)
        #expect(try f.store.putManifest(repo, early, tag: nil) == nil)
        #expect(try f.store.referrers(repo, subject: try #require(early.subject)).map(\.digest) == [early.digest])
    }

    @Test(arguments: MetadataBackend.all)
    func generationMovesOnEveryChangeThatCanMakeAReadStale(_ backend: MetadataBackend) throws {
        let f = try backend.make()
        defer { f.cleanup() }
        let repo = try RepositoryName(validating: "gen/one")
        let image = try Self.pushImage(f, repo, seed: "generation", tag: nil)
        let other = try Self.pushImage(f, repo, seed: "generation 2", tag: nil)
        let tag = try Tag(validating: "g")
        #expect(try f.store.putManifest(repo, image, tag: tag) == nil)
        try Self.expectGenerationMoves(f.store) { _ = try f.store.putManifest(repo, other, tag: tag) }
        try Self.expectGenerationMoves(f.store) { _ = try f.store.putManifest(repo, image, tag: tag) }
        try Self.expectGenerationMoves(f.store) { _ = try f.store.deleteTag(repo, tag) }
        #expect(try f.store.putManifest(repo, image, tag: tag) == nil)
        try Self.expectGenerationMoves(f.store) { _ = try f.store.deleteManifest(repo, image.digest) }
        #expect(try f.store.resolve(repo, tag) == nil)
    }

    @Test(arguments: MetadataBackend.all)
    func uploadSessionsAreLeased(_ backend: MetadataBackend) throws {
        let f = try backend.make()
        defer { f.cleanup() }
        let repo = try RepositoryName(validating: "up/lease")
        let now = Int(time(nil))
        var session = UploadSession(id: UploadID.random(), repository: repo, owner: "client 1", kind: .resumable,
                                    started: now, lastActive: now, state: UploadState(size: 0, data: [1, 2, 3]))
        let limits = UploadLimits()
        try f.store.createUpload(session, limits: limits)
        #expect(try f.store.uploadCount() == 1)
        #expect(try f.store.uploadIDs() == [session.id])
        // Created leased to its request.
        #expect(throws: StoreError.uploadBusy(session.id.value)) { _ = try f.store.acquireUpload(session.id, for: repo, leaseSeconds: 30) }
        session.state = UploadState(size: 42, data: Array(repeating: 0xAB, count: 300))
        session.lastActive = now + 5
        try f.store.releaseUpload(session)

        var taken = try f.store.acquireUpload(session.id, for: repo, leaseSeconds: 1)
        #expect(taken == session, "the saved state and time come back")
        #expect(throws: StoreError.uploadBusy(session.id.value)) { _ = try f.store.acquireUpload(session.id, for: repo, leaseSeconds: 30) }
        // A holder that stops renewing loses the lease.
        usleep(1_300_000)
        taken = try f.store.acquireUpload(session.id, for: repo, leaseSeconds: 1)
        // Renewed, it holds.
        try f.store.renewUpload(session.id, leaseSeconds: 30)
        usleep(1_300_000)
        #expect(throws: StoreError.uploadBusy(session.id.value)) { _ = try f.store.acquireUpload(session.id, for: repo, leaseSeconds: 30) }
        try f.store.releaseUpload(taken)
        #expect(try f.store.acquireUpload(session.id, for: repo, leaseSeconds: 30) == taken)
        try f.store.releaseUpload(taken)

        let unknown = UploadID.random()
        #expect(throws: StoreError.uploadUnknown(session.id.value)) {
            _ = try f.store.acquireUpload(session.id, for: try RepositoryName(validating: "up/other"), leaseSeconds: 30)
        }
        #expect(throws: StoreError.uploadUnknown(unknown.value)) { _ = try f.store.acquireUpload(unknown, for: repo, leaseSeconds: 30) }
        let monolithic = UploadSession(id: UploadID.random(), repository: repo, owner: "client 1", kind: .monolithic,
                                       started: now, lastActive: now, state: UploadState(size: 0, data: []))
        try f.store.createUpload(monolithic, limits: limits)
        try f.store.releaseUpload(monolithic)
        #expect(throws: StoreError.uploadUnknown(monolithic.id.value)) { _ = try f.store.acquireUpload(monolithic.id, for: repo, leaseSeconds: 30) }

        try f.store.removeUpload(session.id)
        try f.store.removeUpload(session.id)
        try f.store.removeUpload(monolithic.id)
        #expect(try f.store.uploadCount() == 0)
        #expect(throws: StoreError.uploadUnknown(session.id.value)) { _ = try f.store.acquireUpload(session.id, for: repo, leaseSeconds: 30) }
    }

    @Test(arguments: MetadataBackend.all)
    func uploadLimitsAndExpiry(_ backend: MetadataBackend) throws {
        let f = try backend.make()
        defer { f.cleanup() }
        let repo = try RepositoryName(validating: "up/expire")
        let now = Int(time(nil))
        let limits = UploadLimits(maxOpen: 3, maxPerOwner: 2, idleTimeout: 900, maxAge: 86_400)
        func session(_ owner: String, started: Int, lastActive: Int) -> UploadSession {
            UploadSession(id: UploadID.random(), repository: repo, owner: owner, kind: .resumable, started: started,
                          lastActive: lastActive, state: UploadState(size: 7, data: []))
        }
        let idle = session("a", started: now - 1000, lastActive: now - 1000)
        let old = session("a", started: now - 90_000, lastActive: now)
        let fresh = session("b", started: now, lastActive: now)
        for s in [idle, old, fresh] { try f.store.createUpload(s, limits: limits) }
        #expect(throws: StoreError.tooManyUploads(limit: 3)) { try f.store.createUpload(session("c", started: now, lastActive: now), limits: limits) }
        #expect(throws: StoreError.tooManyUploadsForOwner(limit: 2)) {
            try f.store.createUpload(session("a", started: now, lastActive: now), limits: UploadLimits(maxOpen: 10, maxPerOwner: 2))
        }
        #expect(try f.store.uploadCount() == 3)
        // Leased sessions never expire.
        #expect(try f.store.expiredUploads(now: now, limits: limits) == [])
        for s in [idle, old, fresh] { try f.store.releaseUpload(s) }
        #expect(try Set(f.store.expiredUploads(now: now, limits: limits).map(\.id)) == [idle.id, old.id])
        _ = try f.store.acquireUpload(idle.id, for: repo, leaseSeconds: 30)
        #expect(try f.store.expiredUploads(now: now, limits: limits).map(\.id) == [old.id])
        #expect(try f.store.expiredUploads(now: now, limits: limits).first == old, "whole sessions, state included")
        try f.store.releaseUpload(idle)
        for s in [idle, old] { try f.store.removeUpload(s.id) }
        #expect(try f.store.uploadIDs() == [fresh.id])
    }

    @Test(arguments: MetadataBackend.all)
    func collectionEntriesAndCutoffGuardedRemovals(_ backend: MetadataBackend) throws {
        let f = try backend.make()
        defer { f.cleanup() }
        let repo = try RepositoryName(validating: "gc/repo")
        let image = try Self.pushImage(f, repo, seed: "collected", tag: nil)
        let tag = try Tag(validating: "t")
        _ = try f.store.putManifest(repo, image, tag: tag)
        let signature = try Self.pushImage(f, repo, seed: "sig", subject: image, tag: nil)
        let loose = try Self.storeBlob(f, "linked, named by nothing")
        try f.store.link(repo, loose.digest, size: loose.size, requireKnown: false)

        let clock = try f.store.collectionClock()
        #expect(abs(clock / 1_000_000_000 - Int64(time(nil))) < 60)
        #expect(try f.store.exclusively { () throws(StoreError) -> Int in 7 } == 7)
        #expect(try f.store.repositoryNames() == [repo])
        #expect(try f.store.tagEntries(repo).map(\.digest) == [image.digest])
        #expect(try Set(f.store.revisionEntries(repo).map(\.digest)) == [image.digest, signature.digest])
        let layerLinks = Set(try f.store.layerLinkEntries(repo).map(\.digest))
        #expect(layerLinks.isSuperset(of: [loose.digest] + image.references.blobs))
        #expect(try f.store.referrerEntries(repo) == [image.digest: [signature.digest]])
        let blobs = try f.store.blobEntries()
        #expect(blobs.first { $0.digest == loose.digest }?.size == loose.size)
        #expect(blobs.allSatisfy { $0.modified <= clock + 60_000_000_000 })
        #expect(try f.store.manifestBytes(signature.digest, maxBytes: 1 << 20) == signature.bytes)

        // Everything was made just now: an old cutoff removes nothing, a cutoff ahead of the clock removes.
        let old = clock - 3600 * 1_000_000_000, ahead = clock + 60 * 1_000_000_000
        try f.store.exclusively { () throws(StoreError) in
            #expect(try !f.store.removeTag(repo, tag, pointingTo: image.digest, modifiedBefore: old))
            #expect(try !f.store.removeTag(repo, tag, pointingTo: signature.digest, modifiedBefore: ahead), "points elsewhere")
            #expect(try f.store.removeTag(repo, tag, pointingTo: image.digest, modifiedBefore: ahead))
            #expect(try !f.store.removeRevision(repo, signature.digest, subject: image.digest, modifiedBefore: old))
            #expect(try f.store.removeRevision(repo, signature.digest, subject: image.digest, modifiedBefore: ahead))
            #expect(try f.store.removeRevision(repo, image.digest, subject: nil, modifiedBefore: ahead))
            #expect(try !f.store.removeLayerLink(repo, loose.digest, modifiedBefore: old))
            #expect(try f.store.removeLayerLink(repo, loose.digest, modifiedBefore: ahead))
            #expect(try !f.store.removeLayerLink(repo, loose.digest, modifiedBefore: ahead), "gone")
        }
        #expect(try f.store.resolve(repo, tag) == nil)
        #expect(try f.store.manifest(repo, signature.digest) == nil)
        #expect(try f.store.referrers(repo, subject: image.digest) == [])
        #expect(try f.store.linkedBlobSize(repo, loose.digest, refreshAfter: 0) == nil)
        try f.store.exclusively { () throws(StoreError) in
            #expect(try f.store.removeBlobRecord(loose.digest, modifiedBefore: old) == nil)
            #expect(try f.store.removeBlobRecord(loose.digest, modifiedBefore: ahead) == loose.size)
            #expect(try f.store.removeBlobRecord(loose.digest, modifiedBefore: ahead) == nil)
        }
        #expect(try !f.store.blobEntries().contains { $0.digest == loose.digest })
        #expect(f.store.isReachable())
    }

    @Test(arguments: MetadataBackend.all)
    func racingOnOneTagEndsConsistent(_ backend: MetadataBackend) throws {
        let f = try backend.make()
        defer { f.cleanup() }
        let repo = try RepositoryName(validating: "race/tag")
        let images = try (0..<8).map { try Self.pushImage(f, repo, seed: "racer \($0)", tag: nil) }
        let tag = try Tag(validating: "contested")
        let failures = Mutex<[String]>([])
        let store = f.store
        DispatchQueue.concurrentPerform(iterations: 8) { i in
            for round in 0..<10 {
                do {
                    if try store.putManifest(repo, images[i], tag: tag) != nil { failures.withLock { $0.append("refused") } }
                    if round % 3 == 2 { _ = try store.deleteTag(repo, tag) }
                } catch {
                    failures.withLock { $0.append("\(error)") }
                }
            }
            do { _ = try store.putManifest(repo, images[i], tag: tag) } catch { failures.withLock { $0.append("\(error)") } }
        }
        #expect(failures.withLock { $0 } == [])
        let winner = try #require(try f.store.resolve(repo, tag))
        #expect(images.map(\.digest).contains(winner))
        #expect(try f.store.tagEntries(repo).map(\.digest) == [winner])
        #expect(try f.store.tagPage(repo, after: nil, limit: nil) == (["contested"], false))
        for image in images { #expect(try f.store.manifest(repo, image.digest)?.bytes == image.bytes) }
    }
}

// MARK: - Helpers

extension MetadataStoreContractTests {
    struct Blob {
        let digest: Digest
        let size: Int64
        let bytes: [UInt8]
    }

    /// Stores content in the blob storage the metadata store records blobs of.
    static func storeBlob(_ f: MetadataFixture, _ text: String) throws -> Blob {
        let bytes = Array(text.utf8)
        let digest = Digest.sha256(of: bytes)
        try f.blobs.put(bytes, as: digest)
        return Blob(digest: digest, size: Int64(bytes.count), bytes: bytes)
    }

    static func descriptor(_ mediaType: String, _ digest: Digest, _ size: Int) -> String {
        #"{"mediaType":"\#(mediaType)","digest":"\#(digest)","size":\#(size)}"#
    }

    /// An image manifest record (with its referrer descriptor when it has a subject).
    static func image(config: Blob, layers: [Blob], seed: String = "", subject: ManifestRecord? = nil) -> ManifestRecord {
        var text = #"{"schemaVersion":2,"mediaType":"\#(MediaType.ociManifest.rawValue)","#
        text += #""config":\#(descriptor(MediaType.ociConfig.rawValue, config.digest, Int(config.size))),"#
        text += #""layers":[\#(layers.map { descriptor(MediaType.ociLayerGzip.rawValue, $0.digest, Int($0.size)) }.joined(separator: ","))]"#
        if let subject { text += #","subject":\#(descriptor(subject.mediaType, subject.digest, subject.bytes.count))"# }
        text += #","annotations":{"seed":"\#(seed)"}}"#
        let bytes = Array(text.utf8)
        let digest = Digest.sha256(of: bytes)
        let referrer = subject.map { _ in
            Descriptor(mediaType: MediaType(MediaType.ociManifest.rawValue), digest: digest, size: Int64(bytes.count))
        }
        return ManifestRecord(digest: digest, mediaType: MediaType.ociManifest.rawValue, bytes: bytes,
                              subject: subject?.digest, referrer: referrer, references: ManifestReferences(bytes: bytes))
    }

    static func index(_ children: [ManifestRecord]) -> ManifestRecord {
        let text = #"{"schemaVersion":2,"mediaType":"\#(MediaType.ociIndex.rawValue)","manifests":["#
            + children.map { descriptor($0.mediaType, $0.digest, $0.bytes.count) }.joined(separator: ",") + "]}"
        let bytes = Array(text.utf8)
        return ManifestRecord(digest: Digest.sha256(of: bytes), mediaType: MediaType.ociIndex.rawValue, bytes: bytes,
                              subject: nil, referrer: nil, references: ManifestReferences(bytes: bytes))
    }

    /// An image whose config and layer are stored and linked, put (with `tag`) and returned.
    static func pushImage(_ f: MetadataFixture, _ repo: RepositoryName, seed: String, subject: ManifestRecord? = nil,
                          tag: Tag? = nil) throws -> ManifestRecord {
        let config = try storeBlob(f, #"{"seed":"\#(seed)"}"#)
        let layer = try storeBlob(f, "layer of \(seed)")
        for blob in [config, layer] { try f.store.link(repo, blob.digest, size: blob.size, requireKnown: false) }
        let image = image(config: config, layers: [layer], seed: seed, subject: subject)
        let missing = try f.store.putManifest(repo, image, tag: tag)
        precondition(missing == nil, "\(String(describing: missing))")
        return image
    }

    /// `change` moves the generation (at once, or within the store's documented bound: 5 s here).
    static func expectGenerationMoves(_ store: any MetadataStore, _ change: () throws -> Void,
                                      sourceLocation: SourceLocation = #_sourceLocation) throws {
        let before = store.generation
        try change()
        let deadline = Date().addingTimeInterval(5)
        while store.generation == before && Date() < deadline { usleep(10_000) }
        #expect(store.generation != before, sourceLocation: sourceLocation)
    }
}
