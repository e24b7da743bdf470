import OCIModel
import Testing
import TestSupport

/// distribution-spec "Push": every upload style clients use, mounting, and manifests.
@Suite(.offCooperativePool, .serialized) struct APIPushTests {
    static let octet = ("Content-Type", "application/octet-stream")

    /// Checks that `digest` is served in `repo` with exactly `bytes`.
    static func expectBlob(_ r: RegistryFixture, _ repo: String, _ digest: Digest, _ bytes: [UInt8],
                           sourceLocation: SourceLocation = #_sourceLocation) throws {
        let response = try r.request("GET", "/v2/\(repo)/blobs/\(digest)")
        #expect(response.status == 200, "GET blob \(digest): \(response.status)", sourceLocation: sourceLocation)
        #expect(response.body == bytes, "blob bytes", sourceLocation: sourceLocation)
    }

    /// Checks that `digest` is not served in `repo`.
    static func expectNoBlob(_ r: RegistryFixture, _ repo: String, _ digest: Digest,
                             sourceLocation: SourceLocation = #_sourceLocation) throws {
        let response = try r.request("HEAD", "/v2/\(repo)/blobs/\(digest)")
        #expect(response.status == 404, "HEAD blob \(digest): \(response.status)", sourceLocation: sourceLocation)
    }

    /// The 201 of a completed blob upload.
    static func expectCreated(_ response: TestClient.Response, _ repo: String, _ digest: Digest,
                              sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(response.status == 201, "status \(response.status) \(response.text)", sourceLocation: sourceLocation)
        let location = response.header("Location").map(requestTarget)
        #expect(location == "/v2/\(repo)/blobs/\(digest)", "Location \(location ?? "nil")", sourceLocation: sourceLocation)
        #expect(response.header("Docker-Content-Digest") == digest.description, sourceLocation: sourceLocation)
    }

    // MARK: Upload sessions

