/// Who may do what to which repository: the configured `accessControl` (zot-style) evaluated for an `Identity`.
///
/// Three regimes, chosen once from the configuration:
/// - **open** — no authentication and no policy: everyone may do everything (the registry as it was);
/// - **authenticated users** — authentication and no policy: every authenticated user may do everything, an
///   anonymous request nothing (distribution's behaviour);
/// - **policy** — `accessControl` is configured, with or without authentication.
///
/// How a policy is read (zot's rules, `pkg/api/authz.go`, so that a zot configuration means the same here):
/// - Only the most specific pattern that matches a repository decides for it (see
///   `RepositoryPattern.specificity`: the longest pattern; ties go to the first in the file). A repository that
///   no pattern matches is open to admins only.
/// - Within it, a user gets the union of the actions of every rule naming the user or one of the user's groups,
///   plus `defaultPolicy` (every authenticated user, named in a rule or not, as in zot).
/// - `anonymousPolicy` is what anonymous requests may do. Unlike zot, an authenticated user may do it too:
///   clients send stored credentials whenever they have them, and logging in must not lose access to a public
///   repository.
/// - `adminPolicy` adds its actions on every repository (and the whole catalog) for its users and groups.
///
/// A bearer identity (`grantedScopes` not nil) gets what its token grants, intersected with what the policy
/// allows the token's user when a policy is configured (so a policy reloaded on SIGHUP takes effect before the
/// tokens issued under the old one expire).
///
/// An immutable value: a reload builds a new one.
public struct AccessPolicy: Sendable {
    enum Regime: Sendable {
        case open
        case authenticatedUsers
        case policy
    }

    /// One `accessControl.repositories` entry, compiled.
    struct RepositoryRules: Sendable {
        var pattern: RepositoryPattern
        var rules: [AccessControlConfiguration.Rule]
        var defaultPolicy: Set<Action>
        var anonymousPolicy: Set<Action>
    }

    let regime: Regime
    /// Whether credentials can be presented at all (an anonymous request that is refused gets 401, not 403).
    public let authenticationConfigured: Bool
    /// Most specific first (the first match decides).
    let repositories: [RepositoryRules]
    /// User name → the groups that list it.
    let groupsOfUser: [String: Set<String>]
    let adminUsers: Set<String>
    let adminGroups: Set<String>
    let adminActions: Set<Action>
    /// Whether some repository lets anonymous requests pull (then an anonymous catalog shows those).
    let anonymousPullsSomewhere: Bool

    /// - Parameters:
    ///   - configuration: the `accessControl` section; nil when there is none.
    ///   - authenticationConfigured: whether an authenticator (htpasswd, bearer tokens) is configured.
    public init(configuration: AccessControlConfiguration?, authenticationConfigured: Bool) {
        self.authenticationConfigured = authenticationConfigured
        guard let configuration else {
            regime = authenticationConfigured ? .authenticatedUsers : .open
            repositories = []
            groupsOfUser = [:]
            adminUsers = []
            adminGroups = []
            adminActions = []
            anonymousPullsSomewhere = !authenticationConfigured
            return
        }
        regime = .policy
        let compiled = configuration.repositories.enumerated().map { index, entry in
            (index, RepositoryRules(pattern: RepositoryPattern(entry.pattern), rules: entry.policies,
                                    defaultPolicy: entry.defaultPolicy, anonymousPolicy: entry.anonymousPolicy))
        }
        // Most specific first; equal specificity keeps the file's order.
        repositories = compiled.sorted { a, b in
            a.1.pattern.specificity != b.1.pattern.specificity
                ? a.1.pattern.specificity > b.1.pattern.specificity : a.0 < b.0
        }.map(\.1)
        var groupsOfUser: [String: Set<String>] = [:]
        for (group, members) in configuration.groups {
            for member in members { groupsOfUser[member, default: []].insert(group) }
        }
        self.groupsOfUser = groupsOfUser
        adminUsers = Set(configuration.adminPolicy?.users ?? [])
        adminGroups = Set(configuration.adminPolicy?.groups ?? [])
        adminActions = configuration.adminPolicy?.actions ?? []
        anonymousPullsSomewhere = configuration.repositories.contains { $0.anonymousPolicy.contains(.pull) }
    }

    /// Everything open: no authentication, no policy.
    public var isOpen: Bool {
        if case .open = regime { return true }
        return false
    }

    // MARK: - Repositories

    /// The actions `identity` may do on `repository`.
    public func actions(for identity: Identity, repository: String) -> Set<Action> {
        if identity.grantedScopes != nil {
            let granted = identity.repositoryGrants[repository] ?? []
            if case .policy = regime { return granted.intersection(policyActions(user: identity.user, repository: repository)) }
            return granted
        }
        return policyActions(user: identity.user, repository: repository)
    }

    /// What the configuration alone allows `user` (nil: anonymous) on `repository`, whatever a token says.
    func policyActions(user: String?, repository: String) -> Set<Action> {
        switch regime {
        case .open:
            return Set(Action.allCases)
        case .authenticatedUsers:
            return user == nil ? [] : Set(Action.allCases)
        case .policy:
            var result: Set<Action> = []
            let groups = user.flatMap { groupsOfUser[$0] } ?? []
            if let entry = repositories.first(where: { $0.pattern.matches(repository) }) {
                result.formUnion(entry.anonymousPolicy)
                if let user {
                    result.formUnion(entry.defaultPolicy)
                    for rule in entry.rules where rule.users.contains(user) || rule.groups.contains(where: groups.contains) {
                        result.formUnion(rule.actions)
                    }
                }
            }
            if isAdmin(user: user, groups: groups) { result.formUnion(adminActions) }
            return result
        }
    }

