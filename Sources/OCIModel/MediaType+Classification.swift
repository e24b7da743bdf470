extension MediaType {
    /// Whether this is a single-image manifest format we parse: OCI image manifest or Docker
    /// schema 2 manifest. Both have `config` and `layers`.
    public var isManifest: Bool { self == .ociManifest || self == .dockerManifest }

    /// Whether this is a multi-image manifest format we parse: OCI image index or Docker manifest
    /// list. Both have `manifests`.
    public var isIndex: Bool { self == .ociIndex || self == .dockerManifestList }

    /// Whether a registry stores this under `/manifests/` (a manifest or an index), as opposed to a
    /// blob.
    public var isManifestOrIndex: Bool { isManifest || isIndex }

    /// Whether this is a Docker schema 1 manifest, which we recognise only to reject clearly.
    public var isSchema1: Bool { self == .dockerManifestSchema1 || self == .dockerManifestSchema1Signed }

    /// Whether this is a known filesystem layer type (tar, optionally compressed), including the
    /// deprecated non-distributable and Docker foreign variants.
    public var isLayer: Bool {
        switch self {
        case .ociLayer, .ociLayerGzip, .ociLayerZstd,
             .ociLayerNondistributable, .ociLayerNondistributableGzip, .ociLayerNondistributableZstd,
             .dockerLayerGzip, .dockerForeignLayerGzip, .dockerForeignLayer:
            true
        default:
            false
        }
    }

    /// Whether a layer of this type is, by convention, not pushed to registries (its content is
    /// fetched from the descriptor's `urls`). Copiers skip such blobs unless told otherwise.
    public var isNondistributable: Bool {
        switch self {
        case .ociLayerNondistributable, .ociLayerNondistributableGzip, .ociLayerNondistributableZstd,
             .dockerForeignLayerGzip, .dockerForeignLayer:
            true
        default:
            false
        }
    }

    /// Whether this is an image configuration that ``ImageConfig`` can decode.
    public var isImageConfig: Bool { self == .ociConfig || self == .dockerConfig }

    /// The compression a layer of this type uses, or `nil` if this is not a known layer type.
    public var layerCompression: LayerCompression? {
        switch self {
        case .ociLayer, .ociLayerNondistributable, .dockerForeignLayer: .uncompressed
        case .ociLayerGzip, .ociLayerNondistributableGzip, .dockerLayerGzip, .dockerForeignLayerGzip: .gzip
        case .ociLayerZstd, .ociLayerNondistributableZstd: .zstd
        default: nil
        }
    }

    /// How a layer's tar stream is compressed.
    public enum LayerCompression: Sendable, Hashable {
        case uncompressed, gzip, zstd
    }
}
