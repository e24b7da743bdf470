import OCIModel
import Synchronization
import SystemIO
import TestSupport
import Testing
@testable import BlobStore
@testable import swregistry

/// `swregistry import`'s reading of manifests and its order of writing them.
@Suite struct StoreImporterTests {
    static func manifest(config: [UInt8], layers: [[UInt8]], subject: Digest? = nil,
                         artifactType: String? = nil) -> [UInt8] {
        func descriptor(_ mediaType: String, _ bytes: [UInt8]) -> String {
            #"{"mediaType":"\#(mediaType)","digest":"\#(Digest.sha256(of: bytes))","size":\#(bytes.count)}"#
        }
        var fields = [#""schemaVersion":2"#, #""mediaType":"application/vnd.oci.image.manifest.v1+json""#,
                      #""config":"# + descriptor("application/vnd.oci.image.config.v1+json", config),
                      #""layers":["# + layers.map { descriptor("application/vnd.oci.image.layer.v1.tar", $0) }.joined(separator: ",") + "]"]
        if let subject {
            fields.append(#""subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"\#(subject)","size":10}"#)
            fields.append(#""annotations":{"org.example":"yes"}"#)
        }
        if let artifactType { fields.append(#""artifactType":"\#(artifactType)""#) }
        return Array(("{" + fields.joined(separator: ",") + "}").utf8)
    }

    static func index(_ children: [[UInt8]]) -> [UInt8] {
        let items = children.map {
            #"{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"\#(Digest.sha256(of: $0))","size":\#($0.count)}"#
        }
        return Array(#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[\#(items.joined(separator: ","))]}"#.utf8)
    }

    static func stored(_ bytes: [UInt8], _ mediaType: String) -> StoredManifest {
        StoredManifest(bytes: bytes, digest: Digest.sha256(of: bytes), mediaType: mediaType)
    }

    @Test func recordNamesWhatTheRegistryRecordedAtPush() throws {
        let config = Array("{}".utf8), layer = Array("layer".utf8)
        let image = Self.manifest(config: config, layers: [layer])
        let record = try StoreImporter.record(Self.stored(image, "application/vnd.oci.image.manifest.v1+json"))
        #expect(record.references.blobs == [Digest.sha256(of: config), Digest.sha256(of: layer)])
        #expect(record.subject == nil && record.referrer == nil && record.bytes == image)

        let signature = Self.manifest(config: config, layers: [], subject: record.digest, artifactType: "application/example.sig")
        let referrer = try StoreImporter.record(Self.stored(signature, "application/vnd.oci.image.manifest.v1+json"))
        #expect(referrer.subject == record.digest && referrer.references.subject == record.digest)
        let descriptor = try #require(referrer.referrer)
        #expect(descriptor.digest == Digest.sha256(of: signature) && descriptor.size == Int64(signature.count))
        #expect(descriptor.artifactType?.rawValue == "application/example.sig")
        #expect(descriptor.annotations == ["org.example": "yes"])

        #expect(throws: StoreError.self) {
            try StoreImporter.record(Self.stored(Array("not json".utf8), "application/vnd.oci.image.manifest.v1+json"))
        }
    }

    /// An index comes after the children it names (the target checks they are there), nested indexes too.
    @Test func indexesAfterTheirChildren() throws {
        let config = Array("{}".utf8)
        let a = Self.manifest(config: config, layers: [Array("a".utf8)])
        let b = Self.manifest(config: config, layers: [Array("b".utf8)])
        let inner = Self.index([a, b])
        let outer = Self.index([inner, a])
        let foreign = Self.index([Self.manifest(config: config, layers: [Array("elsewhere".utf8)])])
        var records: [Digest: ManifestRecord] = [:]
        for (bytes, type) in [(outer, "application/vnd.oci.image.index.v1+json"), (a, "application/vnd.oci.image.manifest.v1+json"),
                              (inner, "application/vnd.oci.image.index.v1+json"), (b, "application/vnd.oci.image.manifest.v1+json"),
                              (foreign, "application/vnd.oci.image.index.v1+json")] {
            let record = try StoreImporter.record(Self.stored(bytes, type))
            records[record.digest] = record
        }
        let order = StoreImporter.dependencyOrder(records)
        #expect(Set(order) == Set(records.keys) && order.count == records.count)
        func position(_ bytes: [UInt8]) -> Int { order.firstIndex(of: Digest.sha256(of: bytes))! }
        #expect(position(a) < position(inner) && position(b) < position(inner) && position(inner) < position(outer))
        // Deterministic: the same set always gives the same order.
        #expect(StoreImporter.dependencyOrder(records) == order)
    }
}

/// `StoreImporter` copying a filesystem store into another one through the protocols only (`FileBlobStorage` and
/// the store as `MetadataStore` on the target side), as `swregistry import` copies into S3 + PostgreSQL.
@Suite struct StoreImportCopyTests {
    /// A store filled as the registry fills it.
    final class Source {
        let root = makeTemporaryDirectory(prefix: "swr-import-src")
        let store: BlobStore

        init() throws { store = try BlobStore(root: root) }
        deinit { FileSystem.removeTree(root) }

        @discardableResult
        func blob(_ bytes: [UInt8], in repository: String) throws -> Digest {
            let digest = Digest.sha256(of: bytes)
            try FileSystem.writeAtomically(bytes, to: store.layout.blob(digest), tmpDirectory: store.layout.tmpDirectory)
            try store.linkBlob(try RepositoryName(validating: repository), digest)
            return digest
        }

        @discardableResult
        func manifest(_ bytes: [UInt8], _ mediaType: String, in repository: String, tag: String?) throws -> Digest {
            let record = try StoreImporter.record(StoredManifest(bytes: bytes, digest: Digest.sha256(of: bytes), mediaType: mediaType))
            try store.putManifest(try RepositoryName(validating: repository), bytes: bytes, digest: record.digest,
                                  mediaType: mediaType, tag: try tag.map { try Tag(validating: $0) },
                                  subject: record.subject, referrer: record.referrer)
            return record.digest
        }
    }

    static let imageType = "application/vnd.oci.image.manifest.v1+json"
    static let indexType = "application/vnd.oci.image.index.v1+json"

    static func random(_ count: Int, seed: UInt64) -> [UInt8] {
        var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        return (0..<count).map { _ in
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            return UInt8(truncatingIfNeeded: state)
        }
    }

    @Test func copiesEverythingThenResumesWithNothingToDo() async throws {
        let source = try Source()
        let config = Array(#"{"architecture":"amd64","os":"linux"}"#.utf8)
        // Bigger than several read chunks: the copy must stream it, and the target verifies the digest.
        let big = Self.random(3 << 20 | 12345, seed: 1), small = Self.random(1000, seed: 2), shared = Self.random(70_000, seed: 3)
        for bytes in [config, big, shared] { try source.blob(bytes, in: "team/app") }
        try source.blob(small, in: "team/app")
        let a = try source.manifest(StoreImporterTests.manifest(config: config, layers: [big, shared]), Self.imageType,
                                    in: "team/app", tag: "v1")
        let aBytes = StoreImporterTests.manifest(config: config, layers: [big, shared])
        try source.manifest(aBytes, Self.imageType, in: "team/app", tag: "latest")
        let bBytes = StoreImporterTests.manifest(config: config, layers: [small])
        let b = try source.manifest(bBytes, Self.imageType, in: "team/app", tag: nil)
        let multi = try source.manifest(StoreImporterTests.index([aBytes, bBytes]), Self.indexType, in: "team/app", tag: "multi")
        let signatureBytes = StoreImporterTests.manifest(config: config, layers: [], subject: a, artifactType: "application/example.sig")
        let signature = try source.manifest(signatureBytes, Self.imageType, in: "team/app", tag: nil)
        for bytes in [config, shared] { try source.blob(bytes, in: "other/lib") }
        let c = try source.manifest(StoreImporterTests.manifest(config: config, layers: [shared]), Self.imageType,
                                    in: "other/lib", tag: "1.0")
        // Garbage: a blob no repository links stays behind.
        let garbage = Self.random(500, seed: 4)
        try FileSystem.writeAtomically(garbage, to: source.store.layout.blob(Digest.sha256(of: garbage)),
                                       tmpDirectory: source.store.layout.tmpDirectory)

        let targetRoot = makeTemporaryDirectory(prefix: "swr-import-dst")
        defer { FileSystem.removeTree(targetRoot) }
        let targetBlobs = try FileBlobStorage(root: targetRoot)
        let targetStore = try BlobStore(root: targetRoot)
        let lines = Mutex<[String]>([])
        var importer = StoreImporter(source: .init(blobs: try FileBlobStorage(root: source.root), metadata: source.store),
                                     target: .init(blobs: targetBlobs, metadata: targetStore),
                                     report: { line in lines.withLock { $0.append(line) } })
        importer.chunkSize = 64 * 1024
        let first = try await importer.run()
        #expect(first.failures.isEmpty, "\(first.failures)")
        #expect(first.repositories == 2)
        #expect(first.blobsCopied == 4 && first.bytesCopied == Int64(config.count + big.count + small.count + shared.count))
        #expect(first.blobsPresent == 0, "a blob linked by two repositories is copied once")
        #expect(first.links == 6)
        // a (twice: v1, latest), b, multi, signature, c.
        #expect(first.manifestsPut == 6 && first.tags == 4 && first.manifestsPresent == 0)
        #expect(lines.withLock { $0 }.contains("manifest team/app:multi (\(Self.indexType))"))

        let app = try RepositoryName(validating: "team/app"), lib = try RepositoryName(validating: "other/lib")
        #expect(try targetStore.resolve(app, tag: try Tag(validating: "v1")) == a)
        #expect(try targetStore.resolve(app, tag: try Tag(validating: "latest")) == a)
        #expect(try targetStore.resolve(app, tag: try Tag(validating: "multi")) == multi)
        #expect(try targetStore.resolve(lib, tag: try Tag(validating: "1.0")) == c)
        #expect(try targetStore.manifest(app, b, maxBytes: 1 << 20).bytes == bBytes)
        #expect(try targetStore.manifest(app, signature, maxBytes: 1 << 20).bytes == signatureBytes)
        #expect(try targetStore.referrers(app, subject: a).map(\.digest) == [signature])
        #expect(try targetBlobs.read(Digest.sha256(of: big), maxBytes: 4 << 20) == big)
        #expect(try targetBlobs.size(of: Digest.sha256(of: garbage)) == nil)
        #expect(targetStore.isLinked(lib, Digest.sha256(of: shared)) && !targetStore.isLinked(lib, Digest.sha256(of: big)))

        // Resumable: a second run finds everything there.
        let second = try await importer.run()
        #expect(second.failures.isEmpty && second.blobsCopied == 0 && second.manifestsPut == 0)
        #expect(second.blobsPresent == 4 && second.manifestsPresent == 6)
    }

    /// A manifest the target refuses is reported, and the others are copied all the same.
    @Test func reportsFailuresAndGoesOn() async throws {
        let source = try Source()
        let config = Array("{}".utf8), layer = Self.random(10_000, seed: 9)
        try source.blob(config, in: "good/one")
        try source.blob(layer, in: "good/one")
        try source.manifest(StoreImporterTests.manifest(config: config, layers: [layer]), Self.imageType, in: "good/one", tag: "t")
        try source.blob(config, in: "bad/one")
        try source.blob(layer, in: "bad/one")
        try source.manifest(StoreImporterTests.manifest(config: config, layers: [layer]), Self.imageType, in: "bad/one", tag: "t")
        // The source lost a link its manifest needs (a blob DELETE after the push).
        try source.store.unlinkBlob(try RepositoryName(validating: "bad/one"), Digest.sha256(of: layer))

        let targetRoot = makeTemporaryDirectory(prefix: "swr-import-dst")
        defer { FileSystem.removeTree(targetRoot) }
        let targetStore = try BlobStore(root: targetRoot)
        let importer = StoreImporter(source: .init(blobs: try FileBlobStorage(root: source.root), metadata: source.store),
                                     target: .init(blobs: try FileBlobStorage(root: targetRoot), metadata: targetStore),
                                     report: { _ in })
        let summary = try await importer.run()
        #expect(summary.failures.count == 1, "\(summary.failures)")
        #expect(summary.failures.first?.hasPrefix("bad/one:t: the target refused it") == true, "\(summary.failures)")
        #expect(try targetStore.resolve(try RepositoryName(validating: "good/one"), tag: try Tag(validating: "t")) != nil)
    }
}
