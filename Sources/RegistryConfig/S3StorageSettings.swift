/// Where and how blobs are stored in an S3-compatible object store (`storage.s3.*`, `storage.redirect.disable`),
/// typed and checked. Plain data: `swregistry` hands it to the S3 module, so this module does not depend on it.
public struct S3StorageSettings: Sendable, Equatable {
    /// Base URL of the service, `https://host[:port]` (AWS's regional endpoint when `regionendpoint` is absent).
    public var endpoint: String
    public var region: String
    public var bucket: String
    public var accessKey: String
    public var secretKey: String
    /// Prefix of every object, without leading or trailing slashes ("" for the bucket's top).
    public var rootDirectory: String
    /// `http://host/bucket/key` rather than `http://bucket.host/key`.
    public var forcePathStyle: Bool
    /// Bytes per multipart part.
    public var chunkSize: Int
    /// Answer blob GETs with a `307` to a presigned URL (`storage.redirect.disable: false`).
    public var redirect: Bool

    public init(endpoint: String, region: String, bucket: String, accessKey: String, secretKey: String,
                rootDirectory: String, forcePathStyle: Bool, chunkSize: Int, redirect: Bool) {
        self.endpoint = endpoint
        self.region = region
        self.bucket = bucket
        self.accessKey = accessKey
        self.secretKey = secretKey
        self.rootDirectory = rootDirectory
        self.forcePathStyle = forcePathStyle
        self.chunkSize = chunkSize
        self.redirect = redirect
    }

    /// S3's smallest part but the last (5 MiB), and distribution's default part size (10 MiB).
    public static let minChunkSize = 5 << 20
    public static let defaultChunkSize = 10 << 20
    /// S3's largest part (5 GiB).
    public static let maxChunkSize = 5 << 30

    /// The endpoint of AWS S3 in `region`, used when `storage.s3.regionendpoint` is absent.
    public static func awsEndpoint(region: String) -> String { "https://s3.\(region).amazonaws.com" }

    /// `storage.s3.rootdirectory` as object keys use it: no leading, trailing or doubled slash.
    /// - Returns: nil when a segment is `.` or `..` or holds a control character (object stores take such keys,
    ///   but a prefix meant to keep registries apart must not climb out of itself in any tool that lists it).
    static func normalizedRootDirectory(_ text: String) -> String? {
        let segments = text.split(separator: "/", omittingEmptySubsequences: true)
        for segment in segments {
            if segment == "." || segment == ".." { return nil }
            if segment.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) { return nil }
        }
        return segments.joined(separator: "/")
    }

    /// Why `name` is not a bucket name that can be addressed as configured, nil when it is one. Virtual-hosted
    /// addressing puts the bucket in a host name, so it must then be a DNS label sequence (S3's current rules);
    /// path-style addressing (RGW, MinIO, legacy buckets) also takes upper case and underscores.
    static func bucketProblem(_ name: String, pathStyle: Bool) -> String? {
        let allowed: (Character) -> Bool = pathStyle
            ? { $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) }
            : { $0.isASCII && ($0.isLowercase || $0.isNumber || ".-".contains($0)) }
        let longest = pathStyle ? 255 : 63
        guard (3...longest).contains(name.count) else { return "must be 3 to \(longest) characters" }
        guard name.allSatisfy(allowed) else {
            return pathStyle ? "only letters, digits, '.', '_' and '-'"
                : "only lower-case letters, digits, '.' and '-' (set storage.s3.forcepathstyle for other names)"
        }
        guard name.first!.isLetter || name.first!.isNumber, name.last!.isLetter || name.last!.isNumber else {
            return "must start and end with a letter or digit"
        }
        return nil
    }
}
