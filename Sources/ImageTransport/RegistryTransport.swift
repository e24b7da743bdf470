import Glibc
import OCIModel
import RegistryClient
import SystemIO


/// Reads an image from a repository of a registry.
public final class RegistrySource: ImageSource {
    public let client: RegistryClient
    public let image: ImageLocation.RegistryImage
    public let description: String

    public init(client: RegistryClient, image: ImageLocation.RegistryImage) {
        self.client = client
        self.image = image
        description = "docker://\(image.description)"
    }

    public func topManifest() async throws -> ManifestData {
        let remote = try await client.fetchManifest(
            repository: image.repository, reference: image.reference, accept: RegistryClient.defaultManifestAccept)
        return ManifestData(bytes: remote.bytes, mediaType: MediaType(remote.mediaType), digest: remote.digest)
    }

    public func manifest(_ descriptor: Descriptor) async throws -> ManifestData {
        let remote = try await client.fetchManifest(
            repository: image.repository, reference: descriptor.digest.description, accept: RegistryClient.defaultManifestAccept)
        guard remote.digest == descriptor.digest else {
            throw TransportError.digestMismatch(what: "\(description): manifest", expected: descriptor.digest,
                                                actual: remote.digest)
        }
        return ManifestData(bytes: remote.bytes, mediaType: MediaType(remote.mediaType), digest: remote.digest)
    }

    public func localBlobPath(_ descriptor: Descriptor) -> String? { nil }

    public func mountOrigin(for descriptor: Descriptor) -> RepositoryLocation? {
        RepositoryLocation(registry: client.registry, repository: image.repository)
    }

    public func fetchBlob(_ descriptor: Descriptor, to path: String, progress: BlobProgress?) async throws {
        try await client.downloadBlob(repository: image.repository, descriptor: descriptor, to: path,
                                      progress: progress)
    }

    public func tags() async throws -> [String] {
        try await client.listTags(repository: image.repository)
    }
}

/// Writes an image into a repository of a registry: blobs by upload (or mount), manifests by digest, the top one
/// by the destination's tag (or digest).
public final class RegistryDestination: ImageDestination {
    public let client: RegistryClient
    public let image: ImageLocation.RegistryImage
    public let description: String
    let stagingDirectory: String

    /// - Parameter stagingDirectory: Where blobs coming from another registry are staged (verified) before upload.
    public init(client: RegistryClient, image: ImageLocation.RegistryImage, stagingDirectory: String) {
        self.client = client
        self.image = image
        self.stagingDirectory = stagingDirectory
        description = "docker://\(image.description)"
    }

    public func hasBlob(_ descriptor: Descriptor) async throws -> Bool {
        try await client.blobExists(repository: image.repository, digest: descriptor.digest) == descriptor.size
    }

    public func stagingPath(for descriptor: Descriptor) throws -> String {
        try FileSystem.makePrivateDirectory(stagingDirectory)
        return "\(stagingDirectory)/.tmp-\(FileSystem.randomName())"
    }

    public func putBlob(_ descriptor: Descriptor, from path: String, staged: Bool, progress: BlobProgress?) async throws {
        defer { if staged { unlink(path) } }
        // A source's own file has not been read yet: check it before any byte leaves, so a corrupt local blob is
        // reported as such (the registry would refuse it too, but only after the whole upload).
        if !staged { try await BlobFiles.verify(path, descriptor: descriptor) }
        try await client.uploadBlob(repository: image.repository, descriptor: descriptor, from: path,
                                    progress: progress)
    }

    public func mountBlob(_ descriptor: Descriptor, from source: any ImageSource) async throws -> Bool {
        guard let origin = source.mountOrigin(for: descriptor), origin.registry == client.registry,
              origin.repository != image.repository
        else { return false }
        return try await client.mountBlob(repository: image.repository, digest: descriptor.digest,
                                          from: origin.repository)
    }

    public func putManifest(_ manifest: ManifestData, top: Bool) async throws {
        let reference = top ? (image.tag ?? image.digest?.description ?? manifest.digest.description)
            : manifest.digest.description
        if top, let digest = image.digest, digest != manifest.digest {
            throw TransportError.digestMismatch(what: "\(description): manifest", expected: digest,
                                                actual: manifest.digest)
        }
        _ = try await client.putManifest(repository: image.repository, reference: reference,
                                         bytes: manifest.bytes, mediaType: manifest.mediaType.rawValue)
    }

    public func addTags(_ tags: [String], to manifest: ManifestData) async throws {
        for tag in tags {
            _ = try await client.putManifest(repository: image.repository, reference: tag,
                                             bytes: manifest.bytes, mediaType: manifest.mediaType.rawValue)
        }
    }
}
