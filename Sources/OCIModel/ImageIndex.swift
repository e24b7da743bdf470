/// A list of manifests, usually one per platform (image-index.md); also the shape of a Docker
/// manifest list and of a referrers API response.
///
/// Unknown fields are ignored on decode. To parse untrusted bytes, use
/// `ManifestDocument.parse(_:contentType:)`.
public struct ImageIndex: Hashable, Sendable, Codable {
    /// Always 2 for the formats we support.
    public var schemaVersion: Int
    /// `application/vnd.oci.image.index.v1+json` or the Docker manifest list type.
    public var mediaType: MediaType?
    /// The artifact type, when this index packages an artifact.
    public var artifactType: MediaType?
    /// The manifests (or nested indexes); may be empty.
    public var manifests: [Descriptor]
    /// The manifest this index refers to, for the referrers API.
    public var subject: Descriptor?
    /// Arbitrary metadata (annotations.md).
    public var annotations: [String: String]?

    public init(schemaVersion: Int = 2, mediaType: MediaType? = .ociIndex, artifactType: MediaType? = nil,
                manifests: [Descriptor], subject: Descriptor? = nil, annotations: [String: String]? = nil)
    {
        self.schemaVersion = schemaVersion
        self.mediaType = mediaType
        self.artifactType = artifactType
        self.manifests = manifests
        self.subject = subject
        self.annotations = annotations
    }

    enum CodingKeys: String, CodingKey {
        case schemaVersion, mediaType, artifactType, manifests, subject, annotations
    }

    /// Encodes the index as compact JSON.
    public func encoded() -> [UInt8] {
        JSONCoding.encodeInfallibly(self)
    }
}
