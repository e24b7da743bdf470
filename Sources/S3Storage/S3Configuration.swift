import Glibc

/// Access key, secret and optional session token (temporary credentials from STS).
public struct S3Credentials: Sendable, Equatable {
    public var accessKey: String
    public var secretKey: String
    public var sessionToken: String?

    public init(accessKey: String, secretKey: String, sessionToken: String? = nil) {
        self.accessKey = accessKey
        self.secretKey = secretKey
        self.sessionToken = sessionToken
    }

    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`, as every AWS tool reads them.
    ///
    /// - Parameter environment: The variables (the process's by default).
    /// - Returns: nil when the key id or the secret is missing or empty.
    public static func fromEnvironment(_ environment: [String: String] = S3Configuration.processEnvironment())
        -> S3Credentials?
    {
        guard let key = environment["AWS_ACCESS_KEY_ID"], !key.isEmpty,
              let secret = environment["AWS_SECRET_ACCESS_KEY"], !secret.isEmpty else { return nil }
        let token = environment["AWS_SESSION_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        return S3Credentials(accessKey: key, secretKey: secret, sessionToken: token)
    }
}

/// Where and how to reach one bucket.
public struct S3Configuration: Sendable, Equatable {
    /// Scheme, host and optional port: `http://127.0.0.1:7480`, `https://s3.eu-west-1.amazonaws.com`.
    public var endpoint: String
    /// The signing region (`us-east-1` for most S3-compatible stores that ignore it).
    public var region: String
    public var bucket: String
    public var credentials: S3Credentials
    /// `http://host/bucket/key` rather than `http://bucket.host/key`. Ceph RGW and MinIO need it unless they are
    /// set up with wildcard DNS; AWS accepts both (virtual-hosted is its default).
    public var forcePathStyle: Bool
    /// How long a connection may take to establish before the request fails.
    public var connectTimeout: Duration
    /// A transfer moving less than 1 byte/s for this long fails (a stalled or half-dead endpoint).
    public var stallTimeout: Duration
    /// Idle easy handles (and their connections) kept for reuse: about the number of threads that talk to S3.
    public var maximumIdleHandles: Int

    public init(endpoint: String? = nil, region: String, bucket: String, credentials: S3Credentials,
                forcePathStyle: Bool = true, connectTimeout: Duration = .seconds(5),
                stallTimeout: Duration = .seconds(20), maximumIdleHandles: Int = 16)
    {
        self.endpoint = endpoint ?? "https://s3.\(region).amazonaws.com"
        self.region = region
        self.bucket = bucket
        self.credentials = credentials
        self.forcePathStyle = forcePathStyle
        self.connectTimeout = connectTimeout
        self.stallTimeout = stallTimeout
        self.maximumIdleHandles = maximumIdleHandles
    }

    /// A configuration from explicit values where given, else the usual AWS environment variables
    /// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`/`AWS_DEFAULT_REGION`,
    /// `AWS_ENDPOINT_URL_S3`/`AWS_ENDPOINT_URL`).
    ///
    /// - Throws: ``S3ConfigurationError`` naming what is missing or malformed.
    public static func resolve(endpoint: String? = nil, region: String? = nil, bucket: String,
                               accessKey: String? = nil, secretKey: String? = nil, forcePathStyle: Bool = true,
                               environment: [String: String] = processEnvironment())
        throws(S3ConfigurationError) -> S3Configuration
    {
        func nonEmpty(_ value: String?) -> String? { value.flatMap { $0.isEmpty ? nil : $0 } }
        let credentials: S3Credentials
        if let accessKey = nonEmpty(accessKey) {
            guard let secretKey = nonEmpty(secretKey) else { throw .missing("secret key (for access key \(accessKey))") }
            credentials = S3Credentials(accessKey: accessKey, secretKey: secretKey)
        } else if nonEmpty(secretKey) != nil {
            throw .missing("access key (a secret key was given without one)")
        } else if let fromEnvironment = S3Credentials.fromEnvironment(environment) {
            credentials = fromEnvironment
        } else {
            throw .missing("credentials (access key and secret key, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)")
        }
        guard let region = nonEmpty(region) ?? nonEmpty(environment["AWS_REGION"])
            ?? nonEmpty(environment["AWS_DEFAULT_REGION"])
        else { throw .missing("region (or AWS_REGION)") }
        guard !bucket.isEmpty else { throw .missing("bucket") }
        let configuration = S3Configuration(
            endpoint: nonEmpty(endpoint) ?? nonEmpty(environment["AWS_ENDPOINT_URL_S3"])
                ?? nonEmpty(environment["AWS_ENDPOINT_URL"]),
            region: region, bucket: bucket, credentials: credentials, forcePathStyle: forcePathStyle)
        _ = try configuration.parsedEndpoint()
        return configuration
    }

    /// The process's environment variables.
    public static func processEnvironment() -> [String: String] {
        var result: [String: String] = [:]
        var pointer = environ
        while let entry = pointer.pointee {
            let text = String(cString: entry)
            if let equals = text.firstIndex(of: "=") {
                result[String(text[..<equals])] = String(text[text.index(after: equals)...])
            }
            pointer += 1
        }
        return result
    }

    /// The endpoint split into scheme and authority (`host[:port]`).
    func parsedEndpoint() throws(S3ConfigurationError) -> (scheme: String, authority: String) {
        var text = Substring(endpoint)
        let scheme: String
        if text.hasPrefix("http://") {
            scheme = "http"
            text = text.dropFirst(7)
        } else if text.hasPrefix("https://") {
            scheme = "https"
            text = text.dropFirst(8)
        } else {
            throw .invalid("endpoint \(endpoint): must start with http:// or https://")
        }
        while text.hasSuffix("/") { text = text.dropLast() }
        guard !text.isEmpty, !text.contains("/"), !text.contains("@"), !text.contains("?"), !text.contains("#"),
              !text.contains(where: { $0 == " " || $0.asciiValue.map { $0 < 0x20 || $0 == 0x7F } == true })
        else {
            throw .invalid("endpoint \(endpoint): must be scheme://host[:port], without a path, user or query")
        }
        return (scheme, String(text))
    }
}

/// A configuration that cannot work.
public enum S3ConfigurationError: Error, Equatable, Sendable, CustomStringConvertible {
    case missing(String)
    case invalid(String)

    public var description: String {
        switch self {
        case .missing(let what): "S3 storage: missing \(what)"
        case .invalid(let what): "S3 storage: invalid \(what)"
        }
    }
}
