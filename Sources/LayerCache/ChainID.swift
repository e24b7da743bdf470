import OCIModel

/// ChainIDs (image-spec config.md, "Layer ChainID"): the identity of a stack of applied layers.
///
/// ```text
/// ChainID(L₀)             = DiffID(L₀)
/// ChainID(L₀|…|Lₙ₋₁|Lₙ)   = Digest(ChainID(L₀|…|Lₙ₋₁) + " " + DiffID(Lₙ))
/// ```
///
/// The digest input is the *text* of the two digests (`sha256:<hex> sha256:<hex>`), joined by one space, and the
/// digest is SHA-256 (as containerd's `identity.ChainID` computes it). Two images that share their base layers share
/// the chainIDs of those stacks, which is what lets the cache unpack a base once.
public enum ChainID {
    /// The chainID of every prefix of `diffIDs`, base first: element `n` identifies `L₀|…|Lₙ`.
    ///
    /// - Parameter diffIDs: The image config's `rootfs.diff_ids`, base layer first.
    /// - Returns: As many chainIDs as diffIDs (empty for none).
    public static func compute(diffIDs: [Digest]) -> [Digest] {
        var chain: [Digest] = []
        chain.reserveCapacity(diffIDs.count)
        for diffID in diffIDs {
            if let parent = chain.last {
                chain.append(child(of: parent, diffID: diffID))
            } else {
                chain.append(diffID)
            }
        }
        return chain
    }

    /// The chainID of `parent|layer`: SHA-256 of `"<parent> <diffID>"`.
    public static func child(of parent: Digest, diffID: Digest) -> Digest {
        Digest.sha256(of: Array("\(parent) \(diffID)".utf8))
    }
}
