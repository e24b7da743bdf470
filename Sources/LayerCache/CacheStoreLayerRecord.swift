import OCIModel

/// `layers/<chainID hex>/meta.json`: what one cached layer stack is.
public struct LayerRecord: Codable, Sendable, Hashable {
    /// The stack's identity: ``ChainID`` of every diffID up to and including this layer.
    public var chainID: Digest
    /// The digest of this layer's uncompressed tar.
    public var diffID: Digest
    /// The chain this layer was applied to; nil for a base layer.
    public var parent: Digest?
    /// Apparent size of the flattened rootfs: `st_size` of every regular file, each inode counted once.
    public var size: Int64
    /// The part of ``size`` held by inodes this layer created (files it added or replaced); the rest is shared
    /// with the parent chain through hard links.
    public var layerSize: Int64
    /// Entries (names of every type, directories included) in the flattened rootfs.
    public var entries: Int
    /// When the stack was cached, RFC 3339 UTC.
    public var created: String

    public init(chainID: Digest, diffID: Digest, parent: Digest?, size: Int64, layerSize: Int64, entries: Int,
                created: String)
    {
        self.chainID = chainID
        self.diffID = diffID
        self.parent = parent
        self.size = size
        self.layerSize = layerSize
        self.entries = entries
        self.created = created
    }
}
