import OCIModel
import SystemIO

/// Reads images from an OCI image layout.
public final class OCILayoutSource: ImageSource {
    let layout: OCILayout
    let reference: String?
    public let description: String

    public init(directory: String, reference: String?) throws {
        layout = OCILayout(directory: directory)
        self.reference = reference
        description = ImageLocation.ociLayout(directory: directory, reference: reference).description
        try layout.validate()
    }

    public func topManifest() async throws -> ManifestData {
        let index = try layout.readIndex()
        let descriptor: Descriptor
        if let reference {
            guard let named = index.manifests.last(where: {
                $0.annotations?[OCILayout.refNameAnnotation] == reference
            }) else { throw TransportError.imageNotFound(description) }
            descriptor = named
        } else {
            guard index.manifests.count == 1, let only = index.manifests.first else {
                throw TransportError.invalidImage(
                    description,
                    reason: index.manifests.isEmpty
                        ? "the layout holds no image"
                        : "the layout holds \(index.manifests.count) images; name one with oci:DIR:ref")
            }
            descriptor = only
        }
        return try layout.readManifest(descriptor)
    }

    public func manifest(_ descriptor: Descriptor) async throws -> ManifestData {
        try layout.readManifest(descriptor)
    }

    public func localBlobPath(_ descriptor: Descriptor) -> String? {
        let path = layout.blobPath(descriptor.digest)
        return FileSystem.exists(path) ? path : nil
    }

    public func fetchBlob(_ descriptor: Descriptor, to path: String, progress: BlobProgress?) async throws {
        try await BlobFiles.copyVerified(from: layout.blobPath(descriptor.digest), to: path,
                                         descriptor: descriptor, progress: progress)
    }

    public func tags() async throws -> [String] {
        try layout.readIndex().manifests.compactMap { $0.annotations?[OCILayout.refNameAnnotation] }
    }
}
