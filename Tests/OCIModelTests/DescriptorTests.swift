import Foundation
import Testing
@testable import OCIModel

@Suite("Descriptor and Platform")
struct DescriptorTests {
    private func decode(_ json: String) throws -> Descriptor {
        try JSONDecoder().decode(Descriptor.self, from: Data(json.utf8))
    }

    private func encode(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    @Test("decodes the spec's descriptor examples")
    func specExamples() throws {
        let plain = try decode(SpecFixtures.descriptorManifest)
        #expect(plain.mediaType == .ociManifest)
        #expect(plain.size == 7682)
        #expect(plain.digest.description
            == "sha256:5b0bcabd1ed22e9fb1310cf6c2dec7cdef19f0ad69efa1f392e94a4333501270")
        #expect(plain.urls == nil && plain.annotations == nil && plain.data == nil)
        #expect(plain.platform == nil && plain.artifactType == nil)

        let withURLs = try decode(SpecFixtures.descriptorWithURLs)
        #expect(withURLs.urls == ["https://example.com/example-manifest"])

        let withArtifactType = try decode(SpecFixtures.descriptorWithArtifactType)
        #expect(withArtifactType.artifactType == "application/vnd.example.sbom.v1")
        #expect(withArtifactType.size == 123)
    }

    @Test("round-trips every field", arguments: [
        SpecFixtures.descriptorManifest, SpecFixtures.descriptorWithURLs,
        SpecFixtures.descriptorWithArtifactType, SpecFixtures.emptyDescriptor,
    ])
    func roundTripFixtures(_ json: String) throws {
        let descriptor = try decode(json)
        #expect(try decode(encode(descriptor)) == descriptor)
    }

    @Test("round-trips a descriptor with every optional field set")
    func roundTripFull() throws {
        let descriptor = Descriptor(
            mediaType: .ociManifest, digest: try Digest(parsing: sha256String()), size: Int64.max,
            urls: ["https://example.com/a"], annotations: ["org.opencontainers.image.title": "x"],
            data: "e30=",
            platform: Platform(architecture: "arm64", os: "linux", osVersion: "1.2", osFeatures: ["f"],
                               variant: "v8", features: ["sse4"]),
            artifactType: "application/vnd.example+type")
        let json = try encode(descriptor)
        #expect(try decode(json) == descriptor)
        #expect(json.contains(#""os.version":"1.2""#))
        #expect(json.contains(#""os.features":["f"]"#))
        #expect(json.contains(#""size":9223372036854775807"#))
    }

    @Test("omits absent fields when encoding")
    func omitsNil() throws {
        let descriptor = try decode(SpecFixtures.descriptorManifest)
        #expect(try encode(descriptor) == #"{"digest":"sha256:5b0bcabd1ed22e9fb1310cf6c2dec7cdef19f0ad69efa1f392e94a4333501270","mediaType":"application/vnd.oci.image.manifest.v1+json","size":7682}"#)
    }

    @Test("tolerates unknown fields")
    func unknownFields() throws {
        let json = #"{"mediaType":"a/b","digest":"\#(sha256String())","size":1,"future":{"x":[1,2]},"n":null}"#
        #expect(try decode(json).size == 1)
    }

    @Test("rejects missing required fields, bad digests and negative sizes", arguments: [
        #"{"digest":"\#(sha256String())","size":1}"#,
        #"{"mediaType":"a/b","size":1}"#,
        #"{"mediaType":"a/b","digest":"\#(sha256String())"}"#,
        #"{"mediaType":"a/b","digest":"sha256:abc","size":1}"#,
        #"{"mediaType":"a/b","digest":"\#(sha256String())","size":-1}"#,
        #"{"mediaType":"a/b","digest":"\#(sha256String())","size":"1"}"#,
    ])
    func rejects(_ json: String) {
        #expect(throws: DecodingError.self) { try decode(json) }
    }

    @Test("the empty descriptor matches the spec and its content")
    func emptyDescriptor() throws {
        #expect(try decode(SpecFixtures.emptyDescriptor) == Descriptor.emptyJSON)
        #expect(Descriptor.emptyJSON.digest == Digest.sha256(of: bytes("{}")))
        #expect(Descriptor.emptyJSON.embeddedContent() == bytes("{}"))
    }

    @Test("embedded data is only returned when it matches size and digest")
    func embeddedData() throws {
        var descriptor = Descriptor.emptyJSON
        descriptor.data = "W10="  // "[]": right size, wrong digest
        #expect(descriptor.embeddedContent() == nil)
        descriptor.data = "e30K"  // "{}\n": wrong size
        #expect(descriptor.embeddedContent() == nil)
        descriptor.data = "not base64!"
        #expect(descriptor.embeddedContent() == nil)
        descriptor.data = nil
        #expect(descriptor.embeddedContent() == nil)
    }

    @Test("platform uses the spec's dotted keys and describes itself")
    func platform() throws {
        let json = #"{"architecture":"amd64","os":"windows","os.version":"10.0.14393.1066","os.features":["win32k"]}"#
        let platform = try JSONDecoder().decode(Platform.self, from: Data(json.utf8))
        #expect(platform.osVersion == "10.0.14393.1066")
        #expect(platform.osFeatures == ["win32k"])
        #expect(platform.description == "windows/amd64")
        #expect(Platform(architecture: "arm64", os: "linux", variant: "v8").description == "linux/arm64/v8")
        #expect(try encode(platform) == #"{"architecture":"amd64","os":"windows","os.features":["win32k"],"os.version":"10.0.14393.1066"}"#)
    }
}
