/// An image reference: `[host[:port]/]name[:tag][@digest]`, as users type it and as docker and
/// distribution parse it.
///
/// At least one of ``tag`` and ``digest`` is always set: with neither, the tag is `latest`. With
/// both, the digest is what gets pulled (the tag is informational), as in docker.
///
/// Unlike docker, no default registry is assumed: ``host`` is `nil` when the reference has none,
/// and the caller decides what that means.
public struct Reference: Hashable, Sendable {
    /// The registry, e.g. `registry.example.com`, `localhost:5000`, `[::1]:5000`; `nil` if absent.
    public let host: String?
    /// The repository within the registry.
    public let repository: RepositoryName
    /// The tag; `latest` when the reference had neither tag nor digest.
    public let tag: Tag?
    /// The digest, when the reference pins one.
    public let digest: Digest?

    /// Makes a reference from validated parts.
    ///
    /// - Parameters:
    ///   - host: The registry host and optional port, unvalidated; `nil` for none.
    ///   - repository: The repository name.
    ///   - tag: The tag; defaults to `latest` when `digest` is also `nil`.
    ///   - digest: The digest.
    public init(host: String? = nil, repository: RepositoryName, tag: Tag? = nil, digest: Digest? = nil) {
        self.host = host
        self.repository = repository
        self.tag = tag ?? (digest == nil ? .latest : nil)
        self.digest = digest
    }

    /// `host/repository`, or just the repository when there is no host: the reference without
    /// tag or digest.
    public var name: String {
        if let host { return "\(host)/\(repository)" }
        return repository.value
    }

    /// What to put after `/manifests/` in a URL: the digest if there is one, else the tag.
    public var identifier: String {
        if let digest { return digest.description }
        return (tag ?? .latest).value
    }
}

extension Reference: CustomStringConvertible {
    /// The canonical form, `host/name:tag@digest`, with absent parts left out.
    public var description: String {
        var text = name
        if let tag { text += ":\(tag)" }
        if let digest { text += "@\(digest)" }
        return text
    }
}
