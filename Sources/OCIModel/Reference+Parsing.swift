extension Reference {
    /// Parses `[host[:port]/]name[:tag][@digest]`.
    ///
    /// Splitting follows docker's `splitDockerDomain`: the first `/`-separated component is the
    /// registry host if it contains `.` or `:`, or is `localhost`; otherwise the whole name is the
    /// repository (so `library/ubuntu` has no host). The tag is what follows the last `:` after the
    /// last `/` (so the `:5000` of `localhost:5000/x` is a port, not a tag). The digest is what
    /// follows `@`.
    ///
    /// Hosts are domain names (`[a-zA-Z0-9-]` labels joined by `.`), IPv4 addresses, or IPv6
    /// addresses in brackets, each with an optional `:port` (1–65535). The whole `host/name` is
    /// limited to 255 characters, as docker limits it.
    ///
    /// - Parameter string: The reference.
    /// - Throws: ``ReferenceError`` naming the part that is wrong.
    public init(parsing string: some StringProtocol) throws(ReferenceError) {
        let string = Substring(string)
        if string.isEmpty { throw .empty }

        var rest = string
        var digest: Digest?
        if let at = rest.firstIndex(of: "@") {
            do {
                digest = try Digest(parsing: rest[rest.index(after: at)...])
            } catch {
                throw .invalidDigest(error)
            }
            rest = rest[..<at]
        }

        var tagText: Substring?
        let lastSlash = rest.lastIndex(of: "/")
        if let colon = rest.lastIndex(of: ":"), lastSlash.map({ colon > $0 }) ?? true {
            tagText = rest[rest.index(after: colon)...]
            rest = rest[..<colon]
        }

        var host: Substring?
        var path = rest
        if let slash = rest.firstIndex(of: "/") {
            let first = rest[..<slash]
            if first.contains(".") || first.contains(":") || first == "localhost" || first.hasPrefix("[") {
                host = first
                path = rest[rest.index(after: slash)...]
            }
        }

        if let host, let reason = Reference.hostViolation(host) {
            throw .invalidHost(String(host), reason: reason)
        }
        let repository = try RepositoryName(validating: path)
        let fullLength = rest.utf8.count
        if fullLength > RepositoryName.maxLength {
            throw .invalidRepositoryName(
                String(rest), reason: "host and name are \(fullLength) characters long; the limit is \(RepositoryName.maxLength)")
        }
        var tag: Tag?
        if let tagText { tag = try Tag(validating: tagText) }

        self.init(host: host.map(String.init), repository: repository, tag: tag, digest: digest)
    }

    /// Returns why `host` (with optional port) is malformed, or `nil` if it is fine.
    static func hostViolation(_ host: Substring) -> String? {
        var hostPart = host
        var port: Substring?
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { return "IPv6 address is missing its closing ']'" }
            let address = host[host.index(after: host.startIndex)..<close]
            if let reason = ipv6Violation(address) { return reason }
            let after = host[host.index(after: close)...]
            if !after.isEmpty {
                guard after.first == ":" else { return "unexpected text after ']'; only ':port' may follow" }
                port = after.dropFirst()
            }
            hostPart = host[...close]
        } else {
            if let colon = host.firstIndex(of: ":") {
                port = host[host.index(after: colon)...]
                hostPart = host[..<colon]
            }
            if let reason = domainViolation(hostPart) { return reason }
        }
        if let port {
            guard !port.isEmpty, port.utf8.count <= 5, port.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                  let number = Int(port), (1...65535).contains(number)
            else { return "port \"\(port)\" is not a number from 1 to 65535" }
        }
        return nil
    }

    /// Domain names and dotted IPv4: labels of `[a-zA-Z0-9-]`, not starting or ending with `-`.
    private static func domainViolation(_ domain: Substring) -> String? {
        if domain.isEmpty { return "host name is empty" }
        for label in domain.split(separator: ".", omittingEmptySubsequences: false) {
            guard let first = label.utf8.first, let last = label.utf8.last else {
                return "empty label in host name (\"..\" or a leading or trailing \".\")"
            }
            if first == UInt8(ascii: "-") || last == UInt8(ascii: "-") {
                return "host label \"\(label)\" starts or ends with '-'"
            }
            for byte in label.utf8 {
                switch byte {
                case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                     UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"):
                    continue
                default:
                    return "invalid character \(Digest.describe(byte)) in host name"
                }
            }
        }
        return nil
    }

    /// IPv6 inside brackets: hex groups and colons (and a dotted IPv4 tail such as `::ffff:1.2.3.4`).
    /// This checks the alphabet and basic shape, as docker's pattern does, not full RFC 4291 syntax.
    private static func ipv6Violation(_ address: Substring) -> String? {
        if address.isEmpty { return "IPv6 address between '[' and ']' is empty" }
        var colons = 0
        for byte in address.utf8 {
            switch byte {
            case UInt8(ascii: ":"): colons += 1
            case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "f"),
                 UInt8(ascii: "A")...UInt8(ascii: "F"), UInt8(ascii: "."):
                continue
            default:
                return "invalid character \(Digest.describe(byte)) in IPv6 address"
            }
        }
        if colons < 2 { return "\"\(address)\" is not an IPv6 address" }
        return nil
    }
}
