/// Why a runtime configuration could not be generated from an image.
public enum RuntimeSpecError: Error, CustomStringConvertible, Sendable, Equatable {
    /// Neither Entrypoint nor Cmd (nor an override) gives a command.
    case noCommand
    /// The image is for another OS; bundles here are Linux bundles.
    case unsupportedOS(String)
    /// An environment entry is not `NAME=value`.
    case invalidEnvironment(String)
    /// `Config.User` could not be resolved.
    case user(UserDatabaseError)

    public var description: String {
        switch self {
        case .noCommand:
            "the image has neither Entrypoint nor Cmd; give a command to run"
        case let .unsupportedOS(os):
            "the image is for os '\(os)'; only linux images can become runtime bundles here"
        case let .invalidEnvironment(entry):
            "environment entry '\(entry)' is not NAME=value"
        case let .user(error):
            error.description
        }
    }
}
