import OCIModel
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
