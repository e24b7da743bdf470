/// Where a configuration value came from; printed in errors and by `swregistry config print`.
public enum ConfigSource: Sendable, Equatable, CustomStringConvertible {
    case defaultValue
    /// A line of the configuration file (1-based; 0 for the file as a whole).
    case file(path: String, line: Int)
    /// An environment variable, by name.
    case environment(String)
    /// A command-line flag, by name without the dashes.
    case flag(String)

    public var description: String {
        switch self {
        case .defaultValue: return "default"
        case .file(let path, let line): return line > 0 ? "\(path):\(line)" : path
        case .environment(let name): return "$\(name)"
        case .flag(let name): return "--\(name)"
        }
    }
}
