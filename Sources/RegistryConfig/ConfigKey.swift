/// One key of the configuration: its dotted name as the file writes it, its type, its default and its older names.
public struct ConfigKey: Sendable, Hashable {
    /// Lower-case, dot-separated (`http.tls.certificate`); the file's keys match it ignoring case.
    public let path: String
    public let kind: ConfigKind
    /// nil: unset unless given (`defaultText` says what happens then).
    public let defaultValue: ConfigValue?
    /// The default as the README and `config print` word it when it is computed or absent (`one per core`).
    public let defaultText: String?
    public let help: String
    /// A value that must never be printed (`config print` shows `<redacted>`).
    public let secret: Bool
    /// Applied by a SIGHUP reload; other keys take effect on the next start.
    public let reloadable: Bool
    /// The variable that set this key before the configuration file existed (`SWREGISTRY_THREADS`).
    public let legacyVariable: String?
    /// The `swregistry serve` flag, without dashes (`threads`).
    public let flag: String?

    init(_ path: String, _ kind: ConfigKind, _ defaultValue: ConfigValue?, defaultText: String? = nil,
         secret: Bool = false, reloadable: Bool = false, variable: String? = nil, flag: String? = nil, help: String) {
        self.path = path
        self.kind = kind
        self.defaultValue = defaultValue
        self.defaultText = defaultText
        self.help = help
        self.secret = secret
        self.reloadable = reloadable
        self.legacyVariable = variable
        self.flag = flag
    }

    /// The variable named by the mechanical rule: `SWREGISTRY_` + the path upper-cased, dots as underscores.
    public var variable: String {
        Self.variablePrefix + path.uppercased().replacingDots(with: "_")
    }

    public static let variablePrefix = "SWREGISTRY_"

    /// The variables that set this key, the mechanical one first.
    public var variables: [String] { [variable] + (legacyVariable.flatMap { $0 == variable ? nil : [$0] } ?? []) }

    public static func == (lhs: ConfigKey, rhs: ConfigKey) -> Bool { lhs.path == rhs.path }
    public func hash(into hasher: inout Hasher) { hasher.combine(path) }
}

extension String {
    func replacingDots(with replacement: Character) -> String {
        String(map { $0 == "." ? replacement : $0 })
    }
}
