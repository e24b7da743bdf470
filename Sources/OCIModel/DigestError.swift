/// Why a string is not a usable ``Digest``.
///
/// The two cases map to different answers: a registry returns `DIGEST_INVALID` (400) for both, but a
/// client or operator seeing ``unsupportedAlgorithm(_:)`` knows the content may be fine and the
/// algorithm is simply not one we can verify.
public enum DigestError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The string breaks the digest grammar or the registered algorithm's encoding rules.
    /// - `input`: the offending string (shortened if very long); `reason`: what is wrong.
    case invalid(_ input: String, reason: String)
    /// The string is grammatical but names an algorithm other than `sha256` or `sha512`.
    case unsupportedAlgorithm(String)

    public var description: String {
        switch self {
        case let .invalid(input, reason):
            "invalid digest \"\(DigestError.abbreviate(input))\": \(reason)"
        case let .unsupportedAlgorithm(algorithm):
            "unsupported digest algorithm \"\(DigestError.abbreviate(algorithm))\" (supported: sha256, sha512)"
        }
    }

    /// Keeps error messages (which end up in logs and HTTP bodies) bounded for hostile input.
    static func abbreviate(_ string: String) -> String {
        string.utf8.count <= 160 ? string : String(string.prefix(150)) + "…"
    }
}
