/// Why a runtime bundle could not be prepared.
public enum BundleError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The directory already holds a bundle (`config.json`).
    case bundleExists(String)

    public var description: String {
        switch self {
        case let .bundleExists(path):
            "\(path) already holds a bundle (config.json); remove it first"
        }
    }
}
