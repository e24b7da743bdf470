/// Why a runtime bundle could not be prepared.
public enum BundleError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The directory already holds a bundle (`config.json`).
    case bundleExists(String)
    /// The bundle path no longer names the directory that was checked (swapped while it was being filled).
    case replaced(String)

    public var description: String {
        switch self {
        case let .bundleExists(path):
            "\(path) already holds a bundle (config.json); remove it first"
        case let .replaced(path):
            "\(path) no longer names the directory swcopy checked (renamed or replaced while the bundle was prepared); "
                + "no config.json was written, and the rootfs copied into it was removed again"
        }
    }
}
