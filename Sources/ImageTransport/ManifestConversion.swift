import OCIModel

/// The manifest formats `--format` converts between.
public enum ManifestFormat: String, Sendable, CaseIterable {
    case oci
    case v2s2

    var manifestType: MediaType { self == .oci ? .ociManifest : .dockerManifest }
    var indexType: MediaType { self == .oci ? .ociIndex : .dockerManifestList }
    var configType: MediaType { self == .oci ? .ociConfig : .dockerConfig }

    /// The format a manifest or index media type belongs to.
    init?(_ mediaType: MediaType) {
        switch mediaType {
        case .ociManifest, .ociIndex: self = .oci
        case .dockerManifest, .dockerManifestList: self = .v2s2
        default: return nil
        }
    }
}

/// Rewrites manifests and indexes from one format to the other. Blobs are not changed (the two config formats
/// are the same JSON), only media types in the documents; a conversion therefore changes the manifest digest.
enum ManifestConversion {
    static let dockerLayerUncompressed: MediaType = "application/vnd.docker.image.rootfs.diff.tar"

    /// The converted document, or nil when `manifest` already is in `format`.
    /// - Parameter children: For an index, the converted descriptors of its children, by original digest.
    static func convert(_ manifest: ManifestData, to format: ManifestFormat,
                        children: [Digest: Descriptor] = [:]) throws -> ManifestData? {
        let document = try manifest.parsed()
        switch document {
        case .manifest(var image):
            guard ManifestFormat(document.mediaType) != format else { return nil }
            let what = "manifest \(manifest.digest)"
            guard image.config.mediaType.isImageConfig else {
                throw TransportError.unsupported(
                    "\(what): config type \(image.config.mediaType) is not an image config; cannot convert to \(format.rawValue)")
            }
            if format == .v2s2 {
                if image.subject != nil || image.artifactType != nil {
                    throw TransportError.unsupported(
                        "\(what): Docker schema 2 cannot carry subject or artifactType; cannot convert to v2s2")
                }
                image.annotations = nil
            }
            image.mediaType = format.manifestType
            image.config.mediaType = format.configType
            image.layers = try image.layers.map { layer in
                var layer = layer
                layer.mediaType = try convertLayerType(layer.mediaType, to: format, what: what)
                if format == .v2s2 { layer.annotations = nil }
                return layer
            }
            return ManifestData(bytes: image.encoded(), mediaType: format.manifestType)
        case .index(var index):
            let sameFormat = ManifestFormat(document.mediaType) == format
            if sameFormat && children.isEmpty { return nil }
            if format == .v2s2 && (index.subject != nil || index.artifactType != nil) {
                throw TransportError.unsupported(
                    "index \(manifest.digest): a Docker manifest list cannot carry subject or artifactType")
            }
            index.mediaType = format.indexType
            if format == .v2s2 { index.annotations = nil }
            index.manifests = index.manifests.map { child in
                if let converted = children[child.digest] {
                    var updated = child
                    updated.digest = converted.digest
                    updated.size = converted.size
                    updated.mediaType = converted.mediaType
                    return updated
                }
                return child
            }
            let bytes = index.encoded()
            if sameFormat && bytes == manifest.bytes { return nil }
            return ManifestData(bytes: bytes, mediaType: format.indexType)
        }
    }

    static func convertLayerType(_ type: MediaType, to format: ManifestFormat, what: String) throws -> MediaType {
        switch (type, format) {
        case (.ociLayerGzip, .v2s2): return .dockerLayerGzip
        case (.ociLayer, .v2s2): return dockerLayerUncompressed
        case (.ociLayerNondistributableGzip, .v2s2): return .dockerForeignLayerGzip
        case (.dockerLayerGzip, .oci): return .ociLayerGzip
        case (dockerLayerUncompressed, .oci): return .ociLayer
        case (.dockerForeignLayerGzip, .oci): return .ociLayerNondistributableGzip
        case (.ociLayerGzip, .oci), (.ociLayer, .oci), (.ociLayerZstd, .oci), (.ociLayerNondistributable, .oci),
             (.ociLayerNondistributableGzip, .oci), (.ociLayerNondistributableZstd, .oci),
             (.dockerLayerGzip, .v2s2), (.dockerForeignLayerGzip, .v2s2), (dockerLayerUncompressed, .v2s2):
            return type
        default:
            throw TransportError.unsupported("\(what): layer type \(type) has no \(format.rawValue) equivalent")
        }
    }
}
