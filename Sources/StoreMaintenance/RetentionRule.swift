import RegistryAuth

/// One entry of `gc.retention`: for the repositories matching `repositories`, which tags to keep and how long
/// untagged manifests live.
///
/// ```yaml
/// gc:
///   retention:
///     - repositories: ["team/**"]
///       keeptags: { mostrecent: 10, patterns: ["^v[0-9]+\\.", "latest"] }
///       deleteuntagged: 7d
/// ```
///
/// - A tag is kept when it is among the `keepMostRecent` most recently pushed tags of the repository (push
///   time: when the tag was last set) or matches any of `keepPatterns` (regular expressions, searched in the tag
///   as zot does: anchor with `^…$`). Tags not kept are deleted. A rule with neither keeps every tag.
/// - `deleteUntaggedAfter`: untagged manifests older than this are garbage (deleted once also older than the
///   grace period); it decides for these repositories instead of `gc.deleteuntagged`.
public struct RetentionRule: Sendable, Equatable {
    /// Repository patterns as in `accesscontrol` (`*`, `?`, `**`).
    public var repositories: [String]
    public var keepMostRecent: Int?
    public var keepPatterns: [String]
    /// Seconds.
    public var deleteUntaggedAfter: Double?

    public init(repositories: [String], keepMostRecent: Int? = nil, keepPatterns: [String] = [],
                deleteUntaggedAfter: Double? = nil) {
        self.repositories = repositories
        self.keepMostRecent = keepMostRecent
        self.keepPatterns = keepPatterns
        self.deleteUntaggedAfter = deleteUntaggedAfter
    }

    /// Whether the rule says which tags to keep (else it keeps them all).
    public var limitsTags: Bool { keepMostRecent != nil || !keepPatterns.isEmpty }

    public func applies(to repository: String) -> Bool {
        repositories.contains { RepositoryPattern($0).matches(repository) }
    }

    /// Why `pattern` is not a regular expression, or nil when it is one.
    public static func patternProblem(_ pattern: String) -> String? {
        do {
            _ = try Regex(pattern)
            return nil
        } catch {
            return "\(error)"
        }
    }
}
