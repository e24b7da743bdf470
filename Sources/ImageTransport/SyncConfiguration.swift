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

    /// Parses a skopeo sync YAML file.
    public init(yaml text: String) throws {
        let document: YAMLValue
        do { document = try MiniYAML.parse(text) } catch { throw TransportError.invalidImage("sync file", reason: "\(error)") }
        guard case .mapping(let registries) = document else {
            throw TransportError.invalidImage("sync file", reason: "expected a mapping of registries")
        }
        var sources: [Source] = []
        for (registry, settings) in registries {
            func fail(_ reason: String) -> TransportError { .invalidImage("sync file: \(registry)", reason: reason) }
            guard case .mapping(let pairs) = settings else { throw fail("expected a mapping") }
            var source = Source(registry: registry)
            for (key, value) in pairs {
                switch key {
                case "images":
                    guard case .mapping(let images) = value else { throw fail("images: expected a mapping") }
                    for (name, tags) in images {
                        switch tags {
                        case .sequence(let items) where items.isEmpty:
                            source.repositories.append(Repository(name: name, tags: .all))
                        case .sequence(let items):
                            let list = items.compactMap(\.scalar)
                            guard list.count == items.count else { throw fail("images.\(name): expected tag names") }
                            source.repositories.append(Repository(name: name, tags: .list(list)))
                        case .scalar(""):
                            source.repositories.append(Repository(name: name, tags: .all))
                        default:
                            throw fail("images.\(name): expected a list of tags")
                        }
                    }
                case "images-by-tag-regex":
                    guard case .mapping(let images) = value else { throw fail("images-by-tag-regex: expected a mapping") }
                    for (name, pattern) in images {
                        guard let pattern = pattern.scalar, !pattern.isEmpty else {
                            throw fail("images-by-tag-regex.\(name): expected a regular expression")
                        }
                        do { _ = try Regex(pattern) } catch {
                            throw fail("images-by-tag-regex.\(name): invalid regular expression: \(error)")
                        }
                        source.repositories.append(Repository(name: name, tags: .regex(pattern)))
                    }
                case "credentials":
                    source.username = value["username"]?.scalar
                    source.password = value["password"]?.scalar
                    if source.username == nil || source.password == nil {
                        throw fail("credentials: expected username and password")
                    }
                case "tls-verify":
                    switch value.scalar {
                    case "true": source.tlsVerify = true
                    case "false": source.tlsVerify = false
                    default: throw fail("tls-verify: expected true or false")
                    }
                case "cert-dir":
                    source.certDirectory = value.scalar
                default:
                    throw fail("unknown key \"\(key)\"")
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
