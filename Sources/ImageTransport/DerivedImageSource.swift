import OCIModel

/// A source that is another source with changes: a different top manifest (an image built on top of the
/// base's, as `swcopy append` makes), extra blobs held in local files, tags hidden. Everything else is the base's,
/// including where its blobs can be mounted from.
public final class DerivedImageSource: ImageSource {
    let base: any ImageSource
    let top: ManifestData?
    let extraBlobs: [Digest: String]
    let hideTags: Bool

    /// - Parameters:
    ///   - top: The manifest to copy instead of the base's top manifest.
    ///   - extraBlobs: Blobs not in the base, by digest: the path of a file holding each.
    ///   - hideTags: Report no tags (`inspect --no-tags`).
    public init(base: any ImageSource, top: ManifestData? = nil, extraBlobs: [Digest: String] = [:],
                hideTags: Bool = false) {
        self.base = base
        self.top = top
        self.extraBlobs = extraBlobs
        self.hideTags = hideTags
    }

    public var description: String { base.description }

    public func topManifest() async throws -> ManifestData {
        if let top { return top }
        return try await base.topManifest()
    }

    public func manifest(_ descriptor: Descriptor) async throws -> ManifestData {
        try await base.manifest(descriptor)
    }

    public func localBlobPath(_ descriptor: Descriptor) -> String? {
        extraBlobs[descriptor.digest] ?? base.localBlobPath(descriptor)
    }

    public func fetchBlob(_ descriptor: Descriptor, to path: String, progress: BlobProgress?) async throws {
        if let file = extraBlobs[descriptor.digest] {
            try await BlobFiles.copyVerified(from: file, to: path, descriptor: descriptor, progress: progress)
        } else {
            try await base.fetchBlob(descriptor, to: path, progress: progress)
        }
    }

    public func mountOrigin(for descriptor: Descriptor) -> RepositoryLocation? {
        extraBlobs[descriptor.digest] == nil ? base.mountOrigin(for: descriptor) : nil
    }

    public func tags() async throws -> [String] { hideTags ? [] : try await base.tags() }

    public func close() { base.close() }
}
