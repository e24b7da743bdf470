import Yams

/// Reads the shapes of a structured section of the file (a list of entries, a mapping of fixed fields), recording
/// each problem with its line rather than stopping at the first. The parsers of `accesscontrol`, `gc.retention`
/// and `notifications.endpoints` all read through these.
protocol ConfigNodeReading {
    /// The file, for the line numbers of errors.
    var path: String { get }
    var errors: [ConfigError] { get set }
}

/// The shape reader on its own, for a parser that keeps one.
struct ConfigNodeReader: ConfigNodeReading {
    let path: String
    var errors: [ConfigError] = []

    init(path: String) { self.path = path }
}

extension ConfigNodeReading {
    func source(_ node: Node) -> ConfigSource { .file(path: path, line: node.mark?.line ?? 0) }

    mutating func error(_ key: String, _ node: Node, _ problem: String, accepted: String? = nil) {
        errors.append(ConfigError(key: key, source: source(node), problem: problem, accepted: accepted))
    }

    mutating func mapping(_ node: Node, at: String) -> Node.Mapping? {
        guard case .mapping(let mapping) = node else {
            error(at, node, "expected a mapping, got \(FileReader.describe(node))")
            return nil
        }
        return mapping
    }

    mutating func sequence(_ node: Node, at: String) -> [Node]? {
        if FileReader.isNull(node) { return [] }
        guard case .sequence(let sequence) = node else {
            error(at, node, "expected a list, got \(FileReader.describe(node))")
            return nil
        }
        return Array(sequence)
    }

    /// A mapping of fixed field names (matched ignoring case), each at most once.
    mutating func fields(_ node: Node, at: String, allowed: [String]) -> [String: Node]? {
        guard let mapping = mapping(node, at: at) else { return nil }
        var fields: [String: Node] = [:]
        for (keyNode, value) in mapping {
            guard case .scalar(let scalar) = keyNode else {
                error(at, keyNode, "a key must be a name", accepted: allowed.joined(separator: ", "))
                continue
            }
            let field = scalar.string.lowercased()
            guard allowed.contains(field) else {
                error("\(at).\(scalar.string)", keyNode, "unknown key",
                      accepted: "keys under \(at): " + allowed.joined(separator: ", "))
                continue
            }
            guard fields[field] == nil else {
                error("\(at).\(field)", keyNode, "given twice (keys ignore case)")
                continue
            }
            fields[field] = value
        }
        return fields
    }

    mutating func name(_ node: Node, at: String) -> String? {
        guard case .scalar(let scalar) = node, !FileReader.isNull(node) else {
            error(at, node, "expected a name, got \(FileReader.describe(node))")
            return nil
        }
        return scalar.string
    }

    mutating func names(_ node: Node, at: String) -> [String] {
        (sequence(node, at: at) ?? []).compactMap { name($0, at: at) }
    }
}
