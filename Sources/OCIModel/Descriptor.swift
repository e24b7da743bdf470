/// A reference to content by type, digest and size (descriptor.md): how manifests point at their
/// config and layers, how indexes point at manifests, and how referrers name their subject.
///
/// `mediaType` is kept as written even when unknown to us: image-spec says implementations
/// storing or copying manifests MUST NOT error on an unknown media type.
public struct Descriptor: Hashable, Sendable {
    /// The media type of the referenced content.
    public var mediaType: MediaType
    /// The digest of the referenced content; verify fetched bytes against it.
    public var digest: Digest
    /// The size in bytes of the referenced content; check it before hashing (descriptor.md,
    /// "Verification") and never read more than this.
    public var size: Int64
    /// Alternative locations of the content (Docker foreign layers, non-distributable layers).
    public var urls: [String]?
    /// Arbitrary metadata (annotations.md).
    public var annotations: [String: String]?
    /// The content itself, base64-encoded, for small blobs; see ``embeddedContent()``.
    public var data: String?
    /// The platform of the referenced manifest, in index entries.
    public var platform: Platform?
    /// The artifact type of the referenced manifest, in index entries and referrers responses.
    public var artifactType: MediaType?

    public init(mediaType: MediaType, digest: Digest, size: Int64, urls: [String]? = nil,
                annotations: [String: String]? = nil, data: String? = nil, platform: Platform? = nil,
                artifactType: MediaType? = nil)
    {
        self.mediaType = mediaType
        self.digest = digest
        self.size = size
        self.urls = urls
        self.annotations = annotations
        self.data = data
        self.platform = platform
        self.artifactType = artifactType
    }

    /// The descriptor of the empty JSON object `{}` (`DescriptorEmptyJSON` in image-spec's
    /// reference code), for artifacts without config or layers.
    public static let emptyJSON = Descriptor(
        mediaType: .ociEmptyJSON,
        digest: Digest(uncheckedAlgorithm: .sha256,
                       encoded: "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"),
        size: 2,
        data: "e30=")
}
