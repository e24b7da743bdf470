import RegistryAuth
import SystemIO
import Yams

extension Configuration {
    /// Every dotted prefix of a key (`http`, `http.tls`, …): the mappings a file may hold.
    static let sections: Set<String> = {
        var sections: Set<String> = []
        for key in ConfigKey.all {
            var parts = key.path.split(separator: ".").dropLast()
            while !parts.isEmpty {
                sections.insert(parts.joined(separator: "."))
                parts = parts.dropLast()
            }
        }
        return sections
    }()

    /// The names allowed directly under `section` ("" for the top), for the message about an unknown key.
    static func names(under section: String) -> [String] {
        let prefix = section.isEmpty ? "" : section + "."
        var names: [String] = []
        for path in ConfigKey.all.map(\.path) + [ConfigKey.accessControlPath, ConfigKey.gcRetentionPath,
                                                                ConfigKey.notificationEndpointsPath] where path.hasPrefix(prefix) {
            let name = String(path.dropFirst(prefix.count).prefix { $0 != "." })
            if !name.isEmpty && !names.contains(name) { names.append(name) }
        }
        return names
    }

    /// Reads the YAML file at `path` into the entries. - Returns: what is wrong with it.
    mutating func readFile(_ path: String) -> [ConfigError] {
        let bytes: [UInt8]?
        do { bytes = try FileSystem.read(path, maxBytes: Self.maxFileBytes) } catch {
            return [ConfigError(key: "", source: .file(path: path, line: 0), problem: "cannot read the file: \(error)")]
        }
        guard let bytes else {
            return [ConfigError(key: "", source: .file(path: path, line: 0), problem: "no such file")]
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            return [ConfigError(key: "", source: .file(path: path, line: 0), problem: "not UTF-8 text")]
        }
        let root: Node?
        do { root = try Yams.compose(yaml: text) } catch {
            return [Self.syntaxError(error, path: path)]
        }
        guard let root else { return [] }  // an empty file sets nothing
        guard case .mapping(let mapping) = root else {
            return [ConfigError(key: "", source: .file(path: path, line: root.mark?.line ?? 1),
                                problem: "expected a mapping of keys at the top of the file",
                                accepted: Self.names(under: "").joined(separator: ", "))]
        }
        var reader = FileReader(path: path)
        reader.walk(mapping, section: "", into: &self)
        return reader.errors
    }

    /// A YAML syntax error, located at its line.
    static func syntaxError(_ error: any Error, path: String) -> ConfigError {
        guard let yamlError = error as? YamlError else {
            return ConfigError(key: "", source: .file(path: path, line: 0), problem: "invalid YAML: \(error)")
        }
        switch yamlError {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _),
             .composer(let context, let problem, let mark, _):
            let what = context.map { "\($0.text) " } ?? ""
            return ConfigError(key: "", source: .file(path: path, line: mark.line), problem: "invalid YAML: \(what)\(problem)")
        case .duplicatedKeysInMapping(let duplicates, let context):
            return ConfigError(key: duplicates.joined(separator: ", "), source: .file(path: path, line: context.mark.line),
                               problem: "key given twice in one mapping")
        case .reader(let problem, _, _, _):
            return ConfigError(key: "", source: .file(path: path, line: 0), problem: "invalid YAML: \(problem)")
        default:
            return ConfigError(key: "", source: .file(path: path, line: 0), problem: "invalid YAML: \(yamlError)")
        }
    }
}

/// Walks the file's mappings against the table, collecting errors rather than stopping at the first.
struct FileReader {
    let path: String
    var errors: [ConfigError] = []

    init(path: String) { self.path = path }

    func source(_ node: Node) -> ConfigSource { .file(path: path, line: node.mark?.line ?? 0) }

