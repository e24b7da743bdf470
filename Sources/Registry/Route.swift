import HTTPServer

/// Where a request goes in the distribution API, from its path alone. Names and references are left raw:
/// the handlers validate them, so that every malformed one gets its own OCI error code.
///
/// A repository name may itself contain `blobs` or `manifests` as components, so routes are matched from the
/// end of the path, as distribution's router does.
enum Route: Equatable {
    case base
    case catalog
    case blob(name: String, digest: String)
    case uploads(name: String)
    case upload(name: String, id: String)
    case manifest(name: String, reference: String)
    case tags(name: String)
    case referrers(name: String, digest: String)
    case health
    case notFound

    init(path: Substring) {
        if path == "/healthz" {
            self = .health
            return
        }
        guard path == "/v2" || path.hasPrefix("/v2/") else {
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
        // Split on raw slashes, then percent-decode each segment (RFC 3986): clients that encode `:` in digests
        // (`sha256%3A…`) mean the same resource. Decoded values are validated like any other.
        let c = rest.split(separator: "/", omittingEmptySubsequences: false).map { Substring(PercentDecoding.decodePathSegment($0)) }
        let n = c.count
        func name(_ upTo: Int) -> String { c[0..<upTo].joined(separator: "/") }
        if n >= 4, c[n - 3] == "blobs", c[n - 2] == "uploads" {
            self = c[n - 1].isEmpty ? .uploads(name: name(n - 3)) : .upload(name: name(n - 3), id: String(c[n - 1]))
        } else if n >= 3, c[n - 2] == "blobs" {
            self = .blob(name: name(n - 2), digest: String(c[n - 1]))
        } else if n >= 3, c[n - 2] == "manifests" {
            self = .manifest(name: name(n - 2), reference: String(c[n - 1]))
        } else if n >= 3, c[n - 2] == "tags", c[n - 1] == "list" {
            self = .tags(name: name(n - 2))
        } else if n >= 3, c[n - 2] == "referrers" {
            self = .referrers(name: name(n - 2), digest: String(c[n - 1]))
        } else {
            self = .notFound
        }
    }
}
