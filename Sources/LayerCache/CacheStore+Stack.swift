import OCIModel

/// The outcome of ``CacheStore/ensureStack(diffIDs:apply:)``.
public struct EnsuredStack: Sendable {
    /// The chainID of each layer's stack, base first.
    public var chainIDs: [Digest]
    /// Indexes (into `diffIDs`) of the layers that had to be applied; empty when everything was cached.
    public var appliedLayers: [Int]
    /// The rootfs of the whole stack; nil for an image without layers.
    public var rootfs: String?
}

extension CacheStore {
    /// Ensures every stack of an image is cached, base first, applying only the layers whose stack is missing.
    ///
    /// An image sharing all but its top layer with a cached one applies (and so decompresses) that layer alone.
    /// - Parameters:
    ///   - diffIDs: The config's `rootfs.diff_ids`, base first.
    ///   - apply: Applies layer `index` (an index into `diffIDs`) to the directory it is given; see
    ///     ``ensureChain(chainID:diffID:parent:apply:)`` for what it may and may not do.
    /// - Returns: The chainIDs, which layers were applied, and the top rootfs.
    /// - Throws: Whatever ``ensureChain(chainID:diffID:parent:apply:)`` or `apply` throws; stacks finished before
    ///   the failure stay cached (they are whole).
    public func ensureStack(diffIDs: [Digest], apply: (_ index: Int, _ tempRoot: String) throws -> Void) throws
        -> EnsuredStack
    {
        let chainIDs = ChainID.compute(diffIDs: diffIDs)
        // Find the highest cached stack: everything below it is irrelevant (each stack is a whole rootfs).
        var start = chainIDs.count
        while start > 0 && !hasChain(chainIDs[start - 1]) { start -= 1 }
        var applied: [Int] = []
        var rootfs = start > 0 ? layout.chainRootfs(chainIDs[start - 1]) : nil
        for index in start..<chainIDs.count {
            rootfs = try ensureChain(chainID: chainIDs[index], diffID: diffIDs[index],
                                     parent: index > 0 ? chainIDs[index - 1] : nil) { root in
                applied.append(index)
                try apply(index, root)
            }
        }
        return EnsuredStack(chainIDs: chainIDs, appliedLayers: applied, rootfs: rootfs)
    }
}