    /// Whether `identity` is an administrator (a user or a member of a group of `adminPolicy`).
    public func isAdmin(_ identity: Identity) -> Bool {
        guard case .policy = regime else { return false }
        return isAdmin(user: identity.user, groups: identity.user.flatMap { groupsOfUser[$0] } ?? [])
    }

    private func isAdmin(user: String?, groups: Set<String>) -> Bool {
        guard let user else { return false }
        return adminUsers.contains(user) || !adminGroups.isDisjoint(with: groups)
    }

    // MARK: - Catalog

    /// Whether `identity` may call `/v2/_catalog` at all (what it lists is `catalogShows`).
    ///
    /// Anyone authenticated may: the list is filtered to what each may pull. An anonymous request may when some
    /// repository is open to anonymous pulls. A bearer identity needs `registry:catalog:*` in its token too.
    public func canSeeCatalog(_ identity: Identity) -> Bool {
        if let scopes = identity.grantedScopes, !scopes.contains(where: Self.isCatalogScope) { return false }
        return policyAllowsCatalog(user: identity.user)
    }

    private func policyAllowsCatalog(user: String?) -> Bool {
        switch regime {
        case .open: true
        case .authenticatedUsers: user != nil
        case .policy: user != nil || anonymousPullsSomewhere
        }
    }

    /// Whether the catalog lists `repository` to `identity`: it may pull it by the configuration. A bearer
    /// identity's token is not asked: `registry:catalog:*` already let it list, and tokens name few repositories.
    public func catalogShows(_ repository: String, to identity: Identity) -> Bool {
        policyActions(user: identity.user, repository: repository).contains(.pull)
    }

    static func isCatalogScope(_ scope: Scope) -> Bool {
        scope.type == "registry" && scope.name == "catalog" && scope.actions.contains("*")
    }

    // MARK: - Decisions

    /// What a request needs.
    public enum Requirement: Sendable, Equatable {
        /// Valid credentials, whoever they name, a verified token included (`/v2/`), when authentication is
        /// configured.
        case authenticated
        /// These actions on this repository.
        case repository(String, Set<Action>)
        /// `/v2/_catalog`.
        case catalog
        /// `/metrics`: as the catalog, any authenticated user when there is no policy; an administrator when there
        /// is one (the figures describe the whole registry, every repository's traffic included).
        case metrics
    }

    /// The verdict on a request.
    public enum Decision: Sendable, Equatable {
        case allowed
        /// An anonymous request that credentials might let in: 401 with a challenge.
        case needsCredentials
        /// A bearer token lacks the access although the policy would grant it: 401 with
        /// `error="insufficient_scope"`, so that the client fetches a token for the scope.
        case insufficientScope
        /// Valid credentials that may not do it: 403 DENIED.
        case denied
    }

    /// Decides whether `identity` meets `requirement`.
    public func decide(_ identity: Identity, _ requirement: Requirement) -> Decision {
        let allowed: Bool
        /// Whether the configuration alone would allow it (a better token would do); asked only on refusals.
        let policyWouldAllow: () -> Bool
        switch requirement {
        case .authenticated:
            // A verified token is valid credentials even when it names no user (an anonymous token for public
            // repositories), as distribution accepts any valid token at `/v2/`.
            allowed = !authenticationConfigured || !identity.isAnonymous || identity.grantedScopes != nil
            policyWouldAllow = { false }
        case .repository(let name, let needed):
            allowed = needed.isSubset(of: actions(for: identity, repository: name))
            policyWouldAllow = { needed.isSubset(of: policyActions(user: identity.user, repository: name)) }
        case .catalog:
            allowed = canSeeCatalog(identity)
            policyWouldAllow = { policyAllowsCatalog(user: identity.user) }
        case .metrics:
            switch regime {
            case .open: allowed = true
            case .authenticatedUsers: allowed = !identity.isAnonymous
            case .policy: allowed = isAdmin(identity)
            }
            policyWouldAllow = { false }
        }
        if allowed { return .allowed }
        if identity.grantedScopes != nil && policyWouldAllow() { return .insufficientScope }
        if identity.isAnonymous && authenticationConfigured { return .needsCredentials }
        return .denied
    }

    // MARK: - Token service

    /// The access a token for `identity` may carry: each requested scope cut down to what this policy allows
    /// (requested ∩ allowed). Scopes of one resource are merged; scopes that end up with no action, and types
    /// other than `repository` and `registry:catalog`, are left out, as the Docker token protocol allows.
    /// `registry:catalog:*` goes to anyone who `canSeeCatalog` (admins and every authenticated user: the
    /// catalog is filtered per repository anyway).
    public func grant(_ identity: Identity, requested: [Scope]) -> [Scope] {
        // Merge requests for the same resource, in the order first asked.
        var order: [Scope] = []
        var index: [String: Int] = [:]
        for scope in requested {
            let key = scope.type + ":" + scope.name
            if let i = index[key] {
                order[i].actions += scope.actions.filter { !order[i].actions.contains($0) }
            } else {
                index[key] = order.count
                order.append(scope)
            }
        }
        var granted: [Scope] = []
        for scope in order {
            switch scope.type {
            case "repository":
                let actions = scope.repositoryActions.intersection(actions(for: identity, repository: scope.name))
                if !actions.isEmpty { granted.append(.repository(scope.name, Array(actions))) }
            case "registry" where Self.isCatalogScope(scope):
                if canSeeCatalog(identity) { granted.append(.catalog) }
            default:
                continue
            }
        }
        return granted
    }
}
