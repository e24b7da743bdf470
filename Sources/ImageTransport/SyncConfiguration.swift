import Yams

/// What `swcopy sync` copies: per source registry, the repositories and which of their tags, with that
/// registry's TLS and credential settings. Read from skopeo's `--src yaml` file format:
///
/// ```yaml
/// registry.example.com:
///   images:
///     busybox: []                 # every tag
///     redis: ["1.0", "2.0", "sha256:…"]
///   images-by-tag-regex:
///     nginx: ^1\.13\.[12]-alpine$
///   credentials: {username: u, password: p}   # (block form)
///   tls-verify: false
///   cert-dir: /etc/certs
/// ```
public struct SyncConfiguration: Sendable, Hashable {
    public enum TagSelection: Sendable, Hashable {
        /// Every tag of the repository.
        case all
        /// These tags or digests.
        case list([String])
        /// Tags matching this regular expression.
        case regex(String)
    }

    public struct Repository: Sendable, Hashable {
        public var name: String
        public var tags: TagSelection

        public init(name: String, tags: TagSelection) {
            self.name = name
            self.tags = tags
        }
    }

    public struct Source: Sendable, Hashable {
        public var registry: String
        public var repositories: [Repository] = []
        public var username: String?
        public var password: String?
        public var tlsVerify: Bool?
        public var certDirectory: String?

        public init(registry: String, repositories: [Repository] = []) {
            self.registry = registry
            self.repositories = repositories
        }
    }

    public var sources: [Source]

    public init(sources: [Source]) { self.sources = sources }

    /// Parses a skopeo sync YAML file (YAML 1.1 as Yams/libyaml read it: anchors and aliases, block scalars, flow
    /// collections). Errors name the line.
    public init(yaml text: String) throws {
        let document: Node?
        do { document = try Yams.compose(yaml: text) } catch {
            throw TransportError.invalidImage("sync file", reason: "\(error)")
        }
        guard let document, case .mapping(let registries) = document else {
            throw TransportError.invalidImage("sync file", reason: "expected a mapping of registries")
        }
        var sources: [Source] = []
        for (registryNode, settings) in registries {
            guard let registry = registryNode.plainString else {
                throw TransportError.invalidImage("sync file", reason: "line \(registryNode.line): expected a registry name")
            }
            func fail(_ node: Node, _ reason: String) -> TransportError {
                .invalidImage("sync file: \(registry)", reason: "line \(node.line): \(reason)")
            }
            guard case .mapping(let pairs) = settings else { throw fail(settings, "expected a mapping") }
            var source = Source(registry: registry)
            for (keyNode, value) in pairs {
                guard let key = keyNode.plainString else { throw fail(keyNode, "expected a key") }
                switch key {
                case "images":
                    guard case .mapping(let images) = value else { throw fail(value, "images: expected a mapping") }
                    for (nameNode, tags) in images {
                        guard let name = nameNode.plainString else { throw fail(nameNode, "images: expected a repository name") }
                        if tags.isNull {
                            source.repositories.append(Repository(name: name, tags: .all))
                            continue
                        }
                        guard case .sequence(let items) = tags else { throw fail(tags, "images.\(name): expected a list of tags") }
                        let list = items.compactMap(\.plainString)
                        guard list.count == items.count else { throw fail(tags, "images.\(name): expected tag names") }
                        source.repositories.append(Repository(name: name, tags: list.isEmpty ? .all : .list(list)))
                    }
                case "images-by-tag-regex":
                    guard case .mapping(let images) = value else { throw fail(value, "images-by-tag-regex: expected a mapping") }
                    for (nameNode, patternNode) in images {
                        guard let name = nameNode.plainString else { throw fail(nameNode, "images-by-tag-regex: expected a repository name") }
                        guard let pattern = patternNode.plainString, !pattern.isEmpty else {
                            throw fail(patternNode, "images-by-tag-regex.\(name): expected a regular expression")
                        }
                        do { _ = try Regex(pattern) } catch {
                            throw fail(patternNode, "images-by-tag-regex.\(name): invalid regular expression: \(error)")
                        }
                        source.repositories.append(Repository(name: name, tags: .regex(pattern)))
                    }
                case "credentials":
                    guard case .mapping(let fields) = value else { throw fail(value, "credentials: expected username and password") }
                    for (fieldNode, fieldValue) in fields {
                        switch fieldNode.plainString {
                        case "username": source.username = fieldValue.plainString
                        case "password": source.password = fieldValue.plainString
                        default: throw fail(fieldNode, "credentials: unknown key")
                        }
                    }
                    if source.username == nil || source.password == nil {
                        throw fail(value, "credentials: expected username and password")
                    }
                case "tls-verify":
                    // As Go's yaml.v3 reads a bool: true/false in any of YAML's three casings.
                    switch value.plainString {
                    case "true", "True", "TRUE": source.tlsVerify = true
                    case "false", "False", "FALSE": source.tlsVerify = false
                    default: throw fail(value, "tls-verify: expected true or false")
                    }
                case "cert-dir":
                    guard let directory = value.plainString else { throw fail(value, "cert-dir: expected a path") }
                    source.certDirectory = directory
                default:
                    throw fail(keyNode, "unknown key \"\(key)\"")
                }
            }
            sources.append(source)
        }
        self.sources = sources
    }

    /// The tags of `all` that `selection` picks, in order.
    public static func select(_ selection: TagSelection, from all: [String]) throws -> [String] {
        switch selection {
        case .all: return all
        case .list(let tags): return tags
        case .regex(let pattern):
            let regex = try Regex(pattern)
            return all.filter { (try? regex.firstMatch(in: $0)) != nil }
        }
    }
}

private extension Node {
    /// A scalar's text; nil for a mapping, a sequence or a null.
    var plainString: String? {
        guard case .scalar(let scalar) = self, !isNull else { return nil }
        return scalar.string
    }

    /// An empty plain scalar or `~`/`null`, as YAML's core schema reads them.
    var isNull: Bool {
        guard case .scalar(let scalar) = self, scalar.style == .plain || scalar.style == .any else { return false }
        return ["", "~", "null", "Null", "NULL"].contains(scalar.string)
    }

    var line: Int { mark?.line ?? 0 }
}
