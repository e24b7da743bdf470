import Logging

/// A user name and password (or token) for a registry, as given by `--creds` or found in an auth file.
public struct Credentials: Sendable, Hashable {
    public var username: String
    public var password: String

    public init(username: String, password: String) {
        self.username = username
        self.password = password
    }

    /// Parses `USERNAME[:PASSWORD]` as skopeo's `--creds` does; the password may contain `:`.
    /// - Returns: nil for an empty user name.
    public init?(parsing text: String) {
        let parts = text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        guard let user = parts.first, !user.isEmpty else { return nil }
        username = String(user)
        password = parts.count > 1 ? String(parts[1]) : ""
    }

    /// `base64(username:password)`, the `auth` field of auth files and the Basic credentials.
    var basicToken: String { Base64.encode(Array("\(username):\(password)".utf8)) }
}

/// How a ``RegistryClient`` talks to its registry.
public struct ClientOptions: Sendable {
    /// Verify TLS certificates (the default). When false, certificates are not checked and, if `https` cannot
    /// connect or negotiate at all, the client falls back to plain `http` (as skopeo does for insecure registries).
    public var tlsVerify: Bool = true
    /// A containers `certs.d`-style folder: `*.crt` files are added to the system CAs, a `*.cert`/`*.key` pair
    /// is the client certificate.
    public var certDirectory: String? = nil
    /// Explicit credentials (`--creds`); when nil, they are looked up in the auth files (see ``AuthFile``).
    public var credentials: Credentials? = nil
    /// The auth file to read first (`--authfile`).
    public var authFile: String? = nil
    /// How many times a failed request is retried (after the first attempt), for connection errors, timeouts,
    /// 408, 429 and 5xx. Like skopeo's `--retry-times`.
    public var retryTimes: Int = 3
    /// The delay between retries. nil: exponential backoff from about 200 ms with jitter; set: that delay each time.
    /// A `Retry-After` from the registry wins either way.
    public var retryDelay: Duration? = nil
    /// 0: each blob is uploaded with one streamed `PATCH`; above 0: `PATCH` chunks of this many bytes (rounded up
    /// to the registry's `OCI-Chunk-Min-Length`) with `Content-Range`.
    public var chunkSize: Int64 = 0
    /// Sent with every request.
    public var userAgent: String = "swcopy/0.1"
    /// How long to wait for a TCP (and TLS) connection.
    public var connectTimeout: Duration = .seconds(30)
    /// A transfer that moves no byte for this long is aborted and retried.
    public var stallTimeout: Duration = .seconds(60)
    /// Environment for the auth file look-up (`REGISTRY_AUTH_FILE`, `XDG_RUNTIME_DIR`, `HOME`); nil: the
    /// process environment.
    public var environment: [String: String]? = nil
    /// Where retries, resumes and restarts are reported (at `notice`), and each request (at `trace`); nil: silent.
    public var logger: Logger? = nil

    public init() {}
}

/// Standard base64 (RFC 4648 §4), for Basic credentials and auth files.
enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var i = 0
        while i < bytes.count {
            let b0 = UInt32(bytes[i])
            let b1 = i + 1 < bytes.count ? UInt32(bytes[i + 1]) : 0
            let b2 = i + 2 < bytes.count ? UInt32(bytes[i + 2]) : 0
            let n = b0 << 16 | b1 << 8 | b2
            out.append(alphabet[Int(n >> 18 & 63)])
            out.append(alphabet[Int(n >> 12 & 63)])
            out.append(i + 1 < bytes.count ? alphabet[Int(n >> 6 & 63)] : UInt8(ascii: "="))
            out.append(i + 2 < bytes.count ? alphabet[Int(n & 63)] : UInt8(ascii: "="))
            i += 3
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes standard or URL-safe base64, with or without padding; nil for anything else.
    static func decode(_ text: String) -> [UInt8]? {
        var out: [UInt8] = []
        var accumulator: UInt32 = 0
        var bits = 0
        for c in text.utf8 {
            let value: UInt32
            switch c {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): value = UInt32(c - UInt8(ascii: "A"))
            case UInt8(ascii: "a")...UInt8(ascii: "z"): value = UInt32(c - UInt8(ascii: "a")) + 26
            case UInt8(ascii: "0")...UInt8(ascii: "9"): value = UInt32(c - UInt8(ascii: "0")) + 52
            case UInt8(ascii: "+"), UInt8(ascii: "-"): value = 62
            case UInt8(ascii: "/"), UInt8(ascii: "_"): value = 63
            case UInt8(ascii: "="), UInt8(ascii: "\n"), UInt8(ascii: "\r"): continue
            default: return nil
            }
            accumulator = accumulator << 6 | value
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
            }
        }
        return out
    }
}
