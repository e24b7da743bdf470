/// Why a string is not a valid image reference, repository name or tag.
///
/// Each case names the part that is wrong and why, so a CLI can print it as is and a registry can
/// map it: ``invalidRepositoryName(_:reason:)`` → `NAME_INVALID`, ``invalidTag(_:reason:)`` →
/// `TAG_INVALID` (or `MANIFEST_INVALID`), ``invalidDigest(_:)`` → `DIGEST_INVALID`.
public enum ReferenceError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The reference is the empty string.
    case empty
    /// The registry host (and port) part is malformed.
    case invalidHost(_ host: String, reason: String)
    /// The repository path breaks distribution-spec's `<name>` grammar or length limit.
    case invalidRepositoryName(_ name: String, reason: String)
    /// The tag breaks `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
    case invalidTag(_ tag: String, reason: String)
    /// The part after `@` is not a usable digest.
    case invalidDigest(DigestError)

    public var description: String {
        switch self {
        case .empty:
            "empty image reference"
        case let .invalidHost(host, reason):
            "invalid registry host \"\(DigestError.abbreviate(host))\": \(reason)"
        case let .invalidRepositoryName(name, reason):
            "invalid repository name \"\(DigestError.abbreviate(name))\": \(reason)"
        case let .invalidTag(tag, reason):
            "invalid tag \"\(DigestError.abbreviate(tag))\": \(reason)"
        case .invalidDigest(let error):
            error.description
        }
    }
}
