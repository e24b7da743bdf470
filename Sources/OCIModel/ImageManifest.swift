/// A single image (or artifact): one config and an ordered list of layers (manifest.md).
///
/// The same shape serves OCI image manifests and Docker schema 2 manifests; ``mediaType`` tells
/// them apart. Unknown fields are ignored on decode. To parse untrusted bytes, use
/// `ManifestDocument.parse(_:contentType:)`, which also checks the media type and
/// rejects ambiguous documents; decoding this type directly does not.
///
/// A manifest's digest is over the bytes as pushed; never re-encode a parsed manifest to store or
/// hash it.
public struct ImageManifest: Hashable, Sendable, Codable {
    /// Always 2 for the formats we support.
    public var schemaVersion: Int
    /// `application/vnd.oci.image.manifest.v1+json` or the Docker schema 2 type.
    public var mediaType: MediaType?
    /// The artifact type, when this manifest packages an artifact rather than an image.
    public var artifactType: MediaType?
    /// The image configuration (or artifact config, or ``Descriptor/emptyJSON``).
    public var config: Descriptor
    /// The layers, base first.
    public var layers: [Descriptor]
    /// The manifest this one refers to, for the referrers API.
    public var subject: Descriptor?
    /// Arbitrary metadata (annotations.md).
    public var annotations: [String: String]?

    public init(schemaVersion: Int = 2, mediaType: MediaType? = .ociManifest, artifactType: MediaType? = nil,
                config: Descriptor, layers: [Descriptor], subject: Descriptor? = nil,
                annotations: [String: String]? = nil)
    {
        self.schemaVersion = schemaVersion
        self.mediaType = mediaType
        self.artifactType = artifactType
        self.config = config
        self.layers = layers
        self.subject = subject
        self.annotations = annotations
    }

    enum CodingKeys: String, CodingKey {
        case schemaVersion, mediaType, artifactType, config, layers, subject, annotations
    }

    /// Encodes the manifest as compact JSON, ready to push (and then to hash, as pushed).
    public func encoded() -> [UInt8] {
        JSONCoding.encodeInfallibly(self)
    }
}
