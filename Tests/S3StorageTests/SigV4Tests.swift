import Testing
@testable import S3Storage

@Suite("SigV4")
struct SigV4Tests {
    /// The worked example of AWS's "Authenticating Requests: Using Query Parameters" page (bucket `examplebucket`,
    /// key `test.txt`, 2013-05-24T00:00:00Z, 86,400 s, the documentation's example credentials).
    @Test("presigns AWS's documented example exactly")
    func documentedExample() {
        let url = SigV4.presign(
            method: "GET", scheme: "https", authority: "examplebucket.s3.amazonaws.com", path: "/test.txt",
            credentials: S3Credentials(accessKey: "AKIAIOSFODNN7EXAMPLE",
                                       secretKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
            region: "us-east-1", expires: 86400, now: 1_369_353_600)
        #expect(url == "https://examplebucket.s3.amazonaws.com/test.txt"
            + "?X-Amz-Algorithm=AWS4-HMAC-SHA256"
            + "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
            + "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
            + "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404")
    }

    /// AWS's "Example: GET Object" of header-based signing (a `Range` header; same credentials, bucket and day).
    @Test("signs AWS's documented header example exactly, for the requests curl 7.88 missorts")
    func documentedHeaderExample() {
        let headers = SigV4.authorization(
            method: "GET", scheme: "https", authority: "examplebucket.s3.amazonaws.com", path: "/test.txt", query: "",
            headers: [("Range", "bytes=0-9"), ("x-amz-content-sha256", S3Transport.emptyPayloadHash)],
            payloadHash: S3Transport.emptyPayloadHash,
            credentials: S3Credentials(accessKey: "AKIAIOSFODNN7EXAMPLE",
                                       secretKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
            region: "us-east-1", now: 1_369_353_600)
        #expect(headers.first?.value == "20130524T000000Z")
        #expect(headers.last?.value == "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/"
            + "aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
            + "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
        #expect(SigV4.curlMissorts(["x-amz-copy-source", "X-Amz-Copy-Source-Range", "x-amz-content-sha256"]))
        #expect(!SigV4.curlMissorts(["x-amz-copy-source", "x-amz-content-sha256", "Range", "Content-Type"]))
    }

    @Test("URI encoding keeps only unreserved characters (and / in paths)")
    func encoding() {
        #expect(SigV4.encode("aZ09-._~") == "aZ09-._~")
        #expect(SigV4.encode("a b+c=d&e/f%") == "a%20b%2Bc%3Dd%26e%2Ff%25")
        #expect(SigV4.encode("a b/c", keepSlash: true) == "a%20b/c")
        #expect(SigV4.encode("é") == "%C3%A9")
    }

    @Test("the canonical query sorts by name and keeps = for empty values")
    func canonicalQuery() {
        #expect(SigV4.canonicalQuery([("uploads", ""), ("prefix", "a b"), ("max-uploads", "10")])
            == "max-uploads=10&prefix=a%20b&uploads=")
    }

    @Test("timestamps in UTC")
    func timestamps() {
        let epoch = SigV4.timestamps(0)
        #expect(epoch.dateTime == "19700101T000000Z" && epoch.date == "19700101")
        let later = SigV4.timestamps(1_369_353_600 + 3_600 * 13 + 61)
        #expect(later.dateTime == "20130524T130101Z" && later.date == "20130524")
    }

    @Test("configuration: arguments first, then the AWS environment")
    func configuration() throws {
        let environment = ["AWS_ACCESS_KEY_ID": "envkey", "AWS_SECRET_ACCESS_KEY": "envsecret",
                           "AWS_REGION": "eu-west-1", "AWS_SESSION_TOKEN": "tok"]
        let fromEnvironment = try S3Configuration.resolve(bucket: "b", environment: environment)
        #expect(fromEnvironment.credentials == S3Credentials(accessKey: "envkey", secretKey: "envsecret",
                                                             sessionToken: "tok"))
        #expect(fromEnvironment.region == "eu-west-1")
        #expect(fromEnvironment.endpoint == "https://s3.eu-west-1.amazonaws.com")
        let explicit = try S3Configuration.resolve(endpoint: "http://127.0.0.1:7480/", region: "us-east-1", bucket: "b",
                                                   accessKey: "k", secretKey: "s", environment: environment)
        #expect(explicit.credentials == S3Credentials(accessKey: "k", secretKey: "s"))
        #expect(explicit.region == "us-east-1")
        #expect(throws: S3ConfigurationError.self) { try S3Configuration.resolve(bucket: "b", environment: [:]) }
        #expect(throws: S3ConfigurationError.self) {
            try S3Configuration.resolve(region: "r", bucket: "b", accessKey: "k", environment: [:])
        }
        #expect(throws: S3ConfigurationError.self) {
            try S3Configuration.resolve(endpoint: "127.0.0.1:7480", region: "r", bucket: "b", environment: environment)
        }
        #expect(throws: S3ConfigurationError.self) {
            try S3Configuration.resolve(endpoint: "http://h/path", region: "r", bucket: "b", environment: environment)
        }
    }

    @Test("path-style and virtual-hosted URLs")
    func urls() throws {
        var configuration = S3Configuration(endpoint: "http://127.0.0.1:7480", region: "us-east-1", bucket: "bkt",
                                            credentials: S3Credentials(accessKey: "k", secretKey: "s"))
        let pathStyle = try S3Transport(configuration)
        #expect(pathStyle.url(key: "a b/c+d") == "http://127.0.0.1:7480/bkt/a%20b/c%2Bd")
        #expect(pathStyle.url(key: nil, query: [("prefix", "p/"), ("list-type", "2")])
            == "http://127.0.0.1:7480/bkt?list-type=2&prefix=p%2F")
        configuration.forcePathStyle = false
        let virtual = try S3Transport(configuration)
        #expect(virtual.url(key: "k") == "http://bkt.127.0.0.1:7480/k")
    }
}
