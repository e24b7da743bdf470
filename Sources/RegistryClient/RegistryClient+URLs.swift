import Foundation

extension RegistryClient {
    /// Resolves a `Location` or `Link` target against the URL that sent it: absolute URLs stay, `//host/…` takes
    /// the scheme, `/path` takes the origin, anything else is relative to the request's directory.
    static func resolve(_ location: String, against base: String) -> String {
        if location.contains("://") { return location }
        guard let schemeEnd = base.range(of: "://") else { return location }
        let scheme = String(base[..<schemeEnd.lowerBound])
        if location.hasPrefix("//") { return scheme + ":" + location }
        let afterScheme = base[schemeEnd.upperBound...]
        let authorityEnd = afterScheme.firstIndex { $0 == "/" || $0 == "?" } ?? afterScheme.endIndex
        let origin = String(base[..<authorityEnd])
        if location.hasPrefix("/") { return origin + location }
        let path = base[authorityEnd...].prefix { $0 != "?" }
        let directory = path.lastIndex(of: "/").map { String(path[...$0]) } ?? "/"
        return origin + directory + location
    }

    /// Adds `name=value` (value percent-encoded) to a URL's query.
    static func appendingQuery(_ url: String, _ name: String, _ value: String) -> String {
        url + (url.contains("?") ? "&" : "?") + name + "=" + percentEncode(value)
    }

    /// Percent-encodes a query value: RFC 3986 unreserved characters stay, as do `/`, `:` and `,` (safe in a
    /// query; the token spec writes scopes as `repository:name:pull,push`).
    static func percentEncode(_ text: String) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        for byte in text.utf8 {
            switch byte {
            case 0x30...0x39, 0x41...0x5A, 0x61...0x7A, 0x2D, 0x2E, 0x5F, 0x7E, 0x2F, 0x3A, 0x2C:
                out.append(byte)
            default:
                out += [0x25, hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]]
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The target of the `rel="next"` entry of `Link` headers (RFC 8288), as sent (relative or absolute).
    static func nextLink(_ response: ClientResponse) -> String? {
        for header in response.headerValues("Link") {
            for entry in header.split(separator: ",") {
                let text = entry.trimmingCharacters(in: .whitespaces)
                guard text.hasPrefix("<"), let close = text.firstIndex(of: ">") else { continue }
                let parameters = text[text.index(after: close)...].split(separator: ";").map {
                    $0.replacingOccurrences(of: " ", with: "").lowercased()
                }
                if parameters.contains("rel=\"next\"") || parameters.contains("rel=next") {
                    return String(text[text.index(after: text.startIndex)..<close])
                }
            }
        }
        return nil
    }
}
