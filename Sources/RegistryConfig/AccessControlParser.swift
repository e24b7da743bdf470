import RegistryAuth
import Yams

/// Reads the `accesscontrol` section (zot's `accessControl`) into `AccessControlConfiguration`:
///
/// ```yaml
/// accesscontrol:
///   groups: { devs: [alice, bob] }            # or zot's form: { devs: { users: [alice, bob] } }
///   adminpolicy: { users: [root], actions: [pull, push, delete] }
///   repositories:
///     "team/**":
///       policies: [ { users: [alice], groups: [devs], actions: [pull, push] } ]
///       defaultpolicy: [pull]
///       anonymouspolicy: []
/// ```
///
/// Section keys ignore case as everywhere; group names, user names and repository patterns keep theirs. zot's action
/// names are accepted too: `read` is pull, `create` and `update` are push.
struct AccessControlParser: ConfigNodeReading {
    let path: String
    var errors: [ConfigError] = []

    init(path: String) { self.path = path }

    static let actionAliases: [String: Action] = ["read": .pull, "create": .push, "update": .push]
    static let acceptedActions = "pull, push, delete (zot's read, create, update)"

    mutating func parse(_ node: Node) -> AccessControlConfiguration? {
        let before = errors.count
        var configuration = AccessControlConfiguration()
        guard let top = fields(node, at: "accesscontrol", allowed: ["groups", "adminpolicy", "repositories"]) else { return nil }
        if let groups = top["groups"] {
            configuration.groups = parseGroups(groups)
        }
        if let admin = top["adminpolicy"] {
            configuration.adminPolicy = parseRule(admin, at: "accesscontrol.adminpolicy")
        }
        if let repositories = top["repositories"], let mapping = mapping(repositories, at: "accesscontrol.repositories") {
            for (patternNode, value) in mapping {
                guard let pattern = name(patternNode, at: "accesscontrol.repositories") else { continue }
                let at = "accesscontrol.repositories.\(pattern)"
                guard let repo = fields(value, at: at, allowed: ["policies", "defaultpolicy", "anonymouspolicy"]) else { continue }
                var repository = AccessControlConfiguration.Repository(pattern: pattern)
                if let policies = repo["policies"], let list = sequence(policies, at: at + ".policies") {
                    repository.policies = list.compactMap { parseRule($0, at: at + ".policies") }
                }
                if let actions = repo["defaultpolicy"] { repository.defaultPolicy = parseActions(actions, at: at + ".defaultpolicy") }
                if let actions = repo["anonymouspolicy"] { repository.anonymousPolicy = parseActions(actions, at: at + ".anonymouspolicy") }
                configuration.repositories.append(repository)
            }
        }
        checkGroupsExist(configuration)
        return errors.count == before ? configuration : nil
    }

    /// Group name → users, in the plain list form or zot's `{users: [...]}` form.
    mutating func parseGroups(_ node: Node) -> [String: [String]] {
        guard let mapping = mapping(node, at: "accesscontrol.groups") else { return [:] }
        var groups: [String: [String]] = [:]
        for (nameNode, value) in mapping {
            guard let group = name(nameNode, at: "accesscontrol.groups") else { continue }
            let at = "accesscontrol.groups.\(group)"
            if case .mapping = value {
                guard let form = fields(value, at: at, allowed: ["users"]) else { continue }
                groups[group] = form["users"].map { names($0, at: at + ".users") } ?? []
            } else {
                groups[group] = names(value, at: at)
            }
        }
        return groups
    }

    mutating func parseRule(_ node: Node, at: String) -> AccessControlConfiguration.Rule? {
        guard let rule = fields(node, at: at, allowed: ["users", "groups", "actions"]) else { return nil }
        guard let actions = rule["actions"] else {
            errors.append(ConfigError(key: at, source: source(node), problem: "a policy needs actions",
                                      accepted: Self.acceptedActions))
            return nil
        }
        return AccessControlConfiguration.Rule(users: rule["users"].map { names($0, at: at + ".users") } ?? [],
                                               groups: rule["groups"].map { names($0, at: at + ".groups") } ?? [],
                                               actions: parseActions(actions, at: at + ".actions"))
    }

    mutating func parseActions(_ node: Node, at: String) -> Set<Action> {
        var actions: Set<Action> = []
        for item in (sequence(node, at: at) ?? []) {
            guard case .scalar(let scalar) = item,
                  let action = Action(rawValue: scalar.string.lowercased()) ?? Self.actionAliases[scalar.string.lowercased()] else {
                errors.append(ConfigError(key: at, source: source(item), problem: "unknown action \(FileReader.describe(item))",
                                          accepted: Self.acceptedActions))
                continue
            }
            actions.insert(action)
        }
        return actions
    }

    /// A policy naming a group that is not defined grants nothing: most likely a typo, so it is refused.
    mutating func checkGroupsExist(_ configuration: AccessControlConfiguration) {
        let rules = configuration.repositories.flatMap(\.policies) + (configuration.adminPolicy.map { [$0] } ?? [])
        for group in Set(rules.flatMap(\.groups)).sorted() where configuration.groups[group] == nil {
            errors.append(ConfigError(key: "accesscontrol", source: .file(path: path, line: 0),
                                      problem: "policy names group \"\(group)\" that accesscontrol.groups does not define",
                                      accepted: configuration.groups.keys.sorted().joined(separator: ", ")))
        }
    }
}
