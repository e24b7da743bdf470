import Glibc
import OCIModel
import Synchronization
import SystemIO

/// Writes images into an OCI image layout, creating it when missing. Blobs already in the layout are kept
/// (several images share one layout); `commit()` replaces the `index.json` entry named by the reference.
public final class OCILayoutDestination: ImageDestination {
    let layout: OCILayout
    let reference: String?
    public let description: String
    private let top = Mutex<Descriptor?>(nil)
    private let staged = Mutex<Set<String>>([])

    public init(directory: String, reference: String?) throws {
        layout = OCILayout(directory: directory)
        self.reference = reference
        description = ImageLocation.ociLayout(directory: directory, reference: reference).description
        try layout.create()
    }

    public func hasBlob(_ descriptor: Descriptor) async throws -> Bool {
        FileSystem.fileSize(layout.blobPath(descriptor.digest)) == descriptor.size
    }

    public func stagingPath(for descriptor: Descriptor) throws -> String {
        let path = "\(layout.directory)/.tmp-\(FileSystem.randomName())"
        staged.withLock { _ = $0.insert(path) }
        return path
    }

    public func putBlob(_ descriptor: Descriptor, from path: String, staged isStaged: Bool,
                        progress: BlobProgress?) async throws {
        var file = path
        if !isStaged {
            file = try stagingPath(for: descriptor)
            try await BlobFiles.copyVerified(from: path, to: file, descriptor: descriptor, progress: progress)
        }
        try await store(file, as: descriptor.digest)
    }

    public func putManifest(_ manifest: ManifestData, top isTop: Bool) async throws {
        let descriptor = Descriptor(mediaType: manifest.mediaType, digest: manifest.digest,
                                    size: Int64(manifest.bytes.count))
        if FileSystem.fileSize(layout.blobPath(manifest.digest)) != descriptor.size {
            let path = try stagingPath(for: descriptor)
            try FileSystem.writeAtomically(manifest.bytes, to: path, tmpDirectory: layout.directory)
            try await store(path, as: manifest.digest)
        }
        if isTop { top.withLock { $0 = descriptor } }
    }

    public func commit() async throws {
        guard var descriptor = top.withLock({ $0 }) else { return }
        var index = try layout.readIndex(allowMissing: true)
        if let reference {
            index.manifests.removeAll { $0.annotations?[OCILayout.refNameAnnotation] == reference }
            descriptor.annotations = [OCILayout.refNameAnnotation: reference]
        } else {
            index.manifests.removeAll { $0.digest == descriptor.digest && $0.annotations?[OCILayout.refNameAnnotation] == nil }
        }
        index.manifests.append(descriptor)
        index.mediaType = .ociIndex
        try layout.writeIndex(index)
    }

    public func abort() {
        for path in staged.withLock({ $0 }) { unlink(path) }
    }

    private func store(_ stagedFile: String, as digest: Digest) async throws {
        let destination = layout.blobPath(digest)
        try FileSystem.makeDirectories(FileSystem.parent(of: destination))
        try await BlobFiles.moveIntoPlace(stagedFile, destination)
        staged.withLock { _ = $0.remove(stagedFile) }
    }
}
