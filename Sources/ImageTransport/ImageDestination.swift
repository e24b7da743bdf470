import OCIModel

/// Where images are written.
///
/// The copier writes every blob before the manifests that reference them, children before indexes, and the
/// top manifest last; `commit()` then makes the image visible under its name (layouts write `index.json`,
/// archives are packed). Until `commit()` a reader sees no new image name.
public protocol ImageDestination: AnyObject, Sendable {
    var description: String { get }

    /// Whether `descriptor`'s bytes must keep the digest they have: registries and layouts address by digest,
    /// so the copier never changes a blob on the way.
    func hasBlob(_ descriptor: Descriptor) async throws -> Bool

    /// A path where the copier can stage the blob before `putBlob` (in the destination's filesystem, so that
    /// storing it is a rename).
    func stagingPath(for descriptor: Descriptor) throws -> String

    /// Stores the blob from a verified file. When `staged` the file is a `stagingPath` and the destination
    /// takes it (renames or removes it); otherwise it is the source's own file and is only read.
    func putBlob(_ descriptor: Descriptor, from path: String, staged: Bool, progress: BlobProgress?) async throws

    /// Makes the blob available without transferring it (a registry's cross-repository mount from the source's
    /// repository); false when that is not possible.
    func mountBlob(_ descriptor: Descriptor, from source: any ImageSource) async throws -> Bool

    /// Stores a manifest. `top` is the one the destination's name (tag, reference) points at.
    func putManifest(_ manifest: ManifestData, top: Bool) async throws

    /// Names the top manifest with each of `tags` as well (where the destination has tags).
    func addTags(_ tags: [String], to manifest: ManifestData) async throws

    /// Makes the copied image visible under its name.
    func commit() async throws

    /// Removes what a failed copy staged.
    func abort()
}

extension ImageDestination {
    public func mountBlob(_ descriptor: Descriptor, from source: any ImageSource) async throws -> Bool { false }
    public func addTags(_ tags: [String], to manifest: ManifestData) async throws {
        if !tags.isEmpty { throw TransportError.unsupported("\(description) does not support additional tags") }
    }
    public func commit() async throws {}
    public func abort() {}
}
