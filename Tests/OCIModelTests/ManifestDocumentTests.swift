import Foundation
import Testing
@testable import OCIModel

@Suite("ManifestDocument")
struct ManifestDocumentTests {
    private func parse(_ json: String, _ contentType: String? = nil) throws(ManifestError) -> ManifestDocument {
        try ManifestDocument.parse(bytes(json), contentType: contentType)
    }

    private func expectError(_ expected: ManifestError, _ json: String, _ contentType: String? = nil,
                             sourceLocation: SourceLocation = #_sourceLocation)
    {
        #expect(throws: expected, sourceLocation: sourceLocation) { try parse(json, contentType) }
    }

    // MARK: Spec examples

    @Test("parses the spec's OCI manifest example")
    func ociManifest() throws {
        let document = try parse(SpecFixtures.ociManifest, "application/vnd.oci.image.manifest.v1+json")
        guard case .manifest(let manifest) = document else { Issue.record("not a manifest"); return }
        #expect(manifest.schemaVersion == 2)
        #expect(manifest.config.mediaType == .ociConfig)
        #expect(manifest.config.size == 7023)
        #expect(manifest.layers.count == 3)
        #expect(manifest.layers.map(\.size) == [32654, 16724, 73109])
        #expect(manifest.layers.allSatisfy { $0.mediaType == .ociLayerGzip })
        #expect(manifest.annotations == ["com.example.key1": "value1", "com.example.key2": "value2"])
        #expect(document.mediaType == .ociManifest)
        #expect(document.subject?.digest.description
            == "sha256:5b0bcabd1ed22e9fb1310cf6c2dec7cdef19f0ad69efa1f392e94a4333501270")
        #expect(document.referencedDescriptors == [manifest.config] + manifest.layers)
        // No artifactType: a referrers listing falls back to the config media type.
        #expect(document.artifactType == .ociConfig)
    }

    @Test("parses the spec's artifact examples", arguments: [
        (SpecFixtures.minimalArtifact, 1, MediaType.ociEmptyJSON),
        (SpecFixtures.artifactWithoutConfig, 1, MediaType.ociEmptyJSON),
        (SpecFixtures.artifactWithConfig, 1, MediaType("application/vnd.example.config.v1+json")),
    ])
    func artifacts(_ json: String, layerCount: Int, configType: MediaType) throws {
        let document = try parse(json, "application/vnd.oci.image.manifest.v1+json")
        guard case .manifest(let manifest) = document else { Issue.record("not a manifest"); return }
        #expect(manifest.layers.count == layerCount)
        #expect(manifest.config.mediaType == configType)
        #expect(document.artifactType == "application/vnd.example+type")
    }

    @Test("parses the spec's OCI index examples")
    func ociIndexes() throws {
        let document = try parse(SpecFixtures.ociIndex, "application/vnd.oci.image.index.v1+json")
        guard case .index(let index) = document else { Issue.record("not an index"); return }
        #expect(index.manifests.count == 2)
        #expect(index.manifests.map(\.platform?.architecture) == ["ppc64le", "amd64"])
        #expect(document.mediaType == .ociIndex)
        #expect(document.referencedDescriptors == index.manifests)
        #expect(document.artifactType == nil)
        #expect(document.subject == nil)
        #expect(document.annotations?["com.example.key1"] == "value1")

        let nested = try parse(SpecFixtures.ociIndexMultipleMediaTypes)
        #expect(nested.referencedDescriptors.map(\.mediaType) == [.ociManifest, .ociIndex])
    }

    @Test("parses the Docker schema 2 examples")
    func docker() throws {
        let manifest = try parse(SpecFixtures.dockerManifest, "application/vnd.docker.distribution.manifest.v2+json")
        #expect(manifest.mediaType == .dockerManifest)
        #expect(manifest.referencedDescriptors.map(\.mediaType)
            == [.dockerConfig, .dockerLayerGzip, .dockerLayerGzip, .dockerLayerGzip])

