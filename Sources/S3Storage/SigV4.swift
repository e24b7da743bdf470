import COpenSSL
import Glibc
import OCIModel

/// The pieces of AWS Signature Version 4 this client computes itself: URI encoding (for request URLs, which libcurl
/// signs as given) and query-string presigning (which libcurl does not do).
/// Reference: "Authenticating Requests: Using Query Parameters (AWS Signature Version 4)", S3 API guide.
enum SigV4 {
    /// SigV4's URI encoding: every byte but `A-Z a-z 0-9 - . _ ~` as `%XY` (uppercase hex); `/` kept when
    /// `keepSlash` (object key paths), encoded otherwise (query values).
    static func encode(_ text: String, keepSlash: Bool = false) -> String {
        let hex: [UInt8] = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                 UInt8(ascii: "~"):
                out.append(byte)
            case UInt8(ascii: "/") where keepSlash:
                out.append(byte)
            default:
                out.append(UInt8(ascii: "%"))
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0x0F)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The canonical query string: parameters sorted by encoded name then value, each `name=value` (an empty value
    /// keeps its `=`), joined by `&`. Request URLs use this same string, so what libcurl signs (7.88 signs the
    /// query exactly as written; 8.x re-sorts it, to the same result) is what S3 recomputes.
    static func canonicalQuery(_ items: [(name: String, value: String)]) -> String {
        items.map { (encode($0.name), encode($0.value)) }
            .sorted { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }
            .map { "\($0.0)=\($0.1)" }
            .joined(separator: "&")
    }

    static func hmac(key: [UInt8], _ message: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        let ok = key.withUnsafeBytes { k in
            message.withUnsafeBytes { m in
                out.withUnsafeMutableBytes { o in
                    HMAC(EVP_sha256(), k.baseAddress, Int32(k.count), m.baseAddress?.assumingMemoryBound(to: UInt8.self),
                         m.count, o.baseAddress?.assumingMemoryBound(to: UInt8.self), &length) != nil
                }
            }
        }
        precondition(ok && length == 32, "HMAC-SHA256 failed")
        return Array(out[..<32])
    }

    static func sha256Hex(_ bytes: [UInt8]) -> String { Digest.sha256(of: bytes).encoded }

    static func hex(_ bytes: [UInt8]) -> String {
        let digits: [UInt8] = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// `20130524T000000Z` and `20130524` for a time in seconds since the epoch (UTC).
    static func timestamps(_ seconds: Int) -> (dateTime: String, date: String) {
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        var year = "\(parts.tm_year + 1900)"
        while year.count < 4 { year = "0" + year }
        let date = year + two(parts.tm_mon + 1) + two(parts.tm_mday)
        return (date + "T" + two(parts.tm_hour) + two(parts.tm_min) + two(parts.tm_sec) + "Z", date)
    }

    /// The signing key: HMAC chain over date, region and service, from `AWS4` + secret.
    static func signingKey(secret: String, date: String, region: String, service: String = "s3") -> [UInt8] {
        let dateKey = hmac(key: Array(("AWS4" + secret).utf8), Array(date.utf8))
        let regionKey = hmac(key: dateKey, Array(region.utf8))
        let serviceKey = hmac(key: regionKey, Array(service.utf8))
        return hmac(key: serviceKey, Array("aws4_request".utf8))
    }

    /// A presigned URL: the request's signature in its query (`X-Amz-Algorithm`, `-Credential`, `-Date`,
    /// `-Expires`, `-SignedHeaders=host`, `-Signature`), so anyone holding it may make that one request until it
    /// expires, without credentials.
    ///
    /// - Parameters:
    ///   - method: `GET` (or `PUT`, `HEAD`).
    ///   - scheme: `http` or `https`.
    ///   - authority: The `Host` the client will send (`host` or `host:port`; a default port is left out, as
    ///     clients leave it out of `Host`).
    ///   - path: The encoded absolute path (`/bucket/key` or `/key`).
    ///   - extraQuery: More parameters to sign (e.g. `response-content-type`).
    ///   - credentials: Whose signature.
    ///   - region: The signing region.
    ///   - expires: Seconds the URL stays valid (1 … 604,800, S3's limit).
    ///   - now: Seconds since the epoch.
    static func presign(method: String, scheme: String, authority: String, path: String,
                        extraQuery: [(name: String, value: String)] = [], credentials: S3Credentials,
                        region: String, expires: Int, now: Int) -> String
    {
        let (dateTime, date) = timestamps(now)
        let scope = "\(date)/\(region)/s3/aws4_request"
        var query: [(name: String, value: String)] = extraQuery + [
            ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
            ("X-Amz-Credential", "\(credentials.accessKey)/\(scope)"),
            ("X-Amz-Date", dateTime),
            ("X-Amz-Expires", String(max(1, min(expires, 604_800)))),
            ("X-Amz-SignedHeaders", "host"),
        ]
        if let token = credentials.sessionToken { query.append(("X-Amz-Security-Token", token)) }
        let canonicalQuery = canonicalQuery(query)
        let canonicalRequest = [
            method, path, canonicalQuery, "host:\(hostHeader(scheme: scheme, authority: authority))", "", "host",
            "UNSIGNED-PAYLOAD",
        ].joined(separator: "\n")
        let stringToSign = ["AWS4-HMAC-SHA256", dateTime, scope, sha256Hex(Array(canonicalRequest.utf8))]
            .joined(separator: "\n")
        let key = signingKey(secret: credentials.secretKey, date: date, region: region)
        let signature = hex(hmac(key: key, Array(stringToSign.utf8)))
        return "\(scheme)://\(authority)\(path)?\(canonicalQuery)&X-Amz-Signature=\(signature)"
    }

    /// Header-based signing (`Authorization: AWS4-HMAC-SHA256 …`), for the requests libcurl 7.88 signs wrongly:
    /// it sorts canonical headers as whole `name:value` lines, so a name that continues another with `-`
    /// (`x-amz-copy-source-range` after `x-amz-copy-source`) lands before it, where S3 sorts by name.
    ///
    /// - Parameters:
    ///   - headers: Every header to sign but `host` and `x-amz-date` (names in any case).
    /// - Returns: The `x-amz-date` and `Authorization` headers to send.
    static func authorization(method: String, scheme: String, authority: String, path: String, query: String,
                              headers: [(name: String, value: String)], payloadHash: String,
                              credentials: S3Credentials, region: String, now: Int) -> [(name: String, value: String)]
    {
        let (dateTime, date) = timestamps(now)
        let scope = "\(date)/\(region)/s3/aws4_request"
        var canonical = headers.map { (name: $0.name.lowercased(), value: collapse($0.value)) }
        canonical.append(("host", hostHeader(scheme: scheme, authority: authority)))
        canonical.append(("x-amz-date", dateTime))
        canonical.sort { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
        let signedHeaders = canonical.map(\.name).joined(separator: ";")
        let canonicalRequest = [
            method, path, query, canonical.map { "\($0.name):\($0.value)\n" }.joined(), signedHeaders, payloadHash,
        ].joined(separator: "\n")
        let stringToSign = ["AWS4-HMAC-SHA256", dateTime, scope, sha256Hex(Array(canonicalRequest.utf8))]
            .joined(separator: "\n")
        let signature = hex(hmac(key: signingKey(secret: credentials.secretKey, date: date, region: region),
                                 Array(stringToSign.utf8)))
        return [("x-amz-date", dateTime),
                ("Authorization", "AWS4-HMAC-SHA256 Credential=\(credentials.accessKey)/\(scope), "
                    + "SignedHeaders=\(signedHeaders), Signature=\(signature)")]
    }

    /// Whether libcurl 7.88's header sort differs from SigV4's for these names (see ``authorization``).
    static func curlMissorts(_ names: [String]) -> Bool {
        let lower = names.map { $0.lowercased() } + ["host", "x-amz-date"]
        return lower.contains { a in lower.contains { b in b.count > a.count && b.hasPrefix(a + "-") } }
    }

    /// A header value as SigV4 canonicalizes it: trimmed, runs of spaces made one.
    private static func collapse(_ value: String) -> String {
        var out = ""
        var lastWasSpace = false
        for character in value.trimmingCharacters() {
            if character == " " {
                if !lastWasSpace { out.append(" ") }
                lastWasSpace = true
            } else {
                out.append(character)
                lastWasSpace = false
            }
        }
        return out
    }

    /// The `Host` header a client sends for this authority: without `:80` on http or `:443` on https.
    static func hostHeader(scheme: String, authority: String) -> String {
        if scheme == "http", authority.hasSuffix(":80") { return String(authority.dropLast(3)) }
        if scheme == "https", authority.hasSuffix(":443") { return String(authority.dropLast(4)) }
        return authority.lowercased()
    }
}
