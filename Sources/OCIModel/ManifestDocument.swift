/// A parsed manifest document: either a single image manifest or an index of manifests.
///
/// This is what the registry validates on `PUT /v2/<name>/manifests/<reference>` and what a client
/// walks after `GET`. Build one with `parse(_:contentType:)`.
public enum ManifestDocument: Hashable, Sendable {
    /// An OCI image manifest or Docker schema 2 manifest.
    case manifest(ImageManifest)
    /// An OCI image index or Docker manifest list.
    case index(ImageIndex)

    /// The document's effective media type: its `mediaType` field, or (when the document has none)
    /// the type it was parsed as. `parse(_:contentType:)` fills the field in, so this is
    /// always what the registry should send back as `Content-Type`.
    public var mediaType: MediaType {
        switch self {
        case .manifest(let manifest): manifest.mediaType ?? .ociManifest
        case .index(let index): index.mediaType ?? .ociIndex
        }
    }

    /// Always 2 for a parsed document.
    public var schemaVersion: Int {
        switch self {
        case .manifest(let manifest): manifest.schemaVersion
        case .index(let index): index.schemaVersion
        }
    }

    /// Everything this document needs to exist in the same repository: the config and layers of a
    /// manifest, or the entries of an index. A registry checks these before accepting a push
    /// (`MANIFEST_BLOB_UNKNOWN`); a copier copies them; garbage collection marks them.
    ///
    /// The ``subject`` is not included: it is a weak association, and a referrer may be pushed
    /// before (or without) its subject.
    public var referencedDescriptors: [Descriptor] {
        switch self {
        case .manifest(let manifest): [manifest.config] + manifest.layers
        case .index(let index): index.manifests
        }
    }

    /// The manifest this document refers to, for the referrers API.
    public var subject: Descriptor? {
        switch self {
        case .manifest(let manifest): manifest.subject
        case .index(let index): index.subject
        }
    }

    /// The artifact type to list for this document in a referrers response (distribution-spec,
    /// "Listing Referrers"): its `artifactType`; failing that, for a manifest, the config's media
    /// type; for an index, none.
    public var artifactType: MediaType? {
        switch self {
        case .manifest(let manifest):
            if let type = manifest.artifactType, !type.rawValue.isEmpty { return type }
            return manifest.config.mediaType
        case .index(let index):
            if let type = index.artifactType, !type.rawValue.isEmpty { return type }
            return nil
        }
    }

    /// The document's annotations, which the referrers API copies into its descriptors.
    public var annotations: [String: String]? {
        switch self {
        case .manifest(let manifest): manifest.annotations
        case .index(let index): index.annotations
        }
    }

    /// Encodes the document as compact JSON.
    public func encoded() -> [UInt8] {
        switch self {
        case .manifest(let manifest): manifest.encoded()
        case .index(let index): index.encoded()
        }
    }
}
