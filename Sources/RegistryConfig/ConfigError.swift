/// One thing wrong with the configuration: which key, where it was set, what is wrong and what is accepted.
public struct ConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The dotted key (`http.threads`), or the section that holds an unknown key.
    public var key: String
    public var source: ConfigSource
    public var problem: String
    /// What the key accepts; nil when there is nothing to say (a YAML syntax error).
    public var accepted: String?

    public init(key: String, source: ConfigSource, problem: String, accepted: String? = nil) {
        self.key = key
        self.source = source
        self.problem = problem
        self.accepted = accepted
    }

    /// `config.yml:12: http.threads: "abc" is not an integer (accepted: an integer from 1 to 256)`
    public var description: String {
        var text = "\(source): \(key.isEmpty ? "" : key + ": ")\(problem)"
        if let accepted { text += " (accepted: \(accepted))" }
        return text
    }
}

/// Every error found in one reading of the configuration, in the order found, so one `config check` names them all.
public struct ConfigErrors: Error, Sendable, CustomStringConvertible {
    public var errors: [ConfigError]

    public init(_ errors: [ConfigError]) { self.errors = errors }

    public var description: String { errors.map(\.description).joined(separator: "\n") }
}
