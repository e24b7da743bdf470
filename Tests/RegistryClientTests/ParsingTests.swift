import Foundation
import OCIModel
@testable import RegistryClient
import Testing

/// Header grammars and small helpers, without a network.
@Suite struct ParsingTests {
    @Test func bearerChallenges() {
        let parsed = AuthChallenge.parse(header:
            #"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:samalba/my-app:pull,push""#)
        #expect(parsed.count == 1)
        #expect(parsed.first?.scheme == "bearer")
        #expect(parsed.first?.realm == "https://auth.docker.io/token")
        #expect(parsed.first?.service == "registry.docker.io")
        #expect(parsed.first?.scopes == ["repository:samalba/my-app:pull,push"])

        let two = AuthChallenge.parse(header: #"Basic realm="x\"y", Bearer realm=https://a/t ,service = "s""#)
        #expect(two.map(\.scheme) == ["basic", "bearer"])
        #expect(two.first?.realm == #"x"y"#)
        #expect(two.last?.realm == "https://a/t")
        #expect(two.last?.service == "s")

        let scopes = AuthChallenge.parse(header: #"Bearer realm="r",scope="repository:a:pull repository:b:pull""#)
        #expect(scopes.first?.scopes == ["repository:a:pull", "repository:b:pull"])
        // Garbage never traps and never loops.
        for text in ["", ",,,", "=", "Bearer", "Bearer realm", #"Bearer realm=""#, "Negotiate abc==", "\u{0}\u{1}"] {
            _ = AuthChallenge.parse(header: text)
        }
    }

    @Test func linkHeadersAndLocations() {
        func response(_ links: [String]) -> ClientResponse {
            ClientResponse(status: 200, headers: links.map { ("Link", $0) }, body: [], effectiveURL: "http://h:5/v2/x/tags/list")
        }
        #expect(RegistryClient.nextLink(response([#"</v2/x/tags/list?last=b&n=2>; rel="next""#])) == "/v2/x/tags/list?last=b&n=2")
        #expect(RegistryClient.nextLink(response([#"<https://o/p>; rel=prev"#, #"<https://o/q>;rel=next"#])) == "https://o/q")
        #expect(RegistryClient.nextLink(response([#"<https://o/p>; rel="prev""#])) == nil)
        #expect(RegistryClient.nextLink(response([])) == nil)

        let base = "http://h:5000/v2/a/blobs/uploads/?mount=x"
        #expect(RegistryClient.resolve("/v2/a/blobs/uploads/u1?_state=z", against: base) == "http://h:5000/v2/a/blobs/uploads/u1?_state=z")
        #expect(RegistryClient.resolve("https://s3/b?sig=1", against: base) == "https://s3/b?sig=1")
        #expect(RegistryClient.resolve("//cdn/b", against: base) == "http:/" + "/cdn/b")
        #expect(RegistryClient.resolve("u2", against: base) == "http://h:5000/v2/a/blobs/uploads/u2")
        #expect(RegistryClient.appendingQuery("http://h/u?_state=z", "digest", "sha256:ab") == "http://h/u?_state=z&digest=sha256:ab")
        #expect(RegistryClient.appendingQuery("http://h/u", "scope", "a b&c") == "http://h/u?scope=a%20b%26c")
    }

    @Test func base64AndCredentials() {
        for text in ["", "a", "ab", "abc", "alice:s3cret:with:colons", "ünïcødé:ß"] {
            let encoded = Base64.encode(Array(text.utf8))
            #expect(Base64.decode(encoded) == Array(text.utf8))
        }
        #expect(Base64.encode(Array("user:pass".utf8)) == "dXNlcjpwYXNz")
        #expect(Base64.decode("dXNlcjpwYXNz") == Array("user:pass".utf8))
        #expect(Base64.decode("not base64!") == nil)
        #expect(Credentials(username: "user", password: "pass").basicToken == "dXNlcjpwYXNz")
    }

    @Test func retryPolicy() {
        var options = ClientOptions()
        options.retryTimes = 5
        let exponential = RetryPolicy(options: options)
        for retry in 1...5 {
            let step = Duration.milliseconds(200) * (1 << (retry - 1))
            let delay = exponential.delay(retry: retry)
            #expect(delay >= step * 0.5 && delay <= step * 1.5)
        }
        #expect(exponential.delay(retry: 40) <= .seconds(45))
        #expect(exponential.delay(retry: 1, retryAfter: .seconds(7)) == .seconds(7))
        options.retryDelay = .milliseconds(50)
        #expect(RetryPolicy(options: options).delay(retry: 3) == .milliseconds(50))
        func retryAfter(_ value: String) -> Duration? {
            RetryPolicy.retryAfter(ClientResponse(status: 429, headers: [("Retry-After", value)], body: [], effectiveURL: ""),
                                   now: Date(timeIntervalSince1970: 1_445_412_470))
        }
        #expect(retryAfter("3") == .seconds(3))
        #expect(retryAfter("Wed, 21 Oct 2015 07:28:00 GMT") == .seconds(10))
        #expect(retryAfter("Wed, 21 Oct 2015 07:27:00 GMT") == .zero)
        #expect(retryAfter("soon") == nil)
        #expect(retryAfter("-1") == nil)
        #expect([408, 429, 500, 502, 503, 504].allSatisfy { RetryPolicy.isRetryable(status: $0) })
        #expect(![400, 401, 403, 404, 405, 416, 501].contains { RetryPolicy.isRetryable(status: $0) })
    }

    @Test func contentRangeStart() {
        #expect(BlobFileSink.rangeStart("bytes 100-199/200") == 100)
        #expect(BlobFileSink.rangeStart("bytes=5-") == 5)
        #expect(BlobFileSink.rangeStart("items 1-2") == nil)
        #expect(BlobFileSink.rangeStart("bytes */200") == nil)
    }

    /// A registry's `Range: 0-9223372036854775807` made the client's last + 1 overflow and trap (seen while writing
    /// the `range` fuzz target): positions are now 1 to 18 digits, no sign.
    @Test func rangePositionsThatWouldOverflowAreRefused() {
        #expect(RangeHeaders.uploadedLength("0-9223372036854775807") == nil)
        #expect(RangeHeaders.uploadedLength("0-+5") == nil)
        #expect(RangeHeaders.uploadedLength("bytes=0-99") == 100)
        #expect(RangeHeaders.uploadedLength(" 0-0 ") == 1)
        #expect(RangeHeaders.uploadedLength("0-999999999999999999") == 1_000_000_000_000_000_000)
        #expect(RangeHeaders.contentRangeStart("bytes +5-6/7") == nil)
        #expect(RangeHeaders.contentRangeStart("bytes 9223372036854775807-1/2") == nil)
    }

    @Test func errorDescriptionIsOneLine() {
        let error = RegistryClientError(kind: .http, operation: "pull", registry: "r:5000", repository: "a/b",
                                        object: "blob sha256:00", status: 404,
                                        errors: [OCIError(.blobUnknown, message: "blob unknown to registry")])
        #expect(error.description == "pull blob sha256:00: r:5000/a/b: HTTP 404: BLOB_UNKNOWN: blob unknown to registry")
        #expect(!error.description.contains("\n"))
        #expect(!error.isRetryable)
    }
}
