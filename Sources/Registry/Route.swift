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
        let c = rest.split(separator: "/", omittingEmptySubsequences: false).map(Self.percentDecoded)
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

    /// `%XX` decoding of one path segment (no `+` rule: that belongs to query strings). A malformed escape is
    /// kept as it is and fails validation later.
    static func percentDecoded(_ segment: Substring) -> Substring {
        guard segment.contains("%") else { return segment }
        let bytes = Array(segment.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            if bytes[i] == 0x25, i + 2 < bytes.count, let h = hex(bytes[i + 1]), let l = hex(bytes[i + 2]) {
                out.append(h << 4 | l)
                i += 3
            } else {
                out.append(bytes[i])
                i += 1
            }
        }
        return Substring(String(decoding: out, as: UTF8.self))
    }

    private static func hex(_ c: UInt8) -> UInt8? {
        switch c {
        case 0x30...0x39: c - 0x30
        case 0x41...0x46: c - 0x37
        case 0x61...0x66: c - 0x57
        default: nil
        }
    }
}
