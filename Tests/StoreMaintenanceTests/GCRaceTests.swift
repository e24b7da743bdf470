import BlobStore
import Glibc
import OCIModel
import StoreMaintenance
import Synchronization
import SystemIO
import Testing
import TestSupport

/// The two halves of the protocol, each in the one interleaving that needs it (grace 0: nothing else protects).
@Suite struct GCRaceTests {
    /// A manifest PUT whose reference check has passed holds the reference lock until its manifest is written:
    /// a collection that starts meanwhile waits, and then finds the blobs touched. (With the lock a no-op, the
    /// collection removes the layer during the PUT and the tag names a manifest whose layer is gone.)
    @Test func collectionWaitsForAPutBetweenItsCheckAndItsWrite() throws {
        let b = try StoreBuilder()
        defer { b.remove() }
        let config = try b.blob("race", Array(#"{"os":"linux"}"#.utf8), mediaType: MediaType.ociConfig.rawValue)
        let layer = try b.blob("race", Array("uploaded long ago, never referenced".utf8))
        b.age(by: 7200)
        let text = #"{"schemaVersion":2,"mediaType":"\#(MediaType.ociManifest.rawValue)","config":\#(config.json),"layers":[\#(layer.json)]}"#
        let bytes = Array(text.utf8)
        let name = try RepositoryName(validating: "race")
        let store = b.store
        let checked = Atomic<Bool>(false)
        let writer = SystemIO.Thread.start(name: "put") {
            _ = try? store.putManifest(name, bytes: bytes, digest: .sha256(of: bytes), mediaType: MediaType.ociManifest.rawValue,
                                       tag: try? OCIModel.Tag(validating: "v1"), subject: nil, referrer: nil,
                                       references: ManifestReferences(bytes: bytes)) { () -> StoreError? in
                // The registry's check: every blob is linked. Then the PUT dawdles before writing.
                guard store.isLinked(name, layer.digest), store.isLinked(name, config.digest) else { return .blobUnknown(layer.digest) }
                checked.store(true, ordering: .sequentiallyConsistent)
                usleep(300_000)
                return nil
            }
        }
        while !checked.load(ordering: .sequentiallyConsistent) { usleep(1000) }
        let (report, _) = try collect(b, GCOptions(deleteUntagged: true, graceSeconds: 0))
        pthread_join(writer, nil)
        #expect(b.tags("race") == ["v1"])
        #expect(try b.pullProblems() == [])
        #expect(report.count(.blob) == 0, "\(report.removals)")
    }

    /// A manifest pushed after the collection has marked its repository (so the mark never saw it) names an old
    /// blob the mark found unreferenced: the PUT's touches keep the link and the blob from the sweep. (Without the
    /// touches, both go and the new tag names a manifest whose layer is gone.)
    @Test func pushBetweenMarkAndSweepIsKeptByItsTouches() throws {
        let b = try StoreBuilder()
        defer { b.remove() }
        let config = try b.blob("race", Array(#"{"os":"linux"}"#.utf8), mediaType: MediaType.ociConfig.rawValue)
        let layer = try b.blob("race", Array("uploaded long ago, referenced only now".utf8))
        b.age(by: 7200)
        let hooked = HookedStore(b.store) { name in
            guard name.value == "race" else { return }
            let text = #"{"schemaVersion":2,"mediaType":"\#(MediaType.ociManifest.rawValue)","config":\#(config.json),"layers":[\#(layer.json)]}"#
            _ = try? b.manifest("race", text, mediaType: MediaType.ociManifest.rawValue, tag: "late")
        }
        let report = try GarbageCollector(store: hooked, options: GCOptions(deleteUntagged: true, graceSeconds: 0),
                                          output: CollectedOutput()).run()
        #expect(b.tags("race") == ["late"])
        #expect(try b.pullProblems() == [])
        #expect(report.count(.blob) == 0 && report.count(.link) == 0, "\(report.removals)")
    }
}

/// A store that runs `beforeLinks` when the collector lists a repository's links: after the mark, before the
/// sweep of links and blobs.
final class HookedStore: CollectableStore, @unchecked Sendable {
    let store: BlobStore
    let beforeLinks: (RepositoryName) -> Void

    init(_ store: BlobStore, beforeLinks: @escaping (RepositoryName) -> Void) {
        self.store = store
        self.beforeLinks = beforeLinks
    }

    func asOnlyCollection<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T? { try store.asOnlyCollection(body) }
    func exclusively<T>(_ body: () throws(StoreError) -> T) throws(StoreError) -> T { try store.exclusively(body) }
    func collectionClock() throws(StoreError) -> Int64 { try store.collectionClock() }
    func repositoryNames() throws(StoreError) -> [RepositoryName] { try store.repositoryNames() }
    func tagEntries(_ name: RepositoryName) throws(StoreError) -> [TagEntry] { try store.tagEntries(name) }
    func revisionEntries(_ name: RepositoryName) throws(StoreError) -> [LinkEntry] { try store.revisionEntries(name) }
    func layerLinkEntries(_ name: RepositoryName) throws(StoreError) -> [LinkEntry] {
        beforeLinks(name)
        return try store.layerLinkEntries(name)
    }
    func referrerEntries(_ name: RepositoryName) throws(StoreError) -> [Digest: [Digest]] { try store.referrerEntries(name) }
    func blobEntries() throws(StoreError) -> [BlobEntry] { try store.blobEntries() }
    func manifestBytes(_ digest: Digest, maxBytes: Int) throws(StoreError) -> [UInt8]? { try store.manifestBytes(digest, maxBytes: maxBytes) }
    func removeTag(_ name: RepositoryName, _ tag: OCIModel.Tag, pointingTo digest: Digest, modifiedBefore cutoff: Int64) throws(StoreError) -> Bool {
        try store.removeTag(name, tag, pointingTo: digest, modifiedBefore: cutoff)
    }
    func removeRevision(_ name: RepositoryName, _ digest: Digest, subject: Digest?, modifiedBefore cutoff: Int64) throws(StoreError) -> Bool {
        try store.removeRevision(name, digest, subject: subject, modifiedBefore: cutoff)
    }
    func removeLayerLink(_ name: RepositoryName, _ digest: Digest, modifiedBefore cutoff: Int64) throws(StoreError) -> Bool {
        try store.removeLayerLink(name, digest, modifiedBefore: cutoff)
    }
    func removeBlob(_ digest: Digest, modifiedBefore cutoff: Int64) throws(StoreError) -> Int64? {
        try store.removeBlob(digest, modifiedBefore: cutoff)
    }
    func syncRemovals() throws(StoreError) { try store.syncRemovals() }
    func expireUploads(dryRun: Bool) -> [(id: String, bytes: Int64)] { store.expireUploads(dryRun: dryRun) }
}

/// A blob `HEAD` touches an old link, so that a client that skips an upload because of it finds the blob kept
/// for the grace period.
@Suite struct LinkRefreshTests {
    @Test func headTouchesALinkOlderThanAQuarterOfTheGrace() throws {
        let b = try StoreBuilder()
        defer { b.remove() }
        let blob = try b.blob("h", Array("checked by HEAD".utf8))
        let name = try RepositoryName(validating: "h")
        let link = b.store.layout.layerLink(name, blob.digest)
        b.store.linkRefreshSeconds.store(900, ordering: .relaxed)
        b.setAge("repositories/h/_layers/sha256/\(blob.digest.encoded)", secondsAgo: 600)
        let young = try #require(FileSystem.modificationTime(link))
        #expect(b.store.linkedBlobSize(name, blob.digest) == Int64(blob.size))
        #expect(FileSystem.modificationTime(link) == young, "a link younger than the refresh age is left alone")

        b.setAge("repositories/h/_layers/sha256/\(blob.digest.encoded)", secondsAgo: 1000)
        #expect(b.store.linkedBlobSize(name, blob.digest) == Int64(blob.size))
        let refreshed = try #require(FileSystem.modificationTime(link))
        #expect(refreshed / 1_000_000_000 >= Int64(time(nil)) - 5)
        // So a collection (grace 1 h) keeps the link and its blob, which it would otherwise take.
        b.age(by: 7200, under: "blobs")
        _ = try collect(b)
        #expect(b.hasLink("h", blob) && b.hasBlob(blob))
        #expect(b.store.linkedBlobSize(name, Digest.sha256(of: Array("absent".utf8))) == nil)
    }
}
