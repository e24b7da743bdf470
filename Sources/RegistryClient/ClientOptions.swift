import Logging

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
    /// A bearer token sent with every request as it is (`--registry-token`); no token is fetched then, and
    /// ``credentials`` and the auth files are not used.
    public var registryToken: String? = nil
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
    /// Environment for the auth file look-up (`REGISTRY_AUTH_FILE`, `XDG_RUNTIME_DIR`, `HOME`) and the
    /// credential helpers' search path (`PATH`); nil: the process environment.
    public var environment: [String: String]? = nil
    /// Where retries, resumes and restarts are reported (at `notice`), and each request (at `trace`); nil: silent.
    public var logger: Logger? = nil

    public init() {}
}
