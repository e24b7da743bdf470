import HTTPServer

/// Where a request goes in the distribution API, from its path alone. Names and references are left raw:
/// the handlers validate them, so that every malformed one gets its own OCI error code.
///
/// A repository name may itself contain `blobs` or `manifests` as components, so routes are matched from the
/// end of the path, as distribution's router does.
enum Route: Equatable {
    case base
    case catalog
    case blob(name: Substring, digest: Substring)
    case uploads(name: Substring)
    case upload(name: Substring, id: Substring)
    case manifest(name: Substring, reference: Substring)
    case tags(name: Substring)
    case referrers(name: Substring, digest: Substring)
    case health
    /// `/readyz`: whether the registry can serve (storage writable, not shutting down), for readiness probes.
    case ready
    /// `/metrics`: Prometheus text exposition.
    case metrics
    /// `/token`: the built-in token service (Docker token protocol), outside the API.
    case token
    case notFound

    init(path: Substring) {
        if path == "/healthz" {
            self = .health
            return
        }
        if path == "/readyz" {
            self = .ready
            return
        }
        if path == "/metrics" {
            self = .metrics
            return
        }
        if path == "/token" {
            self = .token
            return
        }
        guard path == "/v2" || path.utf8.starts(with: "/v2/".utf8) else {
            self = .notFound
            return
        }
        let rest = path.dropFirst(4)
        if rest.isEmpty {
            self = .base
            return
        }
        if rest == "_catalog" {
            self = .catalog
            return
        }
        let raw = rest.split(separator: "/", omittingEmptySubsequences: false)
        if !rest.utf8.contains(UInt8(ascii: "%")) {
            // Nothing to decode: names are slices of the path itself, no copies.
            self.init(segments: raw) { rest[raw[0].startIndex..<raw[$0 - 1].endIndex] }
            return
        }
        // Split on raw slashes, then percent-decode each segment (RFC 3986): clients that encode `:` in digests
        // (`sha256%3A…`) mean the same resource. Decoded values are validated like any other.
        let decoded = raw.map { Substring(PercentDecoding.decodePathSegment($0)) }
        self.init(segments: decoded) { Substring(decoded[0..<$0].joined(separator: "/")) }
    }

    /// Matches the segments after `/v2/` from the end; `name(k)` is the repository name of the first k segments.
    private init(segments c: [Substring], name: (Int) -> Substring) {
        let n = c.count
        if n >= 4, c[n - 3] == "blobs", c[n - 2] == "uploads" {
            self = c[n - 1].isEmpty ? .uploads(name: name(n - 3)) : .upload(name: name(n - 3), id: c[n - 1])
        } else if n >= 3, c[n - 2] == "blobs" {
            self = .blob(name: name(n - 2), digest: c[n - 1])
        } else if n >= 3, c[n - 2] == "manifests" {
            self = .manifest(name: name(n - 2), reference: c[n - 1])
        } else if n >= 3, c[n - 2] == "tags", c[n - 1] == "list" {
            self = .tags(name: name(n - 2))
        } else if n >= 3, c[n - 2] == "referrers" {
            self = .referrers(name: name(n - 2), digest: c[n - 1])
        } else {
            self = .notFound
        }
    }
}

extension Route {
    /// Fills what the access log and the metrics say about a request of this route: a fixed label, and the
    /// repository and reference as the path named them (raw: a malformed name is logged as sent, escaped there).
    func describe(into context: inout ResponseContext) {
        switch self {
        case .base: context.route = "base"
        case .catalog: context.route = "catalog"
        case .blob(let name, let digest): context.describe("blob", name, digest)
        case .uploads(let name): context.describe("uploads", name, nil)
        case .upload(let name, let id): context.describe("upload", name, id)
        case .manifest(let name, let reference): context.describe("manifest", name, reference)
        case .tags(let name): context.describe("tags", name, nil)
        case .referrers(let name, let digest): context.describe("referrers", name, digest)
        case .health: context.route = "health"
        case .ready: context.route = "ready"
        case .metrics: context.route = "metrics"
        case .token: context.route = "token"
        case .notFound: context.route = "other"
        }
    }
}

extension ResponseContext {
    fileprivate mutating func describe(_ label: String, _ name: Substring, _ reference: Substring?) {
        route = label
        repository = String(name)
        self.reference = reference.map(String.init)
    }
}
