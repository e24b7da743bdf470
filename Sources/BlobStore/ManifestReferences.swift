import OCIModel

/// What a stored manifest makes reachable, read leniently from its bytes: the config and layers of an image
/// manifest, the children of an index, and its subject. Lenient because it reads manifests stored by any
/// version (one stored before duplicate keys were refused no longer passes `ManifestDocument.parse`), and
/// because for the collector an unreadable manifest refers to nothing it can name.
public struct ManifestReferences: Sendable, Equatable {
    /// Config and layers (blobs linked into the repository).
    public var blobs: [Digest] = []
    /// Children of an index (manifests of the same repository).
    public var manifests: [Digest] = []
    public var subject: Digest?
    /// The size each descriptor of the manifest declares (config, layers or children, then the subject), in the
    /// order the registry names them in its messages; empty when not known (a manifest read back for the
    /// collector). A metadata store that `checksDeclaredSizes` compares them with what it holds, in the same
    /// step as the write; the others leave that to the registry's check.
    public var declaredSizes: [DeclaredSize] = []

    /// A digest a manifest names and the size its descriptor declares for it.
    public struct DeclaredSize: Sendable, Equatable {
        public let digest: Digest
        public let size: Int64

        public init(digest: Digest, size: Int64) {
            self.digest = digest
            self.size = size
        }
    }

    public init(blobs: [Digest] = [], manifests: [Digest] = [], subject: Digest? = nil,
                declaredSizes: [DeclaredSize] = []) {
        self.blobs = blobs
        self.manifests = manifests
        self.subject = subject
        self.declaredSizes = declaredSizes
    }

    /// Reads a manifest's bytes; fields that are absent or malformed name nothing.
    public init(bytes: [UInt8]) {
        self = Self(parsing: bytes) ?? Self()
    }

    /// Reads a manifest's bytes. - Returns: nil when they are not a JSON object of the manifest's shape (`config`,
    /// `layers`, `manifests`, `subject` of the wrong type): what they name cannot be known.
    public init?(parsing bytes: [UInt8]) {
        guard let shape = try? JSONCoding.decode(Shape.self, from: bytes) else { return nil }
        blobs = ([shape.config].compactMap { $0 } + (shape.layers ?? [])).compactMap(\.parsed)
        manifests = (shape.manifests ?? []).compactMap(\.parsed)
        subject = shape.subject?.parsed
    }

    private struct Shape: Decodable {
        struct Named: Decodable {
            let digest: String?
            var parsed: Digest? { digest.flatMap { try? Digest(parsing: $0) } }
        }
        let config: Named?
        let layers: [Named]?
        let manifests: [Named]?
        let subject: Named?
    }
}
