/// What a request may do to a repository (distribution's actions; `delete` as distribution ≥ 2.7 and zot have it).
public enum Action: String, Sendable, Hashable, CaseIterable, Comparable {
    case pull, push, delete

    public static func < (a: Action, b: Action) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

/// One resource scope of the Docker token protocol (`docker-registry/token-scope`): `type:name:actions`, as in
/// `repository:team/app:pull,push` or `registry:catalog:*`. The name may itself contain `:` (a registry host with a
/// port), so the type is everything before the first colon and the actions everything after the last.
public struct Scope: Sendable, Hashable, CustomStringConvertible {
    public var type: String
    public var name: String
    /// Action strings as sent: `pull`, `push`, `delete`, `*`; unknown ones are kept (and grant nothing).
    public var actions: [String]

    public init(type: String, name: String, actions: [String]) {
        self.type = type
        self.name = name
        self.actions = actions
    }

    public static func repository(_ name: String, _ actions: [Action]) -> Scope {
        Scope(type: "repository", name: name, actions: actions.sorted().map(\.rawValue))
    }

    public static let catalog = Scope(type: "registry", name: "catalog", actions: ["*"])

    /// Parses `type:name:actions`; nil when a part is missing.
    public init?(parsing text: some StringProtocol) {
        guard let first = text.firstIndex(of: ":"), let last = text.lastIndex(of: ":"), first < last else { return nil }
        let type = text[..<first], name = text[text.index(after: first)..<last]
        let actions = text[text.index(after: last)...]
        guard !type.isEmpty, !name.isEmpty else { return nil }
        self.init(type: String(type), name: String(name),
                  actions: actions.split(separator: "," as Character).map { String($0) })
    }

    public var description: String { "\(type):\(name):\(actions.joined(separator: ","))" }

    /// The repository actions named, ignoring unknown strings; `*` means all of them.
    public var repositoryActions: Set<Action> {
        actions.contains("*") ? Set(Action.allCases) : Set(actions.compactMap(Action.init(rawValue:)))
    }
}
