import OCIModel

/// `images/<manifest digest hex>.json`: an image whose layers are all in the cache.
public struct ImageRecord: Codable, Sendable, Hashable {
    /// The digest of the image manifest (for a multi-platform image, of the platform's manifest).
    public var manifestDigest: Digest
    /// References that resolved to this manifest (`docker://host/name:tag`, `oci:dir:ref`); a name moves to the
    /// image recorded last under it.
    public var names: [String]
    /// The digest of the image config; its bytes are in `configs/<hex>.json`.
    public var configDigest: Digest
    /// `rootfs.diff_ids` of the config, base first.
    public var diffIDs: [Digest]
    /// ``ChainID/compute(diffIDs:)`` of ``diffIDs``: the cached stacks this image uses, base first.
    public var chainIDs: [Digest]
    /// When the image was first recorded, RFC 3339 UTC.
    public var created: String

    /// Makes a record, computing the chainIDs from the diffIDs.
    public init(manifestDigest: Digest, names: [String], configDigest: Digest, diffIDs: [Digest],
                created: String? = nil)
    {
        self.manifestDigest = manifestDigest
        self.names = names
        self.configDigest = configDigest
        self.diffIDs = diffIDs
        self.chainIDs = ChainID.compute(diffIDs: diffIDs)
        self.created = created ?? CacheFiles.now()
    }

    /// The stack the image's root filesystem is: the last chainID (nil for an image without layers).
    public var topChainID: Digest? { chainIDs.last }
}