        let list = try parse(SpecFixtures.dockerManifestList, "application/vnd.docker.distribution.manifest.list.v2+json")
        guard case .index(let index) = list else { Issue.record("not an index"); return }
        #expect(list.mediaType == .dockerManifestList)
        #expect(index.manifests[1].platform?.features == ["sse4"])
    }

    @Test("parses from Data as well as [UInt8]")
    func dataOverload() throws {
        let fromData = try ManifestDocument.parse(Data(SpecFixtures.ociManifest.utf8), contentType: nil)
        #expect(fromData == (try parse(SpecFixtures.ociManifest)))
    }

    // MARK: Media type resolution

    @Test("without mediaType, the Content-Type decides and is recorded")
    func contentTypeDecides() throws {
        let json = Self.manifestJSON(mediaType: nil)
        let docker = try parse(json, "application/vnd.docker.distribution.manifest.v2+json")
        #expect(docker.mediaType == .dockerManifest)
        guard case .manifest(let manifest) = docker else { Issue.record("not a manifest"); return }
        #expect(manifest.mediaType == .dockerManifest)
    }

    @Test("without mediaType or Content-Type, the shape decides")
    func shapeDecides() throws {
        #expect(try parse(Self.manifestJSON(mediaType: nil)).mediaType == .ociManifest)
        #expect(try parse(Self.manifestJSON(mediaType: nil), "application/json").mediaType == .ociManifest)
        #expect(try parse(Self.indexJSON(mediaType: nil)).mediaType == .ociIndex)
        #expect(try parse(Self.indexJSON(mediaType: nil), "").mediaType == .ociIndex)
    }

    @Test("Content-Type parameters and case are ignored")
    func contentTypeParameters() throws {
        let document = try parse(SpecFixtures.ociManifest, "Application/vnd.oci.image.manifest.v1+json; charset=utf-8")
        #expect(document.mediaType == .ociManifest)
    }

    // MARK: Rejections

    @Test("rejects a document with both manifests and layers/config")
    func ambiguousShape() {
        let both = #"""
        {"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[],
         "config":\#(Self.descriptorJSON),"layers":[]}
        """#
        let error = #expect(throws: ManifestError.self) { try parse(both) }
        guard case .ambiguous = error else { Issue.record("got \(String(describing: error))"); return }
        let onlyLayers = #"{"schemaVersion":2,"manifests":[],"layers":[]}"#
        #expect(throws: ManifestError.self) { try parse(onlyLayers) }
        #expect(throws: ManifestError.self) { try parse(onlyLayers, "application/vnd.oci.image.index.v1+json") }
    }

    @Test("rejects an index media type on a manifest-shaped document")
    func indexTypeWithLayers() {
        let json = Self.manifestJSON(mediaType: MediaType.ociIndex.rawValue)
        let error = #expect(throws: ManifestError.self) { try parse(json) }
        guard case .ambiguous = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(throws: ManifestError.self) { try parse(Self.manifestJSON(mediaType: nil), "application/vnd.oci.image.index.v1+json") }
    }

    @Test("rejects a manifest media type on an index-shaped document")
    func manifestTypeWithManifests() {
        let json = Self.indexJSON(mediaType: MediaType.ociManifest.rawValue)
        let error = #expect(throws: ManifestError.self) { try parse(json) }
        guard case .ambiguous = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(throws: ManifestError.self) { try parse(Self.indexJSON(mediaType: nil), "application/vnd.docker.distribution.manifest.v2+json") }
    }

    @Test("rejects a mediaType that disagrees with the Content-Type")
    func mismatch() {
        expectError(.mediaTypeMismatch(mediaType: MediaType.ociManifest.rawValue, contentType: MediaType.ociIndex.rawValue),
                    SpecFixtures.ociManifest, "application/vnd.oci.image.index.v1+json")
        expectError(.mediaTypeMismatch(mediaType: MediaType.dockerManifest.rawValue, contentType: MediaType.ociManifest.rawValue),
                    SpecFixtures.dockerManifest, "application/vnd.oci.image.manifest.v1+json")
        expectError(.mediaTypeMismatch(mediaType: MediaType.ociIndex.rawValue, contentType: "application/octet-stream"),
                    SpecFixtures.ociIndex, "application/octet-stream")
    }

    @Test("rejects Docker schema 1")
    func schema1() {
        let signed = #"""
        {"schemaVersion":1,"name":"hello-world","tag":"latest","architecture":"amd64",
         "fsLayers":[{"blobSum":"\#(sha256String())"}],"history":[],"signatures":[]}
        """#
        expectError(.unsupportedMediaType(MediaType.dockerManifestSchema1Signed.rawValue), signed,
                    "application/vnd.docker.distribution.manifest.v1+prettyjws")
        expectError(.unsupportedSchemaVersion(1), signed)
        let error = ManifestError.unsupportedMediaType(MediaType.dockerManifestSchema1.rawValue)
        #expect(error.description.contains("schema 1"))
    }

    @Test("requires schemaVersion 2")
    func schemaVersion() {
        expectError(.unsupportedSchemaVersion(3), #"{"schemaVersion":3,"config":\#(Self.descriptorJSON),"layers":[]}"#)
        expectError(.unsupportedSchemaVersion(nil), #"{"config":\#(Self.descriptorJSON),"layers":[]}"#)
        let error = #expect(throws: ManifestError.self) {
            try parse(#"{"schemaVersion":"2","config":\#(Self.descriptorJSON),"layers":[]}"#)
        }
        guard case .invalidField("schemaVersion", _) = error else { Issue.record("got \(String(describing: error))"); return }
    }

    @Test("rejects media types that are not manifests or indexes")
    func unsupportedTypes() {
        expectError(.unsupportedMediaType("application/vnd.oci.artifact.manifest.v1+json"),
                    #"{"schemaVersion":2,"mediaType":"application/vnd.oci.artifact.manifest.v1+json","blobs":[]}"#)
        expectError(.unsupportedMediaType("application/vnd.oci.image.config.v1+json"),
                    Self.manifestJSON(mediaType: nil), "application/vnd.oci.image.config.v1+json")
    }

    @Test("requires config, layers and manifests")
    func missingFields() {
        expectError(.missingField("config"), #"{"schemaVersion":2,"layers":[]}"#)
        expectError(.missingField("layers"), #"{"schemaVersion":2,"config":\#(Self.descriptorJSON)}"#)
        expectError(.missingField("layers"), #"{"schemaVersion":2,"config":\#(Self.descriptorJSON),"layers":null}"#)
        expectError(.missingField("config"), #"{"schemaVersion":2}"#)
        expectError(.missingField("manifests"), #"{"schemaVersion":2}"#, "application/vnd.oci.image.index.v1+json")
        expectError(.missingField("config.digest"), #"{"schemaVersion":2,"config":{"mediaType":"a/b","size":1},"layers":[]}"#)
    }

    @Test("names the field holding a bad digest or size")
    func invalidFields() {
        let badDigest = #"""
        {"schemaVersion":2,"config":\#(Self.descriptorJSON),
         "layers":[\#(Self.descriptorJSON),{"mediaType":"a/b","digest":"sha256:\#(repeated("a", 63))","size":1}]}
        """#
        let error = #expect(throws: ManifestError.self) { try parse(badDigest) }
        guard case let .invalidField(path, reason) = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(path == "layers[1].digest")
        #expect(reason.contains("64 hex characters, not 63"))

        let unsupported = #"{"schemaVersion":2,"manifests":[{"mediaType":"a/b","digest":"blake3:abc","size":1}]}"#
        let unsupportedError = #expect(throws: ManifestError.self) { try parse(unsupported) }
        #expect(unsupportedError?.description.contains("unsupported digest algorithm") == true)

        let negative = #"{"schemaVersion":2,"config":{"mediaType":"a/b","digest":"\#(sha256String())","size":-5},"layers":[]}"#
        let negativeError = #expect(throws: ManifestError.self) { try parse(negative) }
        guard case .invalidField("config.size", _) = negativeError else {
            Issue.record("got \(String(describing: negativeError))"); return
        }
    }

    @Test("rejects non-JSON and non-object documents", arguments: ["", "not json", "[]", "2", "null", #"{"a":"#])
    func notJSON(_ text: String) {
        let error = #expect(throws: ManifestError.self) { try parse(text) }
        guard case .invalidJSON = error else { Issue.record("got \(String(describing: error))"); return }
    }

    @Test("tolerates unknown fields and unknown descriptor media types")
    func tolerant() throws {
        let json = #"""
        {"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
         "config":{"mediaType":"application/vnd.unknown.config","digest":"\#(sha256String())","size":3},
         "layers":[{"mediaType":"application/vnd.unknown.layer","digest":"\#(sha256String("b"))","size":4,"x":1}],
         "futureField":{"nested":[true,null]}}
        """#
        let document = try parse(json)
        #expect(document.referencedDescriptors.map(\.mediaType) == ["application/vnd.unknown.config", "application/vnd.unknown.layer"])
    }

    @Test("an empty artifactType falls back to the config media type")
    func emptyArtifactType() throws {
        let json = #"{"schemaVersion":2,"artifactType":"","config":\#(Self.descriptorJSON),"layers":[]}"#
        #expect(try parse(json).artifactType == "a/b")
    }

    // MARK: Encoding

    @Test("encoding then parsing gives the same document", arguments: [
        SpecFixtures.ociManifest, SpecFixtures.minimalArtifact, SpecFixtures.artifactWithConfig,
        SpecFixtures.ociIndex, SpecFixtures.ociIndexMultipleMediaTypes, SpecFixtures.dockerManifest,
        SpecFixtures.dockerManifestList,
    ])
    func roundTrip(_ json: String) throws {
        let document = try parse(json)
        let encoded = document.encoded()
        #expect(try ManifestDocument.parse(encoded, contentType: document.mediaType.rawValue) == document)
        #expect(!String(decoding: encoded, as: UTF8.self).contains(#"\/"#))
    }

    @Test("encodes deterministically: sorted keys, absent fields omitted, slashes unescaped")
    func encodingIsDeterministic() throws {
        let manifest = ImageManifest(config: .emptyJSON, layers: [.emptyJSON], annotations: ["b": "2", "a": "1"])
        let text = String(decoding: manifest.encoded(), as: UTF8.self)
        let layer = #"{"data":"e30=","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","mediaType":"application/vnd.oci.empty.v1+json","size":2}"#
        #expect(text == #"{"annotations":{"a":"1","b":"2"},"config":\#(layer),"layers":[\#(layer)],"mediaType":"application/vnd.oci.image.manifest.v1+json","schemaVersion":2}"#)
        for _ in 0..<20 { #expect(manifest.encoded() == manifest.encoded()) }
    }

    // MARK: Helpers

    static let descriptorJSON = #"{"mediaType":"a/b","digest":"\#(sha256String())","size":1}"#

    static func manifestJSON(mediaType: String?) -> String {
        let field = mediaType.map { #""mediaType":"\#($0)","# } ?? ""
        return #"{"schemaVersion":2,\#(field)"config":\#(descriptorJSON),"layers":[\#(descriptorJSON)]}"#
    }

    static func indexJSON(mediaType: String?) -> String {
        let field = mediaType.map { #""mediaType":"\#($0)","# } ?? ""
        return #"{"schemaVersion":2,\#(field)"manifests":[\#(descriptorJSON)]}"#
    }
}
