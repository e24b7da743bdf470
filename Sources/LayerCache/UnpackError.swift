import OCIModel
import SystemIO
import TarArchive

/// Why a layer could not be applied. A hostile or corrupt layer always ends in one of these; the root it was
/// being applied to is then partly modified and must be discarded (unpack into a staging directory).
public enum UnpackError: Error, CustomStringConvertible, Sendable {
    /// An entry name or link target is unsafe as written (a `..` component, an empty name, NUL).
    case unsafePath(path: String, reason: String)
    /// Resolving a path would leave the root through a symbolic link (only with ``SymlinkResolution/beneath``).
    case escapesRoot(path: String)
    /// An entry cannot be applied (a non-directory for the root, a parent that is not a directory, an id out of
    /// range, a hard link to a directory).
    case invalidEntry(path: String, reason: String)
    /// A hard link's target is missing or unusable.
    case hardLinkTarget(path: String, target: String, reason: String)
    /// The layer is over a configured limit (uncompressed size, entry count, path length).
    case limitExceeded(String)
    /// The compressed blob or the uncompressed tar does not hash to what the manifest or config says.
    case digestMismatch(what: String, expected: Digest, actual: Digest)
    /// The media type is not a layer this unpacker can read.
    case unsupportedMediaType(String)
    /// The tar or gzip stream is malformed, truncated or unsupported.
    case archive(TarError)
    /// A filesystem call failed.
    case filesystem(SystemError)

    public var description: String {
        switch self {
        case let .unsafePath(path, reason): "unsafe path \"\(path)\" in layer: \(reason)"
        case let .escapesRoot(path): "\"\(path)\" resolves outside the root through a symbolic link"
        case let .invalidEntry(path, reason): "cannot apply \"\(path)\": \(reason)"
        case let .hardLinkTarget(path, target, reason): "hard link \"\(path)\" → \"\(target)\": \(reason)"
        case let .limitExceeded(what): "layer refused: \(what)"
        case let .digestMismatch(what, expected, actual): "\(what) digest mismatch: expected \(expected), got \(actual)"
        case let .unsupportedMediaType(type): "unsupported layer media type \(type)"
        case let .archive(error): "\(error)"
        case let .filesystem(error): "\(error)"
        }
    }
}
