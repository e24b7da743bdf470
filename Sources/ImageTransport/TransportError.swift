import OCIModel

/// What went wrong reading or writing an image; `description` is the one line the CLI prints.
public enum TransportError: Error, CustomStringConvertible, Sendable {
    case invalidLocation(String, reason: String)
    /// A layout, directory or archive that does not hold what was asked, or holds something malformed.
    case invalidImage(String, reason: String)
    case imageNotFound(String)
    case digestMismatch(what: String, expected: Digest, actual: Digest)
    case sizeMismatch(what: String, expected: Int64, actual: Int64)
    case unsupported(String)
    case io(String)

    public var description: String {
        switch self {
        case .invalidLocation(let text, let reason): "invalid image location \"\(text)\": \(reason)"
        case .invalidImage(let what, let reason): "\(what): \(reason)"
        case .imageNotFound(let what): "\(what): image not found"
        case .digestMismatch(let what, let expected, let actual):
            "\(what): digest mismatch: expected \(expected), got \(actual)"
        case .sizeMismatch(let what, let expected, let actual):
            "\(what): size mismatch: expected \(expected) bytes, got \(actual)"
        case .unsupported(let what): what
        case .io(let what): what
        }
    }
}
