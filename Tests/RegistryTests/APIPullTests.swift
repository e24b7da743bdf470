import OCIModel
import Testing
import TestSupport

/// distribution-spec "Pull": blobs and manifests by `GET` and `HEAD`, names and digests in the path.
@Suite(.offCooperativePool, .serialized) struct APIPullTests {
    @Test func versionCheck() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        let response = try r.request("GET", "/v2/")
        #expect(response.status == 200)
        #expect(response.header("Docker-Distribution-API-Version") == "registry/2.0")
        #expect(try r.request("HEAD", "/v2/").status == 200)
    }

    // MARK: Blobs

    @Test func getBlobReturnsBytesAndHeaders() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        let bytes = testBytes(5000, seed: "get-blob")
        let digest = try r.pushBlob("pull/blob", bytes)

        let response = try r.request("GET", "/v2/pull/blob/blobs/\(digest)")
        #expect(response.status == 200)
        #expect(response.body == bytes)
        #expect(response.header("Content-Length") == "5000")
        #expect(response.header("Docker-Content-Digest") == digest.description)
        #expect(response.header("Content-Type") == "application/octet-stream")
        #expect(response.header("Accept-Ranges") == "bytes")
    }

    @Test func headBlobHasSizeAndDigestButNoBody() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        let bytes = testBytes(777, seed: "head-blob")
        let digest = try r.pushBlob("pull/blob", bytes)

        let response = try r.request("HEAD", "/v2/pull/blob/blobs/\(digest)")
        #expect(response.status == 200)
        #expect(response.header("Content-Length") == "777")
        #expect(response.header("Docker-Content-Digest") == digest.description)
        #expect(response.header("Accept-Ranges") == "bytes")
        // The connection stays usable: no body bytes followed the HEAD response.
        let client = try TestClient(port: r.port)
        _ = try client.request("HEAD", "/v2/pull/blob/blobs/\(digest)", headers: r.authorizationHeaders)
        let again = try client.request("GET", "/v2/pull/blob/blobs/\(digest)", headers: r.authorizationHeaders)
        #expect(again.status == 200)
        #expect(again.body == bytes)
    }

    @Test(arguments: [
        ("bytes=2-5", 2, 5),
        ("bytes=0-0", 0, 0),
        ("bytes=990-", 990, 999),
        ("bytes=-10", 990, 999),
        ("bytes=995-5000", 995, 999),
    ])
    func rangeRequestGets206(range: String, first: Int, last: Int) throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        let bytes = testBytes(1000, seed: "range")
        let digest = try r.pushBlob("pull/range", bytes)

        let response = try r.request("GET", "/v2/pull/range/blobs/\(digest)", headers: [("Range", range)])
        #expect(response.status == 206)
        #expect(response.header("Content-Range") == "bytes \(first)-\(last)/1000")
        #expect(response.header("Content-Length") == "\(last - first + 1)")
        #expect(response.body == Array(bytes[first...last]))
    }

    @Test func unsatisfiableRangeGets416() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        let digest = try r.pushBlob("pull/range", testBytes(100, seed: "r416"))
        let response = try r.request("GET", "/v2/pull/range/blobs/\(digest)", headers: [("Range", "bytes=200-300")])
        #expect(response.status == 416)
    }

    @Test func unknownBlobIsBlobUnknown() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        try r.pushBlob("pull/known", testBytes(10, seed: "known"))
        let missing = Digest.sha256(of: Array("never pushed".utf8))
        expectOCIError(try r.request("GET", "/v2/pull/known/blobs/\(missing)"), 404, .blobUnknown)
        #expect(try r.request("HEAD", "/v2/pull/known/blobs/\(missing)").status == 404)
    }

    @Test func blobInUnknownRepositoryIs404() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        let missing = Digest.sha256(of: Array("never pushed".utf8))
        expectOCIErrorIn(try r.request("GET", "/v2/no/such/repo/blobs/\(missing)"), statuses: [404],
                         codes: [.blobUnknown, .nameUnknown])
    }

    @Test func blobIsServedOnlyInRepositoriesThatLinkIt() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        let bytes = testBytes(300, seed: "private")
        let digest = try r.pushBlob("team/a", bytes)
        try r.pushBlob("team/b", testBytes(10, seed: "other"))  // team/b exists but lacks the blob

        expectOCIError(try r.request("GET", "/v2/team/b/blobs/\(digest)"), 404, .blobUnknown)
        #expect(try r.request("HEAD", "/v2/team/b/blobs/\(digest)").status == 404)
        #expect(try r.request("GET", "/v2/team/a/blobs/\(digest)").body == bytes)
    }

    @Test func sha512BlobRoundTrips() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        let bytes = testBytes(4096, seed: "sha512")
        let digest = Digest.sha512(of: bytes)
        let push = try r.request("POST", "/v2/pull/sha512/blobs/uploads/?digest=\(digest)",
                                 headers: [("Content-Type", "application/octet-stream")], body: bytes)
        #expect(push.status == 201)
        let response = try r.request("GET", "/v2/pull/sha512/blobs/\(digest)")
        #expect(response.status == 200)
        #expect(response.body == bytes)
        #expect(response.header("Docker-Content-Digest") == digest.description)
    }

    // MARK: Digests in the path

    @Test(arguments: [
        "sha256:abc",                                                                   // too short
        "sha256:" + String(repeating: "A", count: 64),                                  // uppercase hex
        "sha256:" + String(repeating: "g", count: 64),                                  // not hex
        "sha256",                                                                       // no colon
        "sha256:",                                                                      // empty encoded
        ":" + String(repeating: "a", count: 64),                                        // empty algorithm
        "SHA256:" + String(repeating: "a", count: 64),                                  // uppercase algorithm
        "sha512:" + String(repeating: "a", count: 64),                                  // sha512 of the wrong length
    ])
    func malformedBlobDigestIsDigestInvalid(digest: String) throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        try r.pushBlob("pull/digests", testBytes(10, seed: "d"))
        expectOCIError(try r.request("GET", "/v2/pull/digests/blobs/\(digest)"), 400, .digestInvalid, digest)
        #expect(try r.request("HEAD", "/v2/pull/digests/blobs/\(digest)").status == 400, "HEAD \(digest)")
    }

    @Test func unknownAlgorithmIsDigestInvalid() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        try r.pushBlob("pull/digests", testBytes(10, seed: "d"))
        let md5 = "md5:" + String(repeating: "0", count: 32)
        expectOCIError(try r.request("GET", "/v2/pull/digests/blobs/\(md5)"), 400, .digestInvalid)
        let blake = "blake3:" + String(repeating: "a", count: 64)
        expectOCIError(try r.request("GET", "/v2/pull/digests/blobs/\(blake)"), 400, .digestInvalid)
    }

    // MARK: Manifests

    @Test func getManifestByTagAndDigestReturnsExactBytes() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        let image = try r.pushImage("pull/manifest", tag: "v1", seed: "m")

        for reference in ["v1", image.digest.description] {
            let response = try r.request("GET", "/v2/pull/manifest/manifests/\(reference)",
                                         headers: [("Accept", MediaType.ociManifest.rawValue)])
            #expect(response.status == 200, "\(reference)")
            #expect(response.body == image.bytes, "exact bytes for \(reference)")
            #expect(response.header("Content-Type") == MediaType.ociManifest.rawValue)
            #expect(response.header("Docker-Content-Digest") == image.digest.description)
            #expect(response.header("Content-Length") == "\(image.bytes.count)")
        }
    }

    @Test func headManifestByTagCarriesDigestAndLength() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        let image = try r.pushImage("pull/manifest", tag: "latest", seed: "head")

        for reference in ["latest", image.digest.description] {
            let response = try r.request("HEAD", "/v2/pull/manifest/manifests/\(reference)")
            #expect(response.status == 200, "\(reference)")
            #expect(response.body.isEmpty)
            #expect(response.header("Docker-Content-Digest") == image.digest.description)
            #expect(response.header("Content-Length") == "\(image.bytes.count)")
            #expect(response.header("Content-Type") == MediaType.ociManifest.rawValue)
        }
    }

    @Test func unknownManifestIsManifestUnknown() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        _ = try r.pushImage("pull/manifest", tag: "v1", seed: "u")
        expectOCIError(try r.request("GET", "/v2/pull/manifest/manifests/nope"), 404, .manifestUnknown, "tag")
        let digest = Digest.sha256(of: Array("no manifest".utf8))
        expectOCIError(try r.request("GET", "/v2/pull/manifest/manifests/\(digest)"), 404, .manifestUnknown, "digest")
        #expect(try r.request("HEAD", "/v2/pull/manifest/manifests/nope").status == 404)
        #expect(try r.request("HEAD", "/v2/pull/manifest/manifests/\(digest)").status == 404)
    }

    @Test func manifestInUnknownRepositoryIs404() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        expectOCIErrorIn(try r.request("GET", "/v2/never/pushed/manifests/latest"), statuses: [404],
                         codes: [.nameUnknown, .manifestUnknown])
        #expect(try r.request("HEAD", "/v2/never/pushed/manifests/latest").status == 404)
    }

    @Test func manifestIsServedOnlyInItsRepository() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        let image = try r.pushImage("team/a", tag: "v1", seed: "per-repo")
        _ = try r.pushImage("team/b", tag: "v1", seed: "other")
        expectOCIError(try r.request("GET", "/v2/team/b/manifests/\(image.digest)"), 404, .manifestUnknown)
    }

    @Test func malformedManifestDigestIs400() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        _ = try r.pushImage("pull/manifest", tag: "v1", seed: "bad")
        // A reference with ':' is not a tag, so it must be a digest, and this one is malformed.
        expectOCIError(try r.request("GET", "/v2/pull/manifest/manifests/sha256:1234"), 400, .digestInvalid)
        let md5 = "md5:" + String(repeating: "0", count: 32)
        expectOCIError(try r.request("GET", "/v2/pull/manifest/manifests/\(md5)"), 400, .digestInvalid)
    }

    // MARK: Names

    static let invalidNames: [String] = [
        "Upper/case",
        "UPPER",
        "../etc",
        "a/../../etc",
        "a/./b",
        "%2e%2e/etc",
        "a/%2e%2e/%2e%2e/etc",
        "a//b",
        "/etc/passwd",                              // absolute: "/v2//etc/passwd/…"
        "-leading",
        "trailing-",
        "a__-b",
        String(repeating: "a", count: 256),
        String(repeating: "abcdefghij/", count: 30) + "z",
    ]

    @Test(arguments: invalidNames)
    func invalidNameIsNameInvalid(name: String) throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        let digest = Digest.sha256(of: Array("x".utf8))
        expectOCIError(try r.request("GET", "/v2/\(name)/manifests/latest"), 400, .nameInvalid, "manifest \(name)")
        expectOCIError(try r.request("GET", "/v2/\(name)/blobs/\(digest)"), 400, .nameInvalid, "blob \(name)")
        expectOCIError(try r.request("GET", "/v2/\(name)/tags/list"), 400, .nameInvalid, "tags \(name)")
        expectOCIError(try r.request("POST", "/v2/\(name)/blobs/uploads/"), 400, .nameInvalid, "upload \(name)")
        #expect(r.sandboxEntries() == ["store"])
    }

    @Test func nameOf255CharactersIsAccepted() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        let name = String(repeating: "abcdefghi/", count: 25) + "abcde"
        #expect(name.utf8.count == 255)
        let bytes = testBytes(64, seed: "long")
        let digest = try r.pushBlob(name, bytes)
        #expect(try r.request("GET", "/v2/\(name)/blobs/\(digest)").body == bytes)
    }

    @Test func nestedNameWithSeparatorsWorks() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        let name = "a0/b-c/d__e/f.g/h--i"
        let image = try r.pushImage(name, tag: "v1", seed: "nested")
        #expect(try r.request("GET", "/v2/\(name)/manifests/v1").body == image.bytes)
    }
}
