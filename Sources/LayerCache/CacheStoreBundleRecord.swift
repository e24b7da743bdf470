import OCIModel

/// `roots/<sha256(bundle path) hex>.json`: a prepared runtime bundle, which keeps its image and chain alive in the
/// cache until the bundle directory is gone (its `config.json` removed) or the bundle is forgotten.
public struct BundleRecord: Codable, Sendable, Hashable {
    /// The absolute path of the bundle directory.
    public var bundlePath: String
    /// The image the bundle was prepared from.
    public var manifestDigest: Digest
    /// The chain the bundle's rootfs came from (the lower layer of an overlay rootfs).
    public var chainID: Digest?
    /// How the rootfs was made.
    public var rootfsMode: RootfsMode
    /// When the bundle was prepared, RFC 3339 UTC.
    public var created: String

    public init(bundlePath: String, manifestDigest: Digest, chainID: Digest?, rootfsMode: RootfsMode,
                created: String? = nil)
    {
        self.bundlePath = bundlePath
        self.manifestDigest = manifestDigest
        self.chainID = chainID
        self.rootfsMode = rootfsMode
        self.created = created ?? CacheFiles.now()
    }
}
