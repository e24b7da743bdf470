import OCIModel

/// Reports a blob transfer's progress: bytes done and bytes in all.
public typealias BlobProgress = @Sendable (_ transferred: Int64, _ total: Int64) -> Void

/// A manifest or index as stored: its exact bytes, media type and digest.
public struct ManifestData: Sendable, Hashable {
    public var bytes: [UInt8]
    public var mediaType: MediaType
    public var digest: Digest

    public init(bytes: [UInt8], mediaType: MediaType, digest: Digest) {
        self.bytes = bytes
        self.mediaType = mediaType
        self.digest = digest
    }

    /// Computes the digest of `bytes`.
    public init(bytes: [UInt8], mediaType: MediaType) {
        self.init(bytes: bytes, mediaType: mediaType, digest: .sha256(of: bytes))
    }

    public func parsed() throws(TransportError) -> ManifestDocument {
        do {
            return try ManifestDocument.parse(bytes, contentType: mediaType.rawValue)
        } catch {
            throw .invalidImage("manifest \(digest)", reason: "\(error)")
        }
    }
}

/// Where images are read from: a registry repository, a layout, a directory or an archive.
public protocol ImageSource: AnyObject, Sendable {
    /// The location, for messages.
    var description: String { get }

    /// The manifest or index the location names (its tag, digest or layout reference).
    func topManifest() async throws -> ManifestData

    /// A manifest referenced by an index, by digest; the bytes are verified against it.
    func manifest(_ descriptor: Descriptor) async throws -> ManifestData

    /// The path of a local file holding the blob, when the source keeps blobs as files (layouts, directories);
    /// the caller still verifies the bytes as it reads them.
    func localBlobPath(_ descriptor: Descriptor) -> String?

    /// Writes the blob into `path` (created or truncated), verifying its size and digest; on failure `path` is
    /// removed.
    func fetchBlob(_ descriptor: Descriptor, to path: String, progress: BlobProgress?) async throws

    /// The registry repository the blob can be mounted from (a registry source's own repository), for a
    /// destination in the same registry.
    func mountOrigin(for descriptor: Descriptor) -> RepositoryLocation?

    /// Tags of the repository, where the source has such a notion (registries, layouts).
    func tags() async throws -> [String]

    /// Releases temporary state (extracted archives).
    func close()
}

/// A repository in a registry.
public struct RepositoryLocation: Sendable, Hashable {
    public var registry: String
    public var repository: String

    public init(registry: String, repository: String) {
        self.registry = registry
        self.repository = repository
    }
}

extension ImageSource {
    public func mountOrigin(for descriptor: Descriptor) -> RepositoryLocation? { nil }
    public func tags() async throws -> [String] { [] }
    public func close() {}
}