    mutating func walk(_ mapping: Node.Mapping, section: String, into configuration: inout Configuration) {
        var seen: [String: Int] = [:]
        for (keyNode, value) in mapping {
            guard case .scalar(let scalar) = keyNode, !scalar.string.isEmpty else {
                errors.append(ConfigError(key: section, source: source(keyNode), problem: "a key must be a name",
                                          accepted: Configuration.names(under: section).joined(separator: ", ")))
                continue
            }
            // Keys ignore case (zot's files write `maxConnections`); a key given twice in two spellings is an error.
            let name = scalar.string.lowercased()
            let path = section.isEmpty ? name : section + "." + name
            if let line = seen[name] {
                errors.append(ConfigError(key: path, source: source(keyNode),
                                          problem: "given twice (also on line \(line); keys ignore case)"))
                continue
            }
            seen[name] = keyNode.mark?.line ?? 0
            if path == ConfigKey.accessControlPath {
                var parser = AccessControlParser(path: self.path)
                if let value = parser.parse(value) { configuration.setAccessControl(value, source: source(keyNode)) }
                errors += parser.errors
            } else if path == ConfigKey.gcRetentionPath {
                var parser = RetentionParser(path: self.path)
                if let rules = parser.parse(value) { configuration.setRetention(rules, source: source(keyNode)) }
                errors += parser.errors
            } else if path == ConfigKey.notificationEndpointsPath {
                var parser = NotificationsParser(path: self.path)
                if let value = parser.parse(value) { configuration.setNotificationEndpoints(value, source: source(keyNode)) }
                errors += parser.errors
            } else if let key = ConfigKey.byPath[path] {
                read(key, value, into: &configuration)
            } else if Configuration.sections.contains(path) {
                guard case .mapping(let inner) = value else {
                    errors.append(ConfigError(key: path, source: source(value), problem: "expected a mapping, got \(Self.describe(value))",
                                              accepted: "keys " + Configuration.names(under: path).joined(separator: ", ")))
                    continue
                }
                walk(inner, section: path, into: &configuration)
            } else {
                let names = Configuration.names(under: section)
                errors.append(ConfigError(key: path, source: source(keyNode), problem: "unknown key",
                                          accepted: (section.isEmpty ? "top-level keys " : "keys under \(section): ")
                                            + names.joined(separator: ", ")))
            }
        }
    }

    mutating func read(_ key: ConfigKey, _ node: Node, into configuration: inout Configuration) {
        let source = source(node)
        func wrongType(_ got: String) {
            errors.append(ConfigError(key: key.path, source: source, problem: "expected \(key.kind.accepted), got \(got)",
                                      accepted: key.kind.accepted))
        }
        switch node {
        case .scalar(let scalar):
            if Self.isNull(node) {
                errors.append(ConfigError(key: key.path, source: source, problem: "has no value (remove the key for its default)",
                                          accepted: key.kind.accepted))
            } else if key.kind == .pathList {
                configuration.set(key, value: .list([scalar.string]), source: source)
            } else {
                errors += configuration.set(key, text: scalar.string, source: source)
            }
        case .sequence(let sequence) where key.kind == .pathList:
            var items: [String] = []
            for item in sequence {
                guard case .scalar(let scalar) = item, !Self.isNull(item) else {
                    errors.append(ConfigError(key: key.path, source: self.source(item),
                                              problem: "expected a path, got \(Self.describe(item))", accepted: key.kind.accepted))
                    return
                }
                items.append(scalar.string)
            }
            configuration.set(key, value: .list(items), source: source)
        default:
            wrongType(Self.describe(node))
        }
    }

    static func isNull(_ node: Node) -> Bool {
        guard case .scalar(let scalar) = node, scalar.style == .plain || scalar.style == .any else { return false }
        return ["", "~", "null", "Null", "NULL"].contains(scalar.string)
    }

    static func describe(_ node: Node) -> String {
        switch node {
        case .scalar(let scalar): return isNull(node) ? "nothing" : "\"\(scalar.string)\""
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        }
    }
}
