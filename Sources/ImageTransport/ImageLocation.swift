import OCIModel

/// Where an image is read from or written to, parsed from skopeo's `transport:details` syntax.
///
/// - `docker://host[:port]/name[:tag|@digest]` — a registry (`docker.io` and `library/` when omitted, as docker
///   does; the tag defaults to `latest` where a tag is needed).
/// - `oci:DIR[:ref]` — an OCI image layout; `ref` is the `org.opencontainers.image.ref.name` annotation.
/// - `dir:PATH` — skopeo's directory format (`manifest.json`, blobs named by their hex digest, `version`).
/// - `oci-archive:FILE[:ref]` — an OCI image layout in a tar file.
public enum ImageLocation: Sendable, Hashable, CustomStringConvertible {
    case registry(RegistryImage)
    case ociLayout(directory: String, reference: String?)
    case directory(path: String)
    case ociArchive(file: String, reference: String?)

    /// A repository in a registry and, optionally, a tag or digest in it.
    public struct RegistryImage: Sendable, Hashable {
        /// `host[:port]` as used in URLs.
        public var registry: String
        public var repository: String
        public var tag: String?
        public var digest: Digest?

        public init(registry: String, repository: String, tag: String? = nil, digest: Digest? = nil) {
            self.registry = registry
            self.repository = repository
            self.tag = tag
            self.digest = digest
        }

        /// What to ask the registry for: the digest when there is one, else the tag, else `latest`.
        public var reference: String { digest?.description ?? tag ?? "latest" }

        public var description: String {
            var text = "\(registry)/\(repository)"
            if let tag { text += ":\(tag)" }
            if let digest { text += "@\(digest)" }
            return text
        }
    }

    /// Parses `transport:details`.
    public init(parsing text: String) throws(TransportError) {
        guard let colon = text.firstIndex(of: ":") else {
            throw .invalidLocation(text, reason: "expected transport:details, e.g. docker://host/name:tag or oci:DIR:ref")
        }
        let transport = text[..<colon]
        let details = String(text[text.index(after: colon)...])
        switch transport {
        case "docker":
            guard details.hasPrefix("//") else {
                throw .invalidLocation(text, reason: "docker references start with docker://")
            }
            self = .registry(try Self.parseRegistryImage(String(details.dropFirst(2)), whole: text))
        case "oci":
            let (path, reference) = try Self.splitPathAndReference(details, whole: text)
            self = .ociLayout(directory: path, reference: reference)
        case "oci-archive":
            let (path, reference) = try Self.splitPathAndReference(details, whole: text)
            self = .ociArchive(file: path, reference: reference)
        case "dir":
            guard !details.isEmpty else { throw .invalidLocation(text, reason: "dir: needs a path") }
            self = .directory(path: details)
        default:
            throw .invalidLocation(
                text, reason: "unknown transport \"\(transport)\" (supported: docker://, oci:, oci-archive:, dir:)")
        }
    }

    static func parseRegistryImage(_ details: String, whole: String) throws(TransportError) -> RegistryImage {
        let reference: Reference
        do {
            reference = try Reference(parsing: details)
        } catch {
            throw .invalidLocation(whole, reason: "\(error)")
        }
        var repository = reference.repository.value
        let registry: String
        if let host = reference.host {
            registry = host == "index.docker.io" ? "docker.io" : host
        } else {
            registry = "docker.io"
        }
        if registry == "docker.io" && !repository.contains("/") { repository = "library/" + repository }
        return RegistryImage(registry: registry, repository: repository,
                             tag: reference.tag?.value, digest: reference.digest)
    }

    /// `PATH[:ref]`, split at the first colon as skopeo does; an empty path is refused, an empty ref means none.
    static func splitPathAndReference(_ details: String, whole: String) throws(TransportError) -> (String, String?) {
        var path = details
        var reference: String?
        if let colon = details.firstIndex(of: ":") {
            path = String(details[..<colon])
            let ref = String(details[details.index(after: colon)...])
            if !ref.isEmpty {
                guard OCILayout.isValidReferenceName(ref) else {
                    throw .invalidLocation(whole, reason: "\"\(ref)\" is not a valid image reference name")
                }
                reference = ref
            }
        }
        guard !path.isEmpty else { throw .invalidLocation(whole, reason: "the path is empty") }
        return (path, reference)
    }

    public var description: String {
        switch self {
        case .registry(let image): "docker://\(image.description)"
        case .ociLayout(let directory, let reference): "oci:\(directory)" + (reference.map { ":\($0)" } ?? "")
        case .directory(let path): "dir:\(path)"
        case .ociArchive(let file, let reference): "oci-archive:\(file)" + (reference.map { ":\($0)" } ?? "")
        }
    }
}
