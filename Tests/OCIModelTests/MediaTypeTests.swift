import Foundation
import Testing
@testable import OCIModel

@Suite("MediaType")
struct MediaTypeTests {
    @Test("constants are the spec's strings")
    func constants() {
        #expect(MediaType.ociDescriptor.rawValue == "application/vnd.oci.descriptor.v1+json")
        #expect(MediaType.ociLayoutHeader.rawValue == "application/vnd.oci.layout.header.v1+json")
        #expect(MediaType.ociManifest.rawValue == "application/vnd.oci.image.manifest.v1+json")
        #expect(MediaType.ociIndex.rawValue == "application/vnd.oci.image.index.v1+json")
        #expect(MediaType.ociConfig.rawValue == "application/vnd.oci.image.config.v1+json")
        #expect(MediaType.ociLayer.rawValue == "application/vnd.oci.image.layer.v1.tar")
        #expect(MediaType.ociLayerGzip.rawValue == "application/vnd.oci.image.layer.v1.tar+gzip")
        #expect(MediaType.ociLayerZstd.rawValue == "application/vnd.oci.image.layer.v1.tar+zstd")
        #expect(MediaType.ociLayerNondistributable.rawValue
            == "application/vnd.oci.image.layer.nondistributable.v1.tar")
        #expect(MediaType.ociLayerNondistributableGzip.rawValue
            == "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip")
        #expect(MediaType.ociLayerNondistributableZstd.rawValue
            == "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd")
        #expect(MediaType.ociEmptyJSON.rawValue == "application/vnd.oci.empty.v1+json")
        #expect(MediaType.dockerManifest.rawValue == "application/vnd.docker.distribution.manifest.v2+json")
        #expect(MediaType.dockerManifestList.rawValue
            == "application/vnd.docker.distribution.manifest.list.v2+json")
        #expect(MediaType.dockerConfig.rawValue == "application/vnd.docker.container.image.v1+json")
        #expect(MediaType.dockerLayerGzip.rawValue == "application/vnd.docker.image.rootfs.diff.tar.gzip")
        #expect(MediaType.dockerForeignLayerGzip.rawValue
            == "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip")
        #expect(MediaType.dockerPluginConfig.rawValue == "application/vnd.docker.plugin.v1+json")
        #expect(MediaType.dockerManifestSchema1.rawValue == "application/vnd.docker.distribution.manifest.v1+json")
        #expect(MediaType.dockerManifestSchema1Signed.rawValue
            == "application/vnd.docker.distribution.manifest.v1+prettyjws")
    }

    @Test("classifies manifests, indexes and layers")
    func classification() {
        #expect(MediaType.ociManifest.isManifest && MediaType.dockerManifest.isManifest)
        #expect(!MediaType.ociIndex.isManifest && !MediaType.ociConfig.isManifest)
        #expect(MediaType.ociIndex.isIndex && MediaType.dockerManifestList.isIndex)
        #expect(!MediaType.ociManifest.isIndex)
        #expect(MediaType.ociIndex.isManifestOrIndex && !MediaType.ociLayer.isManifestOrIndex)
        for layer: MediaType in [.ociLayer, .ociLayerGzip, .ociLayerZstd, .ociLayerNondistributable,
                                 .ociLayerNondistributableGzip, .ociLayerNondistributableZstd,
                                 .dockerLayerGzip, .dockerForeignLayerGzip]
        {
            #expect(layer.isLayer, "\(layer)")
        }
        #expect(!MediaType.ociConfig.isLayer && !MediaType.ociEmptyJSON.isLayer)
        #expect(!MediaType("application/vnd.example+type").isLayer)
        #expect(MediaType.dockerForeignLayerGzip.isNondistributable && !MediaType.ociLayerGzip.isNondistributable)
        #expect(MediaType.dockerForeignLayer.rawValue == "application/vnd.docker.image.rootfs.foreign.diff.tar")
        #expect(MediaType.dockerForeignLayer.isLayer && MediaType.dockerForeignLayer.isNondistributable)
        #expect(MediaType.dockerForeignLayer.layerCompression == .uncompressed)
        #expect(MediaType.dockerManifestSchema1Signed.isSchema1 && !MediaType.dockerManifest.isSchema1)
        #expect(MediaType.ociConfig.isImageConfig && MediaType.dockerConfig.isImageConfig)
        #expect(MediaType.ociLayer.layerCompression == .uncompressed)
        #expect(MediaType.dockerLayerGzip.layerCompression == .gzip)
        #expect(MediaType.ociLayerNondistributableZstd.layerCompression == .zstd)
        #expect(MediaType.ociConfig.layerCompression == nil)
    }

    @Test("normalises Content-Type header values", arguments: [
        ("application/vnd.oci.image.manifest.v1+json", "application/vnd.oci.image.manifest.v1+json"),
        ("Application/VND.OCI.Image.Manifest.v1+JSON", "application/vnd.oci.image.manifest.v1+json"),
        ("  application/json ; charset=utf-8", "application/json"),
        ("\tapplication/json\t", "application/json"),
    ])
    func contentType(_ header: String, expected: String) {
        #expect(MediaType(contentType: header)?.rawValue == expected)
    }

    @Test("an empty Content-Type is no media type")
    func emptyContentType() {
        #expect(MediaType(contentType: "") == nil)
        #expect(MediaType(contentType: "  ; charset=utf-8") == nil)
    }

    @Test("is Codable as a string and keeps unknown values")
    func codable() throws {
        let json = Data(#"["application/vnd.example.sbom.v1"]"#.utf8)
        let decoded = try JSONDecoder().decode([MediaType].self, from: json)
        #expect(decoded == ["application/vnd.example.sbom.v1"])
        #expect(try JSONDecoder().decode([MediaType].self, from: JSONEncoder().encode(decoded)) == decoded)
    }
}
