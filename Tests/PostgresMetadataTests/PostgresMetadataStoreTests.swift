import BlobStore
import Foundation
import OCIModel
import PostgresMetadata
import Testing
import TestSupport

/// Manifests and blobs made up for the tests.
enum Fixture {
    static func blob(_ seed: String) -> Digest { Digest.sha256(of: Array("blob \(seed)".utf8)) }

    /// An image manifest naming `config` and `layers`, with an optional subject (then it is a referrer).
    static func image(config: Digest, layers: [Digest], subject: Digest? = nil,
                      artifactType: String? = nil) -> ManifestRecord {
        func descriptor(_ digest: Digest, _ type: String) -> String {
            #"{"mediaType":"\#(type)","digest":"\#(digest)","size":1}"#
        }
        var json = #"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","#
        if let artifactType { json += #""artifactType":"\#(artifactType)","# }
        json += #""config":\#(descriptor(config, "application/vnd.oci.image.config.v1+json")),"#
        json += #""layers":[\#(layers.map { descriptor($0, "application/vnd.oci.image.layer.v1.tar") }.joined(separator: ","))]"#
        if let subject { json += #","subject":\#(descriptor(subject, "application/vnd.oci.image.manifest.v1+json"))"# }
        json += "}"
        let bytes = Array(json.utf8)
        let digest = Digest.sha256(of: bytes)
        let referrer = subject.map { _ in
            Descriptor(mediaType: "application/vnd.oci.image.manifest.v1+json", digest: digest, size: Int64(bytes.count),
                       annotations: ["org.example": "x"], artifactType: artifactType.map { MediaType($0) })
        }
        return ManifestRecord(digest: digest, mediaType: "application/vnd.oci.image.manifest.v1+json", bytes: bytes,
                              subject: subject, referrer: referrer,
                              references: ManifestReferences(blobs: [config] + layers, subject: subject))
    }

    static func index(_ children: [Digest]) -> ManifestRecord {
        let entries = children.map {
            #"{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"\#($0)","size":1}"#
        }
        let bytes = Array(#"{"schemaVersion":2,"manifests":[\#(entries.joined(separator: ","))]}"#.utf8)
        return ManifestRecord(digest: Digest.sha256(of: bytes), mediaType: "application/vnd.oci.image.index.v1+json",
                              bytes: bytes, subject: nil, referrer: nil,
                              references: ManifestReferences(manifests: children))
    }

    static func name(_ text: String) -> RepositoryName { try! RepositoryName(validating: text) }
    static func tag(_ text: String) -> OCIModel.Tag { try! Tag(validating: text) }
}

/// Opens stores (replicas) on one fresh database and closes them.
final class Replicas: @unchecked Sendable {
    let database: TestDatabase
    private(set) var stores: [PostgresMetadataStore] = []

    init(_ database: TestDatabase) { self.database = database }

    func open() throws -> PostgresMetadataStore {
        let store = try PostgresMetadataStore(settings: database.settings, limits: .init(maxOpen: 8, maxIdle: 8))
        stores.append(store)
        for _ in 0..<500 where !store.isListening { usleep(10_000) }
        #expect(store.isListening)
        return store
    }

    func close() { for store in stores { store.close() } }
}

func withReplicas<T>(_ body: (Replicas) throws -> T) throws -> T {
    try withTestDatabase { database throws in
        let replicas = Replicas(database)
        defer { replicas.close() }
        return try body(replicas)
    }
}

@Suite(.offCooperativePool, .enabled(if: TestPostgres.enabled), .serialized)
struct PostgresMetadataStoreTests {
    let repo = Fixture.name("team/app")

    /// Pushes the blobs a manifest names.
    func push(_ store: PostgresMetadataStore, _ name: RepositoryName, _ blobs: [Digest]) throws {
        for blob in blobs { try store.link(name, blob, size: 1, requireKnown: false) }
    }

    @Test func manifestPutGetTagAndDelete() throws {
        try withReplicas { replicas in
            let store = try replicas.open()
            let config = Fixture.blob("c"), layer = Fixture.blob("l")
            let image = Fixture.image(config: config, layers: [layer])
            #expect(try !store.repositoryExists(repo))
            #expect(try store.putManifest(repo, image, tag: Fixture.tag("v1")) == .blob(config))
            // Nothing of the refused PUT stays.
            #expect(try store.manifest(repo, image.digest) == nil)
            #expect(try !store.repositoryExists(repo))

            try push(store, repo, [config, layer])
            #expect(try store.repositoryExists(repo))
            #expect(try store.blobSize(layer) == 1)
            #expect(try store.linkedBlobSize(repo, layer, refreshAfter: 3600) == 1)
            #expect(try store.linkedBlobSize(Fixture.name("other"), layer, refreshAfter: 3600) == nil)
            #expect(try store.putManifest(repo, image, tag: Fixture.tag("v1")) == nil)
            let stored = try #require(try store.manifest(repo, image.digest))
            #expect(stored.bytes == image.bytes)
            #expect(stored.mediaType == image.mediaType)
            #expect(try store.manifestMediaType(repo, image.digest) == image.mediaType)
            #expect(try store.resolve(repo, Fixture.tag("v1")) == image.digest)
            #expect(try store.resolve(repo, Fixture.tag("v2")) == nil)

            // An index whose child is absent is refused; with the child it is stored.
            let absent = Fixture.image(config: config, layers: [])
            #expect(try store.putManifest(repo, Fixture.index([image.digest, absent.digest]), tag: nil)
                == .manifest(absent.digest))
            #expect(try store.putManifest(repo, Fixture.index([image.digest]), tag: Fixture.tag("multi")) == nil)

            // A mount needs a recorded blob.
            #expect(throws: StoreError.blobUnknown(Fixture.blob("x"))) {
                try store.link(Fixture.name("other"), Fixture.blob("x"), size: nil, requireKnown: true)
            }
            try store.link(Fixture.name("other"), layer, size: nil, requireKnown: true)
            #expect(try store.linkedBlobSize(Fixture.name("other"), layer, refreshAfter: 3600) == 1)

            #expect(try store.deleteTag(repo, Fixture.tag("v1")))
            #expect(try !store.deleteTag(repo, Fixture.tag("v1")))
            #expect(try store.putManifest(repo, image, tag: Fixture.tag("v1")) == nil)
            #expect(try store.deleteManifest(repo, image.digest))
            // Its tags went with it.
            #expect(try store.resolve(repo, Fixture.tag("v1")) == nil)
            #expect(try !store.deleteManifest(repo, image.digest))
            #expect(try store.unlink(repo, layer))
            #expect(try !store.unlink(repo, layer))
        }
    }

    @Test func referrersAreListedUnderTheirSubject() throws {
        try withReplicas { replicas in
            let store = try replicas.open()
            let config = Fixture.blob("c")
            try push(store, repo, [config])
            let subject = Fixture.image(config: config, layers: [])
            #expect(try store.putManifest(repo, subject, tag: nil) == nil)
            let signature = Fixture.image(config: config, layers: [], subject: subject.digest,
                                          artifactType: "application/vnd.example.sig")
            let sbom = Fixture.image(config: config, layers: [Fixture.blob("c")], subject: subject.digest,
                                     artifactType: "application/vnd.example.sbom")
            #expect(try store.putManifest(repo, signature, tag: nil) == nil)
            #expect(try store.putManifest(repo, sbom, tag: nil) == nil)
            let listed = try store.referrers(repo, subject: subject.digest)
            #expect(listed == [signature.referrer!, sbom.referrer!].sorted { $0.digest.description < $1.digest.description })
            #expect(try store.referrerEntries(repo)[subject.digest]?.count == 2)
            #expect(try store.deleteManifest(repo, signature.digest))
            #expect(try store.referrers(repo, subject: subject.digest) == [sbom.referrer!])
            #expect(try store.referrers(Fixture.name("elsewhere"), subject: subject.digest) == [])
        }
    }

    @Test func pagesAreInByteOrder() throws {
        try withReplicas { replicas in
            let store = try replicas.open()
            let config = Fixture.blob("c")
            let names = ["b", "a/z", "a", "a-b", "a.b", "a_b", "a/b", "c0", "c"]
            for name in names { try push(store, Fixture.name(name), [config]) }
            let sorted = names.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
            var seen: [String] = []
            var last: String?
            while true {
                let page = try store.repositoryPage(after: last, limit: 2, include: { _ in true })
                seen += page.names
                last = page.names.last
                if !page.more { break }
            }
            #expect(seen == sorted)
            // `include` drops names without losing the page's size.
            let filtered = try store.repositoryPage(after: nil, limit: 3, include: { $0.hasPrefix("a") })
            #expect(filtered.names == ["a", "a-b", "a.b"])
            #expect(filtered.more)
            #expect(try store.repositoryPage(after: "c0", limit: 5, include: { _ in true }) == ([], false))
            #expect(try store.repositoryNames().map(\.value) == sorted)

            let image = Fixture.image(config: config, layers: [])
            try push(store, repo, [config])
            #expect(try store.putManifest(repo, image, tag: nil) == nil)
            let tags = ["latest", "Latest", "LATEST", "1.0", "1.0-rc", "_x", "v1", "V1", "a.b"]
            for tag in tags { #expect(try store.putManifest(repo, image, tag: Fixture.tag(tag)) == nil) }
            let tagOrder = tags.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
            #expect(try store.tagPage(repo, after: nil, limit: nil) == (tagOrder, false))
            #expect(try store.tagPage(repo, after: nil, limit: 4) == (Array(tagOrder.prefix(4)), true))
            #expect(try store.tagPage(repo, after: tagOrder[3], limit: 100) == (Array(tagOrder.dropFirst(4)), false))
            #expect(try store.tagPage(repo, after: tagOrder.last, limit: 1) == ([], false))
            #expect(try store.tagPage(repo, after: nil, limit: 0) == ([], true))
            #expect(throws: StoreError.nameUnknown("nobody/here")) {
                try store.tagPage(Fixture.name("nobody/here"), after: nil, limit: 10)
            }
        }
    }

    @Test func mountIsOneStatementCheckingTheSource() throws {
        try withReplicas { replicas in
            let store = try replicas.open()
            let layer = Fixture.blob("mounted")
            try store.link(repo, layer, size: 7, requireKnown: false)
            let target = Fixture.name("team/mount")
            // A source that does not link the blob: nothing changes, and the caller makes an upload session.
            #expect(try store.mount(target, layer, from: Fixture.name("team/none"), refreshAfter: 900) == nil)
            #expect(try store.linkedBlobSize(target, layer, refreshAfter: Int.max) == nil)
            #expect(try !store.repositoryExists(target))
            #expect(try store.mount(target, layer, from: repo, refreshAfter: 900) == 7)
            #expect(try store.linkedBlobSize(target, layer, refreshAfter: Int.max) == 7)
            // Mounted again (a retry): the same answer, one link.
            #expect(try store.mount(target, layer, from: repo, refreshAfter: 0) == 7)
            #expect(try store.layerLinkEntries(target).map(\.digest) == [layer])
        }
    }

    @Test func putManifestChecksDeclaredSizesInItsStatement() throws {
        try withReplicas { replicas in
            let store = try replicas.open()
            #expect(store.checksDeclaredSizes)
            let config = Fixture.blob("sized c"), layer = Fixture.blob("sized l")
            try push(store, repo, [config, layer])
            func sized(_ sizes: [Int64]) -> ManifestRecord {
                let image = Fixture.image(config: config, layers: [layer])
                var references = image.references
                references.declaredSizes = zip([config, layer], sizes).map { .init(digest: $0, size: $1) }
                return ManifestRecord(digest: image.digest, mediaType: image.mediaType, bytes: image.bytes,
                                      subject: nil, referrer: nil, references: references)
            }
            // The layer (position 1) declares 5 bytes; 1 is recorded. Nothing is stored.
            #expect(try store.putManifest(repo, sized([1, 5]), tag: Fixture.tag("s")) == .size(index: 1, stored: 1))
            #expect(try store.manifest(repo, sized([1, 1]).digest) == nil)
            #expect(try store.resolve(repo, Fixture.tag("s")) == nil)
            #expect(try store.putManifest(repo, sized([1, 1]), tag: Fixture.tag("s")) == nil)
            #expect(try store.resolve(repo, Fixture.tag("s")) == sized([1, 1]).digest)
            // A child manifest's size is its bytes'.
            let child = sized([1, 1])
            var index = Fixture.index([child.digest])
            var references = index.references
            references.declaredSizes = [.init(digest: child.digest, size: Int64(child.bytes.count) + 1)]
            index = ManifestRecord(digest: index.digest, mediaType: index.mediaType, bytes: index.bytes, subject: nil,
                                   referrer: nil, references: references)
            #expect(try store.putManifest(repo, index, tag: nil) == .size(index: 0, stored: Int64(child.bytes.count)))
        }
    }

    @Test func changesOnOneReplicaMoveTheOthersGeneration() throws {
        try withReplicas { replicas in
            let a = try replicas.open(), b = try replicas.open()
            let config = Fixture.blob("c")
            let layer = Fixture.blob("l")
            try push(a, repo, [config, layer])
            let first = Fixture.image(config: config, layers: [])
            let image = Fixture.image(config: config, layers: [layer])
            // A new tag makes nothing cached wrong (caches keep what they found, never an absence): it need not
            // notify. Moving it does.
            #expect(try a.putManifest(repo, first, tag: Fixture.tag("latest")) == nil)
            #expect(try b.resolve(repo, Fixture.tag("latest")) == first.digest)
            let before = b.generation
            let localBefore = a.generation
            #expect(try a.putManifest(repo, image, tag: Fixture.tag("latest")) == nil)
            // Locally at once.
            #expect(a.generation > localBefore)
            var moved = false
            for _ in 0..<200 where !moved {
                moved = b.generation > before
                if !moved { usleep(5_000) }
            }
            #expect(moved, "replica b never heard of the tag")
            #expect(try b.resolve(repo, Fixture.tag("latest")) == image.digest)

            // A lost listener moves it too (b's cache must not trust what it read while deaf).
            let beforeLoss = b.generation
            let listenerPID = try #require(try replicas.database.connect().query(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%'"
                + " AND pid <> pg_backend_pid() ORDER BY backend_start DESC LIMIT 1").first?.int(0))
            try replicas.database.terminate(pid: Int32(listenerPID))
            var lost = false
            for _ in 0..<200 where !lost {
                lost = b.generation > beforeLoss
                if !lost { usleep(5_000) }
            }
            #expect(lost)
        }
    }

    @Test func replicasRacingOnOneTagEndWithOneWinner() throws {
        try withReplicas { replicas in
            let stores = try (0..<2).map { _ in try replicas.open() }
            let config = Fixture.blob("c")
            try push(stores[0], repo, [config])
            let images = (0..<16).map { Fixture.image(config: config, layers: [Fixture.blob("layer \($0)")]) }
            for index in images.indices { try push(stores[index % 2], repo, [Fixture.blob("layer \(index)")]) }
            let failures = Attempts()
            DispatchQueue.concurrentPerform(iterations: images.count) { index in
                for _ in 0..<5 {
                    do {
                        let missing = try stores[index % 2].putManifest(repo, images[index], tag: Fixture.tag("latest"))
                        if missing != nil { failures.fail() }
                    } catch {
                        failures.fail()
                    }
                }
            }
            #expect(failures.failures == 0)
            let winner = try #require(try stores[0].resolve(repo, Fixture.tag("latest")))
            #expect(images.contains { $0.digest == winner })
            #expect(try stores[1].resolve(repo, Fixture.tag("latest")) == winner)
            #expect(try stores[1].tagPage(repo, after: nil, limit: nil).tags == ["latest"])
            #expect(try stores[0].revisionEntries(repo).count == images.count)
        }
    }

    @Test func openingTwiceMigratesOnce() throws {
        try withTestDatabase { database throws in
            let failures = Attempts()
            let opened = Attempts()
            DispatchQueue.concurrentPerform(iterations: 4) { _ in
                do {
                    let store = try PostgresMetadataStore(settings: database.settings)
                    opened.add()
                    store.close()
                } catch {
                    failures.fail()
                }
            }
            #expect(failures.failures == 0 && opened.count == 4)
            #expect(try database.connect().query("SELECT count(*) FROM schema_migrations").first?.int(0) == 3)
            #expect(try PostgresMetadataStore.migrate(settings: database.settings) == [])
        }
    }

    @Test func anUnreachableDatabaseIsUnavailableNotAHang() throws {
        var settings = PGConnectionSettings(host: "127.0.0.1", port: 1, user: "x", dbname: "x")
        settings.connectTimeout = .seconds(2)
        let started = ContinuousClock.now
        let error = #expect(throws: StoreError.self) {
            try PostgresMetadataStore(settings: settings, limits: .init(acquireTimeout: .seconds(1)))
        }
        if case .unavailable = error {} else { Issue.record("expected unavailable, got \(String(describing: error))") }
        #expect(ContinuousClock.now - started < .seconds(4))
    }
}
