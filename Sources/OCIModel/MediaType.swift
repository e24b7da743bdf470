/// A media type string such as `application/vnd.oci.image.manifest.v1+json`.
///
/// A thin wrapper rather than an enum: descriptors routinely carry media types this code has never
/// heard of (artifacts, vendor layers), and image-spec says implementations storing or copying
/// manifests MUST NOT error on them. The constants below name the ones we do understand.
public struct MediaType: RawRepresentable, Hashable, Sendable, Codable, ExpressibleByStringLiteral,
    CustomStringConvertible
{
    /// The media type exactly as written.
    public let rawValue: String

    public init(rawValue: String) { self.rawValue = rawValue }

    public init(_ rawValue: String) { self.rawValue = rawValue }

    public init(stringLiteral value: String) { self.rawValue = value }

    /// Normalises a `Content-Type` header value: drops parameters (`; charset=…`), surrounding
    /// whitespace, and case (type and subtype are case-insensitive, RFC 6838 §4.2). The
    /// distribution-spec tells registries and clients to ignore Content-Type parameters.
    ///
    /// - Parameter headerValue: The raw header value.
    /// - Returns: `nil` when nothing is left, i.e. there is no usable content type.
    public init?(contentType headerValue: some StringProtocol) {
        var value = Substring(headerValue).prefix { $0 != ";" }
        while let first = value.first, first == " " || first == "\t" { value.removeFirst() }
        while let last = value.last, last == " " || last == "\t" { value.removeLast() }
        guard !value.isEmpty else { return nil }
        self.rawValue = String(value).lowercased()
    }

    public var description: String { rawValue }
}

// MARK: - OCI image-spec (media-types.md)

extension MediaType {
    /// A content descriptor (descriptor.md).
    public static let ociDescriptor: MediaType = "application/vnd.oci.descriptor.v1+json"
    /// The `oci-layout` file of an image layout.
    public static let ociLayoutHeader: MediaType = "application/vnd.oci.layout.header.v1+json"
    /// An image manifest (manifest.md).
    public static let ociManifest: MediaType = "application/vnd.oci.image.manifest.v1+json"
    /// An image index (image-index.md).
    public static let ociIndex: MediaType = "application/vnd.oci.image.index.v1+json"
    /// An image configuration (config.md).
    public static let ociConfig: MediaType = "application/vnd.oci.image.config.v1+json"
    /// A layer as an uncompressed tar archive.
    public static let ociLayer: MediaType = "application/vnd.oci.image.layer.v1.tar"
    /// A layer as a gzip-compressed tar archive.
    public static let ociLayerGzip: MediaType = "application/vnd.oci.image.layer.v1.tar+gzip"
    /// A layer as a zstd-compressed tar archive.
    public static let ociLayerZstd: MediaType = "application/vnd.oci.image.layer.v1.tar+zstd"
    /// A layer with distribution restrictions (deprecated), uncompressed.
    public static let ociLayerNondistributable: MediaType = "application/vnd.oci.image.layer.nondistributable.v1.tar"
    /// A layer with distribution restrictions (deprecated), gzip-compressed.
    public static let ociLayerNondistributableGzip: MediaType =
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
    /// A layer with distribution restrictions (deprecated), zstd-compressed.
    public static let ociLayerNondistributableZstd: MediaType =
        "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"
    /// The empty JSON object `{}`, for artifacts that need no config or layer (manifest.md).
    public static let ociEmptyJSON: MediaType = "application/vnd.oci.empty.v1+json"
}

// MARK: - Docker image manifest v2, schema 2 (manifest-v2-2.md)

extension MediaType {
    /// A Docker image manifest, schema 2; same shape as ``ociManifest``.
    public static let dockerManifest: MediaType = "application/vnd.docker.distribution.manifest.v2+json"
    /// A Docker manifest list ("fat manifest"); same shape as ``ociIndex``.
    public static let dockerManifestList: MediaType = "application/vnd.docker.distribution.manifest.list.v2+json"
    /// A Docker container image configuration.
    public static let dockerConfig: MediaType = "application/vnd.docker.container.image.v1+json"
    /// A Docker layer, gzip-compressed tar; interchangeable with ``ociLayerGzip``.
    public static let dockerLayerGzip: MediaType = "application/vnd.docker.image.rootfs.diff.tar.gzip"
    /// A Docker "foreign" layer: may be pulled from its `urls`, should never be pushed.
    public static let dockerForeignLayerGzip: MediaType = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
    /// An uncompressed Docker foreign layer: not in manifest-v2-2.md, but defined by containerd
    /// (`MediaTypeDockerSchema2LayerForeign`) beside the gzip one.
    public static let dockerForeignLayer: MediaType = "application/vnd.docker.image.rootfs.foreign.diff.tar"
    /// A Docker plugin configuration.
    public static let dockerPluginConfig: MediaType = "application/vnd.docker.plugin.v1+json"
    /// A Docker schema 1 manifest: known so it can be refused by name, not supported.
    public static let dockerManifestSchema1: MediaType = "application/vnd.docker.distribution.manifest.v1+json"
    /// A signed Docker schema 1 manifest: known so it can be refused by name, not supported.
    public static let dockerManifestSchema1Signed: MediaType =
        "application/vnd.docker.distribution.manifest.v1+prettyjws"
}
