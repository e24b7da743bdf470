/// Per-repository policies as the configuration states them, in the spirit of zot's `accessControl`
/// (see the README's configuration table). Plain data: `AccessPolicy` evaluates it.
public struct AccessControlConfiguration: Sendable, Equatable {
    /// One rule: these users and the members of these groups may do these actions.
    public struct Rule: Sendable, Equatable {
        public var users: [String]
        public var groups: [String]
        public var actions: Set<Action>

        public init(users: [String] = [], groups: [String] = [], actions: Set<Action>) {
            self.users = users
            self.groups = groups
            self.actions = actions
        }
    }

    /// The policies of the repositories whose names match `pattern` (a glob: `*` within one path component, `**`
    /// across components).
    public struct Repository: Sendable, Equatable {
        public var pattern: String
        public var policies: [Rule]
        /// Actions of every authenticated user, in addition to those `policies` give it (zot's reading).
        public var defaultPolicy: Set<Action>
        /// Actions of anonymous requests (authenticated users may do them too; see `AccessPolicy`).
        public var anonymousPolicy: Set<Action>

        public init(pattern: String, policies: [Rule] = [], defaultPolicy: Set<Action> = [],
                    anonymousPolicy: Set<Action> = []) {
            self.pattern = pattern
            self.policies = policies
            self.defaultPolicy = defaultPolicy
            self.anonymousPolicy = anonymousPolicy
        }
    }

    /// Group name → member user names.
    public var groups: [String: [String]]
    /// In the order of the file.
    public var repositories: [Repository]
    /// Users and groups with these actions on every repository (and the whole catalog).
    public var adminPolicy: Rule?

    public init(groups: [String: [String]] = [:], repositories: [Repository] = [], adminPolicy: Rule? = nil) {
        self.groups = groups
        self.repositories = repositories
        self.adminPolicy = adminPolicy
    }
}