    @Test func postStartsSessionWithLocationAndUUID() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        let first = try r.request("POST", "/v2/push/session/blobs/uploads/")
        #expect(first.status == 202)
        let location = try #require(first.header("Location"))
        let uuid = try #require(first.header("Docker-Upload-UUID"))
        #expect(!uuid.isEmpty)
        #expect(location.contains(uuid), "the Location \(location) names the session \(uuid)")
        #expect(pathOf(requestTarget(location)).hasPrefix("/v2/push/session/blobs/uploads/"))
        let second = try r.request("POST", "/v2/push/session/blobs/uploads/")
        #expect(second.status == 202)
        #expect(second.header("Docker-Upload-UUID") != uuid, "each POST opens a new session")
        #expect(second.header("Location") != location)
    }

    @Test func singlePostWithDigestCreatesBlob() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        let bytes = testBytes(3000, seed: "single-post")
        let digest = Digest.sha256(of: bytes)
        let response = try r.request("POST", "/v2/push/mono/blobs/uploads/?digest=\(digest)", headers: [Self.octet], body: bytes)
        Self.expectCreated(response, "push/mono", digest)
        try Self.expectBlob(r, "push/mono", digest, bytes)
    }

    @Test func postThenPutWithWholeBody() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        let bytes = testBytes(70_000, seed: "post-put")
        let digest = Digest.sha256(of: bytes)
        let location = try r.startUpload("push/oras")
        let response = try r.request("PUT", appendingQuery(location, "digest=\(digest)"), headers: [Self.octet], body: bytes)
        Self.expectCreated(response, "push/oras", digest)
        try Self.expectBlob(r, "push/oras", digest, bytes)
    }

    @Test func emptyBlobCanBePushed() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        let digest = Digest.sha256(of: [UInt8]())
        let location = try r.startUpload("push/empty")
        let response = try r.request("PUT", appendingQuery(location, "digest=\(digest)"))
        Self.expectCreated(response, "push/empty", digest)
        let get = try r.request("GET", "/v2/push/empty/blobs/\(digest)")
        #expect(get.status == 200)
        #expect(get.header("Content-Length") == "0")
    }

    @Test func streamedPatchThenPutWithEmptyBody() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        let bytes = testBytes(300_000, seed: "streamed")
        let digest = Digest.sha256(of: bytes)
        let start = try r.request("POST", "/v2/push/stream/blobs/uploads/")
        let uuid = start.header("Docker-Upload-UUID")
        var location = requestTarget(try #require(start.header("Location")))

        let patch = try r.request("PATCH", location, headers: [Self.octet], body: bytes)
        #expect(patch.status == 202)
        #expect(patch.header("Range") == "0-\(bytes.count - 1)")
        #expect(patch.header("Docker-Upload-UUID") == uuid)
        location = requestTarget(try #require(patch.header("Location")))

        let put = try r.request("PUT", appendingQuery(location, "digest=\(digest)"))
        Self.expectCreated(put, "push/stream", digest)
        try Self.expectBlob(r, "push/stream", digest, bytes)
    }

    @Test func consecutiveStreamedPatchesAppend() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        let bytes = testBytes(2000, seed: "two-streams")
        let digest = Digest.sha256(of: bytes)
        var location = try r.startUpload("push/stream")
        let first = try r.request("PATCH", location, headers: [Self.octet], body: Array(bytes[..<1500]))
        #expect(first.status == 202)
        #expect(first.header("Range") == "0-1499")
        location = requestTarget(try #require(first.header("Location")))
        let second = try r.request("PATCH", location, headers: [Self.octet], body: Array(bytes[1500...]))
        #expect(second.status == 202)
        #expect(second.header("Range") == "0-1999")
        location = requestTarget(try #require(second.header("Location")))
        Self.expectCreated(try r.request("PUT", appendingQuery(location, "digest=\(digest)")), "push/stream", digest)
        try Self.expectBlob(r, "push/stream", digest, bytes)
    }

    @Test func chunkedUploadWithInclusiveContentRange() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        let bytes = testBytes(20, seed: "chunks")
        let digest = Digest.sha256(of: bytes)
        let start = try r.request("POST", "/v2/push/chunked/blobs/uploads/", headers: [("Content-Length", "0")])
        #expect(start.status == 202)
        let uuid = try #require(start.header("Docker-Upload-UUID"))
        var location = requestTarget(try #require(start.header("Location")))

        let first = try r.request("PATCH", location, headers: [Self.octet, ("Content-Range", "0-9")], body: Array(bytes[0..<10]))
        #expect(first.status == 202)
        #expect(first.header("Range") == "0-9")
        #expect(first.header("Docker-Upload-UUID") == uuid)
        location = requestTarget(try #require(first.header("Location")))

        let second = try r.request("PATCH", location, headers: [Self.octet, ("Content-Range", "10-19")], body: Array(bytes[10..<20]))
        #expect(second.status == 202)
        #expect(second.header("Range") == "0-19")
        #expect(second.header("Docker-Upload-UUID") == uuid)
        location = requestTarget(try #require(second.header("Location")))

        let status = try r.request("GET", location)
        #expect(status.status == 204)
        #expect(status.header("Range") == "0-19")
        #expect(status.header("Location") != nil)

        let put = try r.request("PUT", appendingQuery(location, "digest=\(digest)"))
        Self.expectCreated(put, "push/chunked", digest)
        try Self.expectBlob(r, "push/chunked", digest, bytes)
    }

    @Test func finalChunkInClosingPut() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        let bytes = testBytes(20, seed: "final-in-put")
        let digest = Digest.sha256(of: bytes)
        var location = try r.startUpload("push/chunked")
        let first = try r.request("PATCH", location, headers: [Self.octet, ("Content-Range", "0-9")], body: Array(bytes[0..<10]))
        #expect(first.status == 202)
        location = requestTarget(try #require(first.header("Location")))
        let put = try r.request("PUT", appendingQuery(location, "digest=\(digest)"),
                                headers: [Self.octet, ("Content-Range", "10-19")], body: Array(bytes[10..<20]))
        Self.expectCreated(put, "push/chunked", digest)
        try Self.expectBlob(r, "push/chunked", digest, bytes)
    }

    @Test func outOfOrderChunkIs416AndUploadCanContinue() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        let bytes = testBytes(30, seed: "order")
        let digest = Digest.sha256(of: bytes)
        var location = try r.startUpload("push/order")
        let first = try r.request("PATCH", location, headers: [Self.octet, ("Content-Range", "0-9")], body: Array(bytes[0..<10]))
        #expect(first.status == 202)
        location = requestTarget(try #require(first.header("Location")))

        // A gap (15 instead of 10), then an overlap (5 instead of 10).
        let gap = try r.request("PATCH", location, headers: [Self.octet, ("Content-Range", "15-24")], body: Array(bytes[15..<25]))
        expectOCIErrorIn(gap, statuses: [416], codes: [.rangeInvalid, .blobUploadInvalid], "gap")
        let overlap = try r.request("PATCH", location, headers: [Self.octet, ("Content-Range", "5-14")], body: Array(bytes[5..<15]))
        expectOCIErrorIn(overlap, statuses: [416], codes: [.rangeInvalid, .blobUploadInvalid], "overlap")
        let repeatFirst = try r.request("PATCH", location, headers: [Self.octet, ("Content-Range", "0-9")], body: Array(bytes[0..<10]))
        expectOCIErrorIn(repeatFirst, statuses: [416], codes: [.rangeInvalid, .blobUploadInvalid], "repeat")

        // The session is intact: status still 0-9, and the right chunk continues it.
        let status = try r.request("GET", location)
        #expect(status.status == 204)
        #expect(status.header("Range") == "0-9")
        location = requestTarget(status.header("Location") ?? location)
        let next = try r.request("PATCH", location, headers: [Self.octet, ("Content-Range", "10-29")], body: Array(bytes[10..<30]))
        #expect(next.status == 202)
        #expect(next.header("Range") == "0-29")
        location = requestTarget(next.header("Location") ?? location)
        Self.expectCreated(try r.request("PUT", appendingQuery(location, "digest=\(digest)")), "push/order", digest)
        try Self.expectBlob(r, "push/order", digest, bytes)
    }

    @Test func firstChunkNotAtZeroIs416() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        let location = try r.startUpload("push/order")
        let response = try r.request("PATCH", location, headers: [Self.octet, ("Content-Range", "1-10")],
                                     body: testBytes(10, seed: "x"))
        expectOCIErrorIn(response, statuses: [416], codes: [.rangeInvalid, .blobUploadInvalid])
    }

    @Test func uploadStatusIs204WithRangeAndLocation() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        var location = try r.startUpload("push/status")
        let patch = try r.request("PATCH", location, headers: [Self.octet], body: testBytes(123, seed: "s"))
        location = requestTarget(patch.header("Location") ?? location)
        let status = try r.request("GET", location)
        #expect(status.status == 204)
        #expect(status.header("Range") == "0-122")
        let statusLocation = try #require(status.header("Location"))
        #expect(pathOf(requestTarget(statusLocation)) == pathOf(location))
        #expect(status.header("Docker-Upload-UUID") != nil)
    }

    @Test func deleteCancelsUpload() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        var location = try r.startUpload("push/cancel")
        let patch = try r.request("PATCH", location, headers: [Self.octet], body: testBytes(50, seed: "c"))
        location = requestTarget(patch.header("Location") ?? location)
        let delete = try r.request("DELETE", location)
        #expect(delete.status == 204)
        expectOCIError(try r.request("GET", location), 404, .blobUploadUnknown, "GET after DELETE")
        expectOCIError(try r.request("PATCH", location, headers: [Self.octet], body: [1, 2, 3]), 404, .blobUploadUnknown,
                       "PATCH after DELETE")
        let digest = Digest.sha256(of: testBytes(50, seed: "c"))
        expectOCIError(try r.request("PUT", appendingQuery(location, "digest=\(digest)")), 404, .blobUploadUnknown,
                       "PUT after DELETE")
        expectOCIError(try r.request("DELETE", location), 404, .blobUploadUnknown, "second DELETE")
    }

    @Test func finishedUploadIsUnknown() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        let bytes = testBytes(40, seed: "finished")
        let digest = Digest.sha256(of: bytes)
        let location = try r.startUpload("push/finished")
        Self.expectCreated(try r.request("PUT", appendingQuery(location, "digest=\(digest)"), headers: [Self.octet], body: bytes),
                           "push/finished", digest)
        expectOCIError(try r.request("GET", location), 404, .blobUploadUnknown, "GET")
        expectOCIError(try r.request("PATCH", location, headers: [Self.octet], body: [1]), 404, .blobUploadUnknown, "PATCH")
        expectOCIError(try r.request("PUT", appendingQuery(location, "digest=\(digest)")), 404, .blobUploadUnknown, "PUT")
    }

    @Test(arguments: [
        "3f2c6e1a-0000-4000-8000-000000000000",
        "nonexistent",
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        String(repeating: "x", count: 2000),
        "%2e%2e%2f%2e%2e%2fetc",
        "..%2F..%2Fetc%2Fpasswd",
        "..",
        "a%00b",
    ])
    func unknownUploadIdIsBlobUploadUnknown(id: String) throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        _ = try r.startUpload("push/ids")  // the repository exists and has a live session
        let path = "/v2/push/ids/blobs/uploads/\(id)"
        let digest = Digest.sha256(of: [UInt8]())
        expectOCIError(try r.request("GET", path), 404, .blobUploadUnknown, "GET")
        expectOCIError(try r.request("PATCH", path, headers: [Self.octet], body: [1, 2]), 404, .blobUploadUnknown, "PATCH")
        expectOCIError(try r.request("PUT", appendingQuery(path, "digest=\(digest)")), 404, .blobUploadUnknown, "PUT")
        expectOCIError(try r.request("DELETE", path), 404, .blobUploadUnknown, "DELETE")
        #expect(r.sandboxEntries() == ["store"])
    }

    @Test func uploadSessionBelongsToItsRepository() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        let location = try r.startUpload("push/owner")
        _ = try r.startUpload("push/thief")
        let stolen = location.replacingOccurrences(of: "/v2/push/owner/", with: "/v2/push/thief/")
        #expect(stolen != location)
        expectOCIError(try r.request("GET", stolen), 404, .blobUploadUnknown)
    }

    @Test func openUploadSessionsAreLimited() throws {
        let r = try RegistryFixture {
            $0.maxOpenUploads = 2
            $0.maxUploadsPerClient = 2  // the global cap is tested here (the per-client one in APIUploadSessionTests)
        }
        defer { r.stop() }
        let first = try r.startUpload("push/limit")
        _ = try r.startUpload("push/limit")
        expectOCIError(try r.request("POST", "/v2/push/limit/blobs/uploads/"), 429, .tooManyRequests)
        // A finished or cancelled session frees its slot.
        #expect(try r.request("DELETE", first).status == 204)
        let bytes = testBytes(10, seed: "after-limit")
        let digest = Digest.sha256(of: bytes)
        let location = try r.startUpload("push/limit")
        Self.expectCreated(try r.request("PUT", appendingQuery(location, "digest=\(digest)"), headers: [Self.octet], body: bytes),
                           "push/limit", digest)
        _ = try r.startUpload("push/limit")
    }

    @Test func chunkedUploadContinuesAfterServerRestart() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        let bytes = testBytes(20, seed: "restart")
        let digest = Digest.sha256(of: bytes)
        var location = try r.startUpload("push/restart")
        let first = try r.request("PATCH", location, headers: [Self.octet, ("Content-Range", "0-9")], body: Array(bytes[..<10]))
        #expect(first.status == 202)
        location = requestTarget(try #require(first.header("Location")))

        try r.restart()

        let status = try r.request("GET", location)
        #expect(status.status == 204)
        #expect(status.header("Range") == "0-9")
        let second = try r.request("PATCH", location, headers: [Self.octet, ("Content-Range", "10-19")], body: Array(bytes[10...]))
        #expect(second.status == 202)
        #expect(second.header("Range") == "0-19")
        location = requestTarget(second.header("Location") ?? location)
        Self.expectCreated(try r.request("PUT", appendingQuery(location, "digest=\(digest)")), "push/restart", digest)
        try Self.expectBlob(r, "push/restart", digest, bytes)
    }

    @Test func contentSurvivesServerRestart() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        let image = try r.pushImage("push/durable", tag: "v1", seed: "durable")
        try r.restart()
        #expect(try r.request("GET", "/v2/push/durable/manifests/v1").body == image.bytes)
        #expect(try r.request("GET", "/v2/push/durable/blobs/\(image.layers[0].digest)").status == 200)
        #expect(try decodeJSON(TagList.self, try r.request("GET", "/v2/push/durable/tags/list")).tags == ["v1"])
    }

    // MARK: Digest checks

    @Test func digestMismatchAtPutIsDigestInvalidAndStoresNothing() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        let bytes = testBytes(1000, seed: "real")
        let claimed = Digest.sha256(of: testBytes(1000, seed: "claimed"))
        let location = try r.startUpload("push/mismatch")
        let response = try r.request("PUT", appendingQuery(location, "digest=\(claimed)"), headers: [Self.octet], body: bytes)
        expectOCIError(response, 400, .digestInvalid)
        try Self.expectNoBlob(r, "push/mismatch", claimed)
        try Self.expectNoBlob(r, "push/mismatch", Digest.sha256(of: bytes))
    }

    @Test func digestMismatchAfterChunksIsDigestInvalid() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        let bytes = testBytes(20, seed: "chunk-real")
        let claimed = Digest.sha256(of: testBytes(20, seed: "chunk-claimed"))
        var location = try r.startUpload("push/mismatch")
        let patch = try r.request("PATCH", location, headers: [Self.octet, ("Content-Range", "0-19")], body: bytes)
        #expect(patch.status == 202)
        location = requestTarget(patch.header("Location") ?? location)
        expectOCIError(try r.request("PUT", appendingQuery(location, "digest=\(claimed)")), 400, .digestInvalid)
        try Self.expectNoBlob(r, "push/mismatch", claimed)
        try Self.expectNoBlob(r, "push/mismatch", Digest.sha256(of: bytes))
    }

    @Test func digestMismatchAtSinglePostIsDigestInvalid() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        let bytes = testBytes(500, seed: "post-real")
        let claimed = Digest.sha256(of: testBytes(500, seed: "post-claimed"))
        let response = try r.request("POST", "/v2/push/mismatch/blobs/uploads/?digest=\(claimed)", headers: [Self.octet], body: bytes)
        expectOCIError(response, 400, .digestInvalid)
        try Self.expectNoBlob(r, "push/mismatch", claimed)
        try Self.expectNoBlob(r, "push/mismatch", Digest.sha256(of: bytes))
    }

    @Test(arguments: [
        "sha256:1234",
        "sha256:" + String(repeating: "Z", count: 64),
        "md5:" + String(repeating: "0", count: 32),
        "not-a-digest",
        "",
    ])
    func invalidDigestParameterAtPutIsDigestInvalid(digest: String) throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        let bytes = testBytes(10, seed: "p")
        let location = try r.startUpload("push/param")
        let response = try r.request("PUT", appendingQuery(location, "digest=\(digest)"), headers: [Self.octet], body: bytes)
        expectOCIError(response, 400, .digestInvalid, "digest=\(digest)")
        try Self.expectNoBlob(r, "push/param", Digest.sha256(of: bytes))
    }

    @Test func putWithoutDigestIsDigestInvalid() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        let bytes = testBytes(10, seed: "nodigest")
        let location = try r.startUpload("push/param")
        expectOCIError(try r.request("PUT", location, headers: [Self.octet], body: bytes), 400, .digestInvalid)
        try Self.expectNoBlob(r, "push/param", Digest.sha256(of: bytes))
    }

    @Test func invalidDigestAtSinglePostIsDigestInvalid() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        let response = try r.request("POST", "/v2/push/param/blobs/uploads/?digest=sha256:nothex", headers: [Self.octet],
                                     body: [1, 2, 3])
        expectOCIError(response, 400, .digestInvalid)
    }

    // MARK: Mount

    @Test func mountFromRepositoryThatHasTheBlob() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        let bytes = testBytes(2048, seed: "mount")
        let digest = try r.pushBlob("mount/source", bytes)
        let response = try r.request("POST", "/v2/mount/target/blobs/uploads/?mount=\(digest)&from=mount/source")
        Self.expectCreated(response, "mount/target", digest)
        try Self.expectBlob(r, "mount/target", digest, bytes)
        try Self.expectBlob(r, "mount/source", digest, bytes)
    }

    @Test func automaticMountWithoutFrom() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        let bytes = testBytes(2048, seed: "auto-mount")
        let digest = try r.pushBlob("mount/elsewhere", bytes)
        let response = try r.request("POST", "/v2/mount/auto/blobs/uploads/?mount=\(digest)")
        if r.isTokenMode {
            // The token names mount/auto only: the caller may not pull mount/elsewhere, so the blob's existence is
            // not revealed and a normal upload session opens (the spec's fallback; zot GHSA-55r9-5mx9-qq7r).
            #expect(response.status == 202)
            return
        }
        Self.expectCreated(response, "mount/auto", digest)
        try Self.expectBlob(r, "mount/auto", digest, bytes)
    }

    @Test func mountOfMissingBlobOpensUploadSession() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        try r.pushBlob("mount/source", testBytes(10, seed: "present"))
        let bytes = testBytes(64, seed: "absent")
        let digest = Digest.sha256(of: bytes)
        let response = try r.request("POST", "/v2/mount/target/blobs/uploads/?mount=\(digest)&from=mount/source")
        #expect(response.status == 202)
        #expect(response.header("Docker-Upload-UUID") != nil)
        let location = requestTarget(try #require(response.header("Location")))
        #expect(pathOf(location).hasPrefix("/v2/mount/target/blobs/uploads/"))
        let put = try r.request("PUT", appendingQuery(location, "digest=\(digest)"), headers: [Self.octet], body: bytes)
        Self.expectCreated(put, "mount/target", digest)
        try Self.expectBlob(r, "mount/target", digest, bytes)
    }

    @Test func mountFromUnknownRepositoryOpensUploadSession() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        let digest = Digest.sha256(of: testBytes(64, seed: "nowhere"))
        let response = try r.request("POST", "/v2/mount/target/blobs/uploads/?mount=\(digest)&from=no/such/repo")
        #expect(response.status == 202)
        #expect(response.header("Location") != nil)
    }

    // MARK: Manifests

    @Test func pushOCIManifestByTag() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        let config = try r.pushDescriptor("m/oci", Array(#"{"os":"linux"}"#.utf8), mediaType: MediaType.ociConfig.rawValue)
        let layer = try r.pushDescriptor("m/oci", testBytes(500, seed: "l"), mediaType: MediaType.ociLayerGzip.rawValue)
        let bytes = ManifestJSON.image(config: config, layers: [layer])
        let digest = Digest.sha256(of: bytes)
        let response = try r.putManifest("m/oci", "v1", bytes, mediaType: MediaType.ociManifest.rawValue)
        #expect(response.status == 201)
        let location = try #require(response.header("Location"))
        #expect(response.header("Docker-Content-Digest") == digest.description)
        // The Location is a pullable manifest URL.
        let pulled = try r.request("GET", requestTarget(location))
        #expect(pulled.status == 200)
        #expect(pulled.body == bytes)
    }

    @Test func pushOCIManifestByDigestCreatesNoTag() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        _ = try r.pushImage("m/bydigest", tag: "keep", seed: "tagged")
        let config = try r.pushDescriptor("m/bydigest", Array("{}".utf8), mediaType: MediaType.ociConfig.rawValue)
        let bytes = ManifestJSON.image(config: config, layers: [])
        let digest = Digest.sha256(of: bytes)
        let response = try r.putManifest("m/bydigest", digest.description, bytes, mediaType: MediaType.ociManifest.rawValue)
        #expect(response.status == 201)
        #expect(response.header("Docker-Content-Digest") == digest.description)
        #expect(try r.request("GET", "/v2/m/bydigest/manifests/\(digest)").body == bytes)
        let tags = try decodeJSON(TagList.self, try r.request("GET", "/v2/m/bydigest/tags/list"))
        #expect(tags.tags == ["keep"])
    }

    @Test func pushOCIIndex() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        let amd = try r.pushImage("m/index", tag: nil, seed: "amd64")
        let arm = try r.pushImage("m/index", tag: nil, seed: "arm64")
        let bytes = ManifestJSON.index(manifests: [amd.desc, arm.desc])
        let digest = Digest.sha256(of: bytes)
        let response = try r.putManifest("m/index", "multi", bytes, mediaType: MediaType.ociIndex.rawValue)
        #expect(response.status == 201, "\(response.text)")
        #expect(response.header("Location") != nil)
        #expect(response.header("Docker-Content-Digest") == digest.description)
        let pulled = try r.request("GET", "/v2/m/index/manifests/multi")
        #expect(pulled.body == bytes)
        #expect(pulled.header("Content-Type") == MediaType.ociIndex.rawValue)
    }

    @Test func pushDockerManifestAndManifestList() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        let config = try r.pushDescriptor("m/docker", Array(#"{"architecture":"amd64","os":"linux"}"#.utf8),
                                          mediaType: MediaType.dockerConfig.rawValue)
        let layer = try r.pushDescriptor("m/docker", testBytes(900, seed: "docker-layer"),
                                         mediaType: MediaType.dockerLayerGzip.rawValue)
        let manifest = ManifestJSON.image(mediaType: MediaType.dockerManifest.rawValue, config: config, layers: [layer])
        let manifestDigest = Digest.sha256(of: manifest)
        let put = try r.putManifest("m/docker", "v2s2", manifest, mediaType: MediaType.dockerManifest.rawValue)
        #expect(put.status == 201, "\(put.text)")
        #expect(put.header("Docker-Content-Digest") == manifestDigest.description)
        let pulled = try r.request("GET", "/v2/m/docker/manifests/v2s2")
        #expect(pulled.body == manifest)
        #expect(pulled.header("Content-Type") == MediaType.dockerManifest.rawValue)

        let list = ManifestJSON.index(mediaType: MediaType.dockerManifestList.rawValue,
                                      manifests: [Desc(mediaType: MediaType.dockerManifest.rawValue,
                                                       digest: manifestDigest, size: manifest.count)])
        let listPut = try r.putManifest("m/docker", "list", list, mediaType: MediaType.dockerManifestList.rawValue)
        #expect(listPut.status == 201, "\(listPut.text)")
        #expect(listPut.header("Docker-Content-Digest") == Digest.sha256(of: list).description)
        let listPulled = try r.request("GET", "/v2/m/docker/manifests/list")
        #expect(listPulled.body == list)
        #expect(listPulled.header("Content-Type") == MediaType.dockerManifestList.rawValue)
    }

    @Test func contentTypeParametersAreIgnored() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        let config = try r.pushDescriptor("m/params", Array("{}".utf8), mediaType: MediaType.ociConfig.rawValue)
        let bytes = ManifestJSON.image(config: config, layers: [])
        let response = try r.putManifest("m/params", "v1", bytes,
                                         mediaType: MediaType.ociManifest.rawValue + "; charset=utf-8")
        #expect(response.status == 201, "\(response.text)")
        let pulled = try r.request("GET", "/v2/m/params/manifests/v1")
        #expect(pulled.header("Content-Type") == MediaType.ociManifest.rawValue)
    }

    @Test func retaggingMovesTheTag() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        let first = try r.pushImage("m/retag", tag: "latest", seed: "one")
        let second = try r.pushImage("m/retag", tag: "latest", seed: "two")
        let pulled = try r.request("GET", "/v2/m/retag/manifests/latest")
        #expect(pulled.body == second.bytes)
        #expect(pulled.header("Docker-Content-Digest") == second.digest.description)
        #expect(try r.request("GET", "/v2/m/retag/manifests/\(first.digest)").body == first.bytes)
    }

    @Test(arguments: [
        "{not json",
        "",
        "[]",
        #"{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json"}"#,  // no config
        #"{"schemaVersion": 1, "mediaType": "application/vnd.oci.image.manifest.v1+json", "config": {"mediaType": "a/b", "digest": "sha256:0000000000000000000000000000000000000000000000000000000000000000", "size": 1}, "layers": []}"#,
    ])
    func invalidManifestIsManifestInvalid(body: String) throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        let response = try r.putManifest("m/invalid", "v1", Array(body.utf8), mediaType: MediaType.ociManifest.rawValue)
        expectOCIError(response, 400, .manifestInvalid, body)
        expectOCIErrorIn(try r.request("GET", "/v2/m/invalid/manifests/v1"), statuses: [404],
                         codes: [.manifestUnknown, .nameUnknown], "nothing stored")
    }

    @Test func malformedDigestInsideManifestIsRejected() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        let body = #"{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "config": {"mediaType": "a/b", "digest": "sha256:nothex", "size": 1}, "layers": []}"#
        let response = try r.putManifest("m/invalid", "v1", Array(body.utf8), mediaType: MediaType.ociManifest.rawValue)
        // The API spec allows either: DIGEST_INVALID "may also be returned when a manifest includes an invalid layer digest".
        expectOCIErrorIn(response, statuses: [400], codes: [.manifestInvalid, .digestInvalid])
    }

    @Test func mediaTypeFieldMustMatchContentType() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        let config = try r.pushDescriptor("m/mismatch", Array("{}".utf8), mediaType: MediaType.ociConfig.rawValue)
        let bytes = ManifestJSON.image(config: config, layers: [])  // says OCI image manifest
        let response = try r.putManifest("m/mismatch", "v1", bytes, mediaType: MediaType.ociIndex.rawValue)
        expectOCIError(response, 400, .manifestInvalid)
    }

    @Test func manifestWithMissingLayerIsManifestBlobUnknown() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        let config = try r.pushDescriptor("m/missing", Array("{}".utf8), mediaType: MediaType.ociConfig.rawValue)
        let layer = Desc(mediaType: MediaType.ociLayerGzip.rawValue, digest: Digest.sha256(of: Array("absent".utf8)), size: 6)
        let bytes = ManifestJSON.image(config: config, layers: [layer])
        expectOCIError(try r.putManifest("m/missing", "v1", bytes, mediaType: MediaType.ociManifest.rawValue),
                       400, .manifestBlobUnknown)
        expectOCIErrorIn(try r.request("GET", "/v2/m/missing/manifests/v1"), statuses: [404],
                         codes: [.manifestUnknown, .nameUnknown], "nothing stored")
    }

    @Test func manifestWithMissingConfigIsManifestBlobUnknown() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        let layer = try r.pushDescriptor("m/missing", testBytes(10, seed: "l"), mediaType: MediaType.ociLayerGzip.rawValue)
        let config = Desc(mediaType: MediaType.ociConfig.rawValue, digest: Digest.sha256(of: Array("no config".utf8)), size: 9)
        let bytes = ManifestJSON.image(config: config, layers: [layer])
        expectOCIError(try r.putManifest("m/missing", "v1", bytes, mediaType: MediaType.ociManifest.rawValue),
                       400, .manifestBlobUnknown)
    }

    @Test func indexWithMissingChildIsManifestBlobUnknown() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        let present = try r.pushImage("m/index-missing", tag: nil, seed: "present")
        let absent = Desc(mediaType: MediaType.ociManifest.rawValue, digest: Digest.sha256(of: Array("absent".utf8)), size: 6)
        let bytes = ManifestJSON.index(manifests: [present.desc, absent])
        expectOCIError(try r.putManifest("m/index-missing", "multi", bytes, mediaType: MediaType.ociIndex.rawValue),
                       400, .manifestBlobUnknown)
        let list = ManifestJSON.index(mediaType: MediaType.dockerManifestList.rawValue, manifests: [absent])
        expectOCIError(try r.putManifest("m/index-missing", "list", list, mediaType: MediaType.dockerManifestList.rawValue),
                       400, .manifestBlobUnknown, "docker list")
    }

    /// A descriptor whose size differs from the stored blob's is refused at PUT, naming the descriptor, for the
    /// config, a layer and an index child alike; nothing is stored.
    @Test func descriptorSizeThatLiesIsManifestInvalid() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        let config = try r.pushDescriptor("m/size", Array("{}".utf8), mediaType: MediaType.ociConfig.rawValue)
        let layer = try r.pushDescriptor("m/size", testBytes(11, seed: "l"), mediaType: MediaType.ociLayerGzip.rawValue)
        var lyingLayer = layer
        lyingLayer.size = 999
        var lyingConfig = config
        lyingConfig.size = 1
        for (name, bytes, field) in [("layer", ManifestJSON.image(config: config, layers: [layer, lyingLayer]), "layers[1]"),
                                     ("config", ManifestJSON.image(config: lyingConfig, layers: [layer]), "config")] {
            let response = try r.putManifest("m/size", name, bytes, mediaType: MediaType.ociManifest.rawValue)
            expectOCIError(response, 400, .manifestInvalid, name)
            #expect(response.text.contains(field), "the error names \(field): \(response.text)")
            #expect(try r.request("HEAD", "/v2/m/size/manifests/\(name)").status == 404)
        }

        let child = try r.pushImage("m/size", tag: nil, seed: "child")
        var lyingChild = child.desc
        lyingChild.size += 1
        let index = ManifestJSON.index(manifests: [child.desc, lyingChild])
        let response = try r.putManifest("m/size", "multi", index, mediaType: MediaType.ociIndex.rawValue)
        expectOCIError(response, 400, .manifestInvalid, "index")
        #expect(response.text.contains("manifests[1]"), "the error names the child: \(response.text)")
        #expect(try r.putManifest("m/size", "multi", ManifestJSON.index(manifests: [child.desc]),
                                  mediaType: MediaType.ociIndex.rawValue).status == 201, "true sizes are accepted")
    }

    @Test func manifestOver4MiBIs413() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        let config = try r.pushDescriptor("m/big", Array("{}".utf8), mediaType: MediaType.ociConfig.rawValue)
        let base = ManifestJSON.image(config: config, layers: [], padding: 1).count - 1
        let bytes = ManifestJSON.image(config: config, layers: [], padding: 4 * 1024 * 1024 + 1 - base)
        #expect(bytes.count == 4 * 1024 * 1024 + 1)
        let response = try r.putManifest("m/big", "v1", bytes, mediaType: MediaType.ociManifest.rawValue)
        expectOCIErrorIn(response, statuses: [413], codes: [.manifestInvalid, .sizeInvalid])
        #expect(try r.request("HEAD", "/v2/m/big/manifests/v1").status == 404)
    }

    @Test func manifestLimitIsConfigurable() throws {
        let r = try RegistryFixture { $0.maxManifestBytes = 1000 }
        defer { r.stop() }
        let config = try r.pushDescriptor("m/limit", Array("{}".utf8), mediaType: MediaType.ociConfig.rawValue)
        let base = ManifestJSON.image(config: config, layers: [], padding: 1).count - 1
        let fits = ManifestJSON.image(config: config, layers: [], padding: 1000 - base)
        let over = ManifestJSON.image(config: config, layers: [], padding: 1001 - base)
        #expect(fits.count == 1000 && over.count == 1001)
        #expect(try r.putManifest("m/limit", "fits", fits, mediaType: MediaType.ociManifest.rawValue).status == 201)
        expectOCIErrorIn(try r.putManifest("m/limit", "over", over, mediaType: MediaType.ociManifest.rawValue),
                         statuses: [413], codes: [.manifestInvalid, .sizeInvalid])
    }

    @Test func manifestOfExactly4MiBIsAccepted() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        let config = try r.pushDescriptor("m/big", Array("{}".utf8), mediaType: MediaType.ociConfig.rawValue)
        let base = ManifestJSON.image(config: config, layers: [], padding: 1).count - 1
        let bytes = ManifestJSON.image(config: config, layers: [], padding: 4 * 1024 * 1024 - base)
        #expect(bytes.count == 4 * 1024 * 1024)
        let response = try r.putManifest("m/big", "v1", bytes, mediaType: MediaType.ociManifest.rawValue)
        #expect(response.status == 201, "\(response.status) \(response.text.prefix(200))")
        #expect(try r.request("GET", "/v2/m/big/manifests/v1").body == bytes)
    }

    @Test func putByWrongDigestIsDigestInvalid() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        let config = try r.pushDescriptor("m/wrong", Array("{}".utf8), mediaType: MediaType.ociConfig.rawValue)
        let bytes = ManifestJSON.image(config: config, layers: [])
        let wrong = Digest.sha256(of: Array("something else".utf8))
        expectOCIError(try r.putManifest("m/wrong", wrong.description, bytes, mediaType: MediaType.ociManifest.rawValue),
                       400, .digestInvalid)
        #expect(try r.request("HEAD", "/v2/m/wrong/manifests/\(wrong)").status == 404)
        #expect(try r.request("HEAD", "/v2/m/wrong/manifests/\(Digest.sha256(of: bytes))").status == 404)
    }

    @Test func manifestWithMissingSubjectIsAcceptedWithOCISubject() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        let empty = try r.pushDescriptor("m/subject", Array("{}".utf8), mediaType: MediaType.ociEmptyJSON.rawValue)
        let subject = Desc(mediaType: MediaType.ociManifest.rawValue, digest: Digest.sha256(of: Array("not pushed yet".utf8)),
                           size: 14)
        let bytes = ManifestJSON.image(config: empty, layers: [empty], artifactType: "application/vnd.example.sbom.v1",
                                       subject: subject)
        let response = try r.putManifest("m/subject", Digest.sha256(of: bytes).description, bytes,
                                         mediaType: MediaType.ociManifest.rawValue)
        #expect(response.status == 201, "\(response.text)")
        #expect(response.header("OCI-Subject") == subject.digest.description)
        #expect(try r.request("GET", "/v2/m/subject/manifests/\(Digest.sha256(of: bytes))").body == bytes)
    }

    @Test func indexWithSubjectGetsOCISubject() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        let subject = try r.pushImage("m/subject", tag: "v1", seed: "subject")
        let bytes = ManifestJSON.index(manifests: [], artifactType: "application/vnd.example.bundle", subject: subject.desc)
        let response = try r.putManifest("m/subject", Digest.sha256(of: bytes).description, bytes,
                                         mediaType: MediaType.ociIndex.rawValue)
        #expect(response.status == 201, "\(response.text)")
        #expect(response.header("OCI-Subject") == subject.digest.description)
    }

    // MARK: Descriptors with urls, foreign layers, subjects

    /// An OCI image manifest written by hand, so that descriptors can carry `urls` (`extra` is spliced in verbatim).
    static func rawImage(config: String, layers: [String], subject: String? = nil,
                         mediaType: String = MediaType.ociManifest.rawValue) -> [UInt8] {
        var text = #"{"schemaVersion": 2, "mediaType": "\#(mediaType)", "config": \#(config), "layers": ["#
        text += layers.joined(separator: ", ") + "]"
        if let subject { text += #", "subject": \#(subject)"# }
        return Array((text + "}").utf8)
    }

    static func withURLs(_ d: Desc, _ urls: String = #"["http://x/"]"#) -> String {
        ManifestJSON.descriptor(d, extra: #", "urls": \#(urls)"#)
    }

    @Test func urlsExemptNoOrdinaryDescriptor() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        let repo = "m/urls"
        let config = try r.pushDescriptor(repo, Array(#"{"os":"linux"}"#.utf8), mediaType: MediaType.ociConfig.rawValue)
        let layer = try r.pushDescriptor(repo, testBytes(40, seed: "urls"), mediaType: MediaType.ociLayerGzip.rawValue)
        let absent = Desc(mediaType: MediaType.ociLayerGzip.rawValue, digest: Digest.sha256(of: Array("absent".utf8)), size: 6)
        var bigConfig = config
        bigConfig.size += 1000
        var bigLayer = layer
        bigLayer.size += 1
        var absentConfig = absent
        absentConfig.mediaType = MediaType.ociConfig.rawValue

        let lies: [(String, [UInt8], String)] = [
            ("config-size", Self.rawImage(config: Self.withURLs(bigConfig), layers: [ManifestJSON.descriptor(layer)]), "config"),
            ("layer-size", Self.rawImage(config: ManifestJSON.descriptor(config), layers: [Self.withURLs(bigLayer)]), "layers[0]"),
        ]
        for (tag, bytes, field) in lies {
            let response = try r.putManifest(repo, tag, bytes, mediaType: MediaType.ociManifest.rawValue)
            expectOCIError(response, 400, .manifestInvalid, tag)
            #expect(response.text.contains(field), "the error names \(field): \(response.text)")
            #expect(try r.request("HEAD", "/v2/\(repo)/manifests/\(tag)").status == 404)
        }
        let missing: [(String, [UInt8])] = [
            ("config-absent", Self.rawImage(config: Self.withURLs(absentConfig), layers: [ManifestJSON.descriptor(layer)])),
            ("layer-absent", Self.rawImage(config: ManifestJSON.descriptor(config), layers: [Self.withURLs(absent)])),
        ]
        for (tag, bytes) in missing {
            expectOCIError(try r.putManifest(repo, tag, bytes, mediaType: MediaType.ociManifest.rawValue), 400,
                           .manifestBlobUnknown, tag)
            #expect(try r.request("HEAD", "/v2/\(repo)/manifests/\(tag)").status == 404)
        }
        // With the blobs here and true sizes, urls are just extra locations.
        let honest = Self.rawImage(config: Self.withURLs(config), layers: [Self.withURLs(layer)])
        #expect(try r.putManifest(repo, "honest", honest, mediaType: MediaType.ociManifest.rawValue).status == 201)
    }

    @Test(arguments: [MediaType.ociLayerNondistributable, .ociLayerNondistributableGzip, .ociLayerNondistributableZstd,
                      .dockerForeignLayerGzip, .dockerForeignLayer])
    func foreignLayerWithURLsNeedNotBeStored(_ type: MediaType) throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        let repo = "m/foreign"
        let docker = type.rawValue.hasPrefix("application/vnd.docker")
        let manifestType = docker ? MediaType.dockerManifest.rawValue : MediaType.ociManifest.rawValue
        let config = try r.pushDescriptor(repo, Array(#"{"os":"windows"}"#.utf8),
                                          mediaType: docker ? MediaType.dockerConfig.rawValue : MediaType.ociConfig.rawValue)
        let foreign = Desc(mediaType: type.rawValue, digest: Digest.sha256(of: Array("base layer".utf8)), size: 123_456)
        let accepted = Self.rawImage(config: ManifestJSON.descriptor(config),
                                     layers: [Self.withURLs(foreign, #"["https://mcr.example/base.tar.gz", "HTTP://mirror.example/b"]"#)],
                                     mediaType: manifestType)
        let response = try r.putManifest(repo, "v1", accepted, mediaType: manifestType)
        #expect(response.status == 201, "\(type): \(response.text)")

        // Without URLs, there is nowhere else to fetch it from.
        let noURLs = Self.rawImage(config: ManifestJSON.descriptor(config), layers: [ManifestJSON.descriptor(foreign)],
                                   mediaType: manifestType)
        expectOCIError(try r.putManifest(repo, "v2", noURLs, mediaType: manifestType), 400, .manifestBlobUnknown, "\(type)")
        // URLs no client should follow do not exempt it either.
        for (i, url) in [#"["file:///etc/passwd"]"#, #"["https://"]"#, #"["http://x/#frag"]"#, #"["ftp://x/"]"#,
                         #"["https://x/\n"]"#].enumerated() {
            let bytes = Self.rawImage(config: ManifestJSON.descriptor(config), layers: [Self.withURLs(foreign, url)],
                                      mediaType: manifestType)
            let refused = try r.putManifest(repo, "bad\(i)", bytes, mediaType: manifestType)
            expectOCIError(refused, 400, .manifestInvalid, url)
            #expect(refused.text.contains("layers[0].urls[0]"), "\(url): \(refused.text)")
        }
    }

    @Test func foreignLayerThatIsStoredMustHaveItsSize() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        let repo = "m/foreign"
        let config = try r.pushDescriptor(repo, Array("{}".utf8), mediaType: MediaType.ociConfig.rawValue)
        let layer = try r.pushDescriptor(repo, testBytes(77, seed: "pushed anyway"),
                                         mediaType: MediaType.ociLayerNondistributableGzip.rawValue)
        let right = Self.rawImage(config: ManifestJSON.descriptor(config), layers: [Self.withURLs(layer)])
        #expect(try r.putManifest(repo, "right", right, mediaType: MediaType.ociManifest.rawValue).status == 201)
        var lying = layer
        lying.size = 76
        let wrong = Self.rawImage(config: ManifestJSON.descriptor(config), layers: [Self.withURLs(lying)])
        let response = try r.putManifest(repo, "wrong", wrong, mediaType: MediaType.ociManifest.rawValue)
        expectOCIError(response, 400, .manifestInvalid)
        #expect(response.text.contains("layers[0]"), "\(response.text)")
        #expect(try r.request("HEAD", "/v2/\(repo)/manifests/wrong").status == 404)
    }

    @Test func subjectSizeThatLiesIsManifestInvalid() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        let repo = "m/subject"
        let subject = try r.pushImage(repo, tag: "v1", seed: "subject")
        let empty = try r.pushDescriptor(repo, Array("{}".utf8), mediaType: MediaType.ociEmptyJSON.rawValue)
        var lying = subject.desc
        lying.size += 7
        let manifest = ManifestJSON.image(config: empty, layers: [empty], artifactType: "application/vnd.example.sig",
                                          subject: lying)
        let index = ManifestJSON.index(manifests: [], artifactType: "application/vnd.example.bundle", subject: lying)
        for (bytes, type) in [(manifest, MediaType.ociManifest.rawValue), (index, MediaType.ociIndex.rawValue)] {
            let response = try r.putManifest(repo, Digest.sha256(of: bytes).description, bytes, mediaType: type)
            expectOCIError(response, 400, .manifestInvalid, type)
            #expect(response.text.contains("subject"), "the error names the subject: \(response.text)")
            #expect(try r.request("HEAD", "/v2/\(repo)/manifests/\(Digest.sha256(of: bytes))").status == 404)
        }
        let referrers = try r.request("GET", "/v2/\(repo)/referrers/\(subject.digest)")
        #expect(try decodeJSON(ReferrersIndex.self, referrers).manifests ?? [] == [], "no referrer was recorded")

        let honest = ManifestJSON.image(config: empty, layers: [empty], artifactType: "application/vnd.example.sig",
                                        subject: subject.desc)
        #expect(try r.putManifest(repo, Digest.sha256(of: honest).description, honest,
                                  mediaType: MediaType.ociManifest.rawValue).status == 201)
    }
}
