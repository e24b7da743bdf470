import StoreMaintenance
import Yams

/// Reads `gc.retention` (zot's retention policies, in this file's key style) into `RetentionRule`s:
///
/// ```yaml
/// gc:
///   retention:
///     - repositories: ["team/**", "tools/*"]    # patterns as in accesscontrol
///       keeptags:
///         mostrecent: 10                       # the 10 most recently pushed tags
///         patterns: ["^v[0-9]+\\.", "^latest$"] # and every tag matching one of these
///       deleteuntagged: 7d                     # untagged manifests older than this go
/// ```
///
/// Shapes are checked as `accesscontrol`'s are (`ConfigNodeReader`): every error names its key and line.
struct RetentionParser {
    let path: String
    private var shapes: ConfigNodeReader

    var errors: [ConfigError] {
        get { shapes.errors }
        set { shapes.errors = newValue }
    }

    init(path: String) {
        self.path = path
        shapes = ConfigNodeReader(path: path)
    }

    mutating func parse(_ node: Node) -> [RetentionRule]? {
        let before = errors.count
        let at = ConfigKey.gcRetentionPath
        guard let items = shapes.sequence(node, at: at) else { return nil }
        var rules: [RetentionRule] = []
        for (index, item) in items.enumerated() {
            if let rule = parseRule(item, at: "\(at)[\(index)]") { rules.append(rule) }
        }
        return errors.count == before ? rules : nil
    }

    private mutating func parseRule(_ node: Node, at: String) -> RetentionRule? {
        guard let fields = shapes.fields(node, at: at, allowed: ["repositories", "keeptags", "deleteuntagged"]) else { return nil }
        guard let repositoriesNode = fields["repositories"] else {
            errors.append(ConfigError(key: at, source: shapes.source(node), problem: "a retention rule needs repositories",
                                      accepted: "repository patterns as in accesscontrol (team/**)"))
            return nil
        }
        let repositories = shapes.names(repositoriesNode, at: at + ".repositories")
        if repositories.isEmpty {
            errors.append(ConfigError(key: at + ".repositories", source: shapes.source(repositoriesNode),
                                      problem: "names no repository pattern"))
        }
        var rule = RetentionRule(repositories: repositories)
        if let keep = fields["keeptags"], let keepFields = shapes.fields(keep, at: at + ".keeptags", allowed: ["mostrecent", "patterns"]) {
            if let node = keepFields["mostrecent"] {
                if case .scalar(let scalar) = node, let n = Int(scalar.string), n >= 0 {
                    rule.keepMostRecent = n
                } else {
                    errors.append(ConfigError(key: at + ".keeptags.mostrecent", source: shapes.source(node),
                                              problem: "expected a count, got \(FileReader.describe(node))", accepted: "0 or more"))
                }
            }
            if let node = keepFields["patterns"] {
                for item in shapes.sequence(node, at: at + ".keeptags.patterns") ?? [] {
                    guard let pattern = shapes.name(item, at: at + ".keeptags.patterns") else { continue }
                    if let problem = RetentionRule.patternProblem(pattern) {
                        errors.append(ConfigError(key: at + ".keeptags.patterns", source: shapes.source(item),
                                                  problem: "\"\(pattern)\" is not a regular expression: \(problem)"))
                    } else {
                        rule.keepPatterns.append(pattern)
                    }
                }
            }
        }
        if let node = fields["deleteuntagged"] {
            let kind = ConfigKind.duration(allowZero: true)
            if case .scalar(let scalar) = node, case .success(.duration(let seconds)) = kind.parse(scalar.string) {
                rule.deleteUntaggedAfter = seconds
            } else {
                errors.append(ConfigError(key: at + ".deleteuntagged", source: shapes.source(node),
                                          problem: "expected a duration, got \(FileReader.describe(node))", accepted: kind.accepted))
            }
        }
        return rule
    }
}
