import OCIModel

/// What can go wrong in the layer cache, each case naming the object concerned.
public enum CacheStoreError: Error, CustomStringConvertible, Sendable, Equatable {
    /// Neither `--cache-dir`, `$SWCOPY_CACHE`, `$XDG_CACHE_HOME` nor `$HOME` says where the cache goes.
    case noCacheLocation
    /// `chainID` is not the chainID of `parent` + `diffID` (or of `diffID` alone for a base layer).
    case chainMismatch(chainID: Digest, expected: Digest)
    /// The parent chain of a layer is not in the cache: layers are applied base first.
    case parentMissing(chainID: Digest, parent: Digest)
    /// A chain an image needs is not in the cache.
    case chainMissing(Digest)
    /// A cache record could not be decoded (damaged by hand, or written by an incompatible version).
    case corruptRecord(path: String, reason: String)
    /// Image config bytes do not hash to the digest they are recorded under.
    case configDigestMismatch(expected: Digest, actual: Digest)
    /// An image's chainIDs do not follow from its diffIDs.
    case inconsistentImage(Digest, reason: String)

    public var description: String {
        switch self {
        case .noCacheLocation:
            "no cache directory: pass --cache-dir, or set SWCOPY_CACHE, XDG_CACHE_HOME or HOME"
        case let .chainMismatch(chainID, expected):
            "chainID \(chainID) does not match its parent and diffID (expected \(expected))"
        case let .parentMissing(chainID, parent):
            "cannot build layer chain \(chainID): its parent chain \(parent) is not in the cache"
        case let .chainMissing(chainID):
            "layer chain \(chainID) is not in the cache"
        case let .corruptRecord(path, reason):
            "cache record \(path) is damaged: \(reason)"
        case let .configDigestMismatch(expected, actual):
            "image config digest mismatch: expected \(expected), got \(actual)"
        case let .inconsistentImage(digest, reason):
            "image \(digest) record is inconsistent: \(reason)"
        }
    }
}
