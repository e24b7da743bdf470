import Glibc
import OCIModel
import Testing
import TestSupport

/// Hostile input: every request gets its proper OCI error (never a 5xx), and nothing is written outside the store.
@Suite(.offCooperativePool, .serialized) struct APIHostileTests {
    static let octet = ("Content-Type", "application/octet-stream")
    /// A name no test writes on purpose; finding it anywhere means a path escaped the store.
    static let marker = "swr-escape-\(getpid())"

    static func expectNothingEscaped(_ r: RegistryFixture, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(r.sandboxEntries() == ["store"], "sandbox: \(r.sandboxEntries())", sourceLocation: sourceLocation)
        #expect(!pathExists("/tmp/\(marker)"), sourceLocation: sourceLocation)
        #expect(!pathExists("/\(marker)"), sourceLocation: sourceLocation)
        #expect(!pathExists("/tmp/etc"), sourceLocation: sourceLocation)
    }

    // MARK: Names

    static var traversalNames: [String] {
        [
            "../\(marker)",
            "../../../../../../tmp/\(marker)",
            "ok/../../\(marker)",
            "%2e%2e/\(marker)",
            "%2E%2E%2F%2E%2E%2F\(marker)",
            "..%2f..%2f\(marker)",
            "ok//\(marker)",
            "/tmp/\(marker)",
            "./\(marker)",
            ".",
            "..",
            "ok/.",
            String(repeating: "a", count: 256),
            String(repeating: "../", count: 100) + marker,
        ]
    }

    @Test(arguments: traversalNames)
    func traversalNamesAreNameInvalidEverywhere(name: String) throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        let bytes = testBytes(32, seed: "t")
        let digest = Digest.sha256(of: bytes)
        let manifest = Array(#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}"#.utf8)
        let requests: [(String, String, [(String, String)], [UInt8])] = [
            ("GET", "/v2/\(name)/manifests/latest", [], []),
            ("PUT", "/v2/\(name)/manifests/latest", [("Content-Type", MediaType.ociManifest.rawValue)], manifest),
            ("DELETE", "/v2/\(name)/manifests/latest", [], []),
            ("GET", "/v2/\(name)/blobs/\(digest)", [], []),
            ("DELETE", "/v2/\(name)/blobs/\(digest)", [], []),
            ("POST", "/v2/\(name)/blobs/uploads/", [], []),
            ("POST", "/v2/\(name)/blobs/uploads/?digest=\(digest)", [Self.octet], bytes),
            ("POST", "/v2/\(name)/blobs/uploads/?mount=\(digest)&from=ok", [], []),
            ("GET", "/v2/\(name)/tags/list", [], []),
            ("GET", "/v2/\(name)/referrers/\(digest)", [], []),
        ]
        for (method, target, headers, body) in requests {
            let response = try r.request(method, target, headers: headers, body: body)
            expectOCIError(response, 400, .nameInvalid, "\(method) \(target.prefix(120))")
        }
        #expect(try r.request("HEAD", "/v2/\(name)/blobs/\(digest)").status == 400)
        #expect(try r.request("HEAD", "/v2/\(name)/manifests/latest").status == 400)
        Self.expectNothingEscaped(r)
    }

    @Test func mountFromTraversalNameNeverMounts() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        let digest = try r.pushBlob("ok", testBytes(16, seed: "m"))
        for from in ["../ok", "..%2fok", "%2e%2e/ok", "/ok", "OK", String(repeating: "a", count: 300)] {
            let response = try r.request("POST", "/v2/target/blobs/uploads/?mount=\(digest)&from=\(from)")
            // Either refuse the name, or fall back to a normal upload session; never a mount, never a 5xx.
            if response.status == 202 {
                #expect(response.header("Location") != nil)
            } else {
                expectOCIError(response, 400, .nameInvalid, "from=\(from)")
            }
        }
        Self.expectNothingEscaped(r)
    }

    // MARK: Digests

    static var hostileDigests: [String] {
        [
            "sha256:..%2f..%2f..%2f\(marker)",
            "sha256:" + String(repeating: "a", count: 63),
            "sha256:" + String(repeating: "a", count: 65),
            "sha256:" + String(repeating: "a", count: 5_000),
            "sha256:%00" + String(repeating: "a", count: 61),
            "..",
            "md5:d41d8cd98f00b204e9800998ecf8427e",
            "sha1:da39a3ee5e6b4b0d3255bfef95601890afd80709",
            "foo+bar:" + String(repeating: "a", count: 64),
        ]
    }

    @Test(arguments: hostileDigests)
    func hostileDigestsAreDigestInvalid(digest: String) throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        try r.pushBlob("ok", testBytes(16, seed: "d"))
        expectOCIError(try r.request("GET", "/v2/ok/blobs/\(digest)"), 400, .digestInvalid, "GET blob")
        expectOCIError(try r.request("DELETE", "/v2/ok/blobs/\(digest)"), 400, .digestInvalid, "DELETE blob")
        expectOCIError(try r.request("POST", "/v2/ok/blobs/uploads/?digest=\(digest)", headers: [Self.octet],
                                     body: testBytes(8, seed: "b")), 400, .digestInvalid, "POST ?digest=")
        expectOCIError(try r.request("GET", "/v2/ok/referrers/\(digest)"), 400, .digestInvalid, "referrers")
        let location = try r.startUpload("ok")
        expectOCIError(try r.request("PUT", appendingQuery(location, "digest=\(digest)"), headers: [Self.octet],
                                     body: testBytes(8, seed: "b")), 400, .digestInvalid, "PUT ?digest=")
        Self.expectNothingEscaped(r)
    }

    @Test func rawSlashDigestsNeverEscape() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        try r.pushBlob("ok", testBytes(16, seed: "d"))
        for target in ["/v2/ok/blobs/sha256:../../../../\(Self.marker)", "/v2/ok/blobs/../../../\(Self.marker)",
                       "/v2/ok/manifests/sha256:../../\(Self.marker)"] {
            let response = try r.request("GET", target)
            expectRefused(response, statuses: [400, 404],
                             codes: [.digestInvalid, .nameInvalid, .blobUnknown, .manifestUnknown, .nameUnknown,
                                     .manifestInvalid, .tagInvalid], target)
        }
        Self.expectNothingEscaped(r)
    }

    // MARK: Tags

    static var hostileTags: [String] {
        [
            "..",
            ".hidden",
            "-dash",
            "..%2f..%2f\(marker)",
            "%2e%2e",
            String(repeating: "t", count: 129),
            "tag%00x",
            "tag with space".replacingOccurrences(of: " ", with: "%20"),
        ]
    }

    @Test(arguments: hostileTags)
    func hostileTagsAreRejected(tag: String) throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        let image = try r.pushImage("ok", tag: "v1", seed: "tags")
        let put = try r.putManifest("ok", tag, image.bytes, mediaType: MediaType.ociManifest.rawValue)
        expectOCIErrorIn(put, statuses: [400], codes: [.tagInvalid, .manifestInvalid, .nameInvalid, .digestInvalid],
                         "PUT tag")
        let get = try r.request("GET", "/v2/ok/manifests/\(tag)")
        expectOCIErrorIn(get, statuses: [400, 404], codes: [.tagInvalid, .manifestInvalid, .manifestUnknown, .digestInvalid],
                         "GET tag")
        let tags = try decodeJSON(TagList.self, try r.request("GET", "/v2/ok/tags/list"))
        #expect(tags.tags == ["v1"])
        Self.expectNothingEscaped(r)
    }

    @Test func tagOf128CharactersIsAccepted() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        let image = try r.pushImage("ok", tag: "v1", seed: "long-tag")
        let tag = "T" + String(repeating: "a_.-9", count: 25) + "xy"
        #expect(tag.count == 128)
        try r.pushManifest("ok", tag, image.bytes, mediaType: MediaType.ociManifest.rawValue)
        #expect(try r.request("GET", "/v2/ok/manifests/\(tag)").body == image.bytes)
    }

    // MARK: Pagination numbers

    @Test func tagsListNNegativeOrHuge() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        let image = try r.pushImage("ok", tag: "a", seed: "n")
        try r.pushManifest("ok", "b", image.bytes, mediaType: MediaType.ociManifest.rawValue)
        expectOCIError(try r.request("GET", "/v2/ok/tags/list?n=-1"), 400, .paginationNumberInvalid, "n=-1")
        // A huge n: either every tag (the list is small) or a pagination error; never a 5xx or a huge allocation.
        for n in ["99999999", "9223372036854775807", "99999999999999999999999999"] {
            let response = try r.request("GET", "/v2/ok/tags/list?n=\(n)")
            if response.status == 200 {
                #expect(try decodeJSON(TagList.self, response).tags == ["a", "b"], "n=\(n)")
            } else {
                expectOCIError(response, 400, .paginationNumberInvalid, "n=\(n)")
            }
        }
    }

    @Test func catalogNNegativeOrHugeWithDefaultMaximum() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        _ = try r.pushImage("ok", tag: "a", seed: "n")
        for n in ["-1", "99999999", "1001", "9223372036854775808"] {
            expectOCIError(try r.request("GET", "/v2/_catalog?n=\(n)"), 400, .paginationNumberInvalid, "n=\(n)")
        }
        let atMax = try r.request("GET", "/v2/_catalog?n=1000")
        #expect(atMax.status == 200)
        #expect(try decodeJSON(CatalogList.self, atMax).repositories == ["ok"])
    }

    // MARK: Upload ids

    @Test(arguments: [
        "../../etc",
        "../../../../../tmp/\(APIHostileTests.marker)",
        "x/../../y",
        "/etc/passwd",
    ])
    func rawSlashUploadIdsAreRejected(id: String) throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        _ = try r.startUpload("ok")
        let path = "/v2/ok/blobs/uploads/\(id)"
        let digest = Digest.sha256(of: [UInt8]())
        let codes: Set<OCIErrorCode> = [.blobUploadUnknown, .blobUploadInvalid, .nameInvalid, .nameUnknown]
        expectRefused(try r.request("GET", path), statuses: [400, 404], codes: codes, "GET")
        expectRefused(try r.request("PATCH", path, headers: [Self.octet], body: [1, 2, 3]), statuses: [400, 404],
                         codes: codes, "PATCH")
        expectRefused(try r.request("PUT", appendingQuery(path, "digest=\(digest)")), statuses: [400, 404],
                         codes: codes, "PUT")
        expectRefused(try r.request("DELETE", path), statuses: [400, 404], codes: codes, "DELETE")
        Self.expectNothingEscaped(r)
    }

    @Test func veryLongUploadIdIsUnknown() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        _ = try r.startUpload("ok")
        let id = String(repeating: "0123456789abcdef", count: 400)  // 6400 characters, inside the request-line limit
        expectOCIError(try r.request("GET", "/v2/ok/blobs/uploads/\(id)"), 404, .blobUploadUnknown)
        expectOCIError(try r.request("PATCH", "/v2/ok/blobs/uploads/\(id)", headers: [Self.octet], body: [1]), 404,
                       .blobUploadUnknown)
    }

    // MARK: Content-Range

    @Test(arguments: ["abc", "9-0", "0-", "-9", "0-9-10", "0x0-9", "0 - 9", "+0-9", "0-99999999999999999999999"])
    func malformedContentRangeIs416(range: String) throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        let bytes = testBytes(10, seed: "cr")
        var location = try r.startUpload("ok")
        let bad = try r.request("PATCH", location, headers: [Self.octet, ("Content-Range", range)], body: bytes)
        expectOCIErrorIn(bad, statuses: [416], codes: [.rangeInvalid, .blobUploadInvalid], "Content-Range: \(range)")
        // Nothing was appended: the first real chunk still starts at 0.
        let good = try r.request("PATCH", location, headers: [Self.octet, ("Content-Range", "0-9")], body: bytes)
        #expect(good.status == 202, "\(good.status) \(good.text)")
        #expect(good.header("Range") == "0-9")
        location = requestTarget(good.header("Location") ?? location)
        let digest = Digest.sha256(of: bytes)
        #expect(try r.request("PUT", appendingQuery(location, "digest=\(digest)")).status == 201)
    }

    @Test func contentRangeDisagreeingWithBodyLengthIsRejected() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        let location = try r.startUpload("ok")
        // Claims 10 bytes, sends 5.
        let short = try r.request("PATCH", location, headers: [Self.octet, ("Content-Range", "0-9")], body: testBytes(5, seed: "s"))
        expectOCIErrorIn(short, statuses: [400, 416], codes: [.sizeInvalid, .rangeInvalid, .blobUploadInvalid], "short")
        // Claims 5 bytes, sends 10.
        let long = try r.request("PATCH", location, headers: [Self.octet, ("Content-Range", "0-4")], body: testBytes(10, seed: "l"))
        expectOCIErrorIn(long, statuses: [400, 416], codes: [.sizeInvalid, .rangeInvalid, .blobUploadInvalid], "long")
    }

    @Test func closingPutWithWrongContentRangeStoresNothing() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        let bytes = testBytes(20, seed: "close")
        let digest = Digest.sha256(of: bytes)
        var location = try r.startUpload("ok")
        let first = try r.request("PATCH", location, headers: [Self.octet, ("Content-Range", "0-9")], body: Array(bytes[..<10]))
        #expect(first.status == 202)
        location = requestTarget(first.header("Location") ?? location)
        // The final chunk claims to start at 12: out of order.
        let put = try r.request("PUT", appendingQuery(location, "digest=\(digest)"),
                                headers: [Self.octet, ("Content-Range", "12-21")], body: Array(bytes[10...]))
        expectOCIErrorIn(put, statuses: [400, 416], codes: [.rangeInvalid, .blobUploadInvalid, .sizeInvalid])
        #expect(try r.request("HEAD", "/v2/ok/blobs/\(digest)").status == 404)
    }

    // MARK: Wrong digests and sizes on upload

    @Test func wrongDigestOnEveryUploadStyleStoresNothing() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        let bytes = testBytes(4096, seed: "wrong")
        let actual = Digest.sha256(of: bytes)
        let claimed = Digest.sha256(of: testBytes(4096, seed: "claimed"))
        // Single POST.
        expectOCIError(try r.request("POST", "/v2/ok/blobs/uploads/?digest=\(claimed)", headers: [Self.octet], body: bytes),
                       400, .digestInvalid, "POST")
        // POST then PUT.
        var location = try r.startUpload("ok")
        expectOCIError(try r.request("PUT", appendingQuery(location, "digest=\(claimed)"), headers: [Self.octet], body: bytes),
                       400, .digestInvalid, "PUT")
        // Streamed PATCH then PUT.
        location = try r.startUpload("ok")
        let patch = try r.request("PATCH", location, headers: [Self.octet], body: bytes)
        location = requestTarget(patch.header("Location") ?? location)
        expectOCIError(try r.request("PUT", appendingQuery(location, "digest=\(claimed)")), 400, .digestInvalid, "PATCH+PUT")
        // A digest of the right content but the other algorithm's length is still wrong.
        let sha512Claim = Digest.sha512(of: testBytes(4096, seed: "claimed"))
        expectOCIError(try r.request("POST", "/v2/ok/blobs/uploads/?digest=\(sha512Claim)", headers: [Self.octet], body: bytes),
                       400, .digestInvalid, "POST sha512")
        for digest in [actual, claimed] {
            #expect(try r.request("HEAD", "/v2/ok/blobs/\(digest)").status == 404)
        }
        Self.expectNothingEscaped(r)
    }

    // MARK: Manifests

    @Test func manifestBodyWithHugeDeclaredLengthIs413WithoutReadingIt() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        let client = try TestClient(port: r.port, timeoutSeconds: 5)
        // Only the head is sent; a registry that checks Content-Length answers at once.
        try client.send("PUT /v2/ok/manifests/v1 HTTP/1.1\r\nHost: t\r\nContent-Type: \(MediaType.ociManifest.rawValue)\r\n"
                        + "Content-Length: 104857600\r\n\r\n")
        let response = try client.readResponse()
        expectOCIErrorIn(response, statuses: [413], codes: [.manifestInvalid, .sizeInvalid])
    }

    @Test func manifestsReferencingMissingBlobsStoreNothing() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        let missing = Desc(mediaType: MediaType.ociLayerGzip.rawValue, digest: Digest.sha256(of: Array("gone".utf8)), size: 4)
        let config = Desc(mediaType: MediaType.ociConfig.rawValue, digest: Digest.sha256(of: Array("gone too".utf8)), size: 8)
        for (i, bytes) in [ManifestJSON.image(config: config, layers: []),
                           ManifestJSON.image(config: config, layers: [missing, missing])].enumerated() {
            expectOCIError(try r.putManifest("ok", "v\(i)", bytes, mediaType: MediaType.ociManifest.rawValue), 400,
                           .manifestBlobUnknown, "manifest \(i)")
        }
        for i in 0..<2 { #expect(try r.request("HEAD", "/v2/ok/manifests/v\(i)").status == 404) }
    }

    @Test func deeplyNestedJSONIsManifestInvalid() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        let depth = 100_000
        let bytes = Array((String(repeating: "[", count: depth) + String(repeating: "]", count: depth)).utf8)
        expectOCIError(try r.putManifest("ok", "v1", bytes, mediaType: MediaType.ociManifest.rawValue), 400, .manifestInvalid)
        let nested = Array(("{\"schemaVersion\":2,\"annotations\":" + String(repeating: "{\"a\":", count: depth) + "1"
                            + String(repeating: "}", count: depth) + "}").utf8)
        expectOCIError(try r.putManifest("ok", "v2", nested, mediaType: MediaType.ociManifest.rawValue), 400, .manifestInvalid)
        // Still serving.
        #expect(try r.request("GET", "/v2/").status == 200)
    }

    /// Foundation keeps the first of two equal keys, Go clients (skopeo, containerd, docker) the last: a manifest
    /// with a key twice would be checked as one image and pulled as another.
    @Test func manifestWithDuplicateKeysIsManifestInvalid() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        let config = try r.pushDescriptor("ok", Array("{}".utf8), mediaType: MediaType.ociConfig.rawValue)
        let layer = try r.pushDescriptor("ok", testBytes(50, seed: "dup"), mediaType: MediaType.ociLayerGzip.rawValue)
        let other = "sha256:" + String(repeating: "3", count: 64)
        let type = MediaType.ociManifest.rawValue
        func manifest(layer layerJSON: String, root extra: String = "") -> [UInt8] {
            Array(#"{"schemaVersion": 2, "mediaType": "\#(type)", "config": \#(ManifestJSON.descriptor(config)), "layers": [\#(layerJSON)]\#(extra)}"#.utf8)
        }
        let head = #""mediaType": "\#(layer.mediaType)", "digest": "\#(layer.digest)""#
        let cases: [(String, [UInt8], String)] = [
            ("size", manifest(layer: #"{\#(head), "size": \#(layer.size), "size": \#(layer.size + 1)}"#), "layers[0].size"),
            ("digest", manifest(layer: #"{\#(head), "size": \#(layer.size), "digest": "\#(other)"}"#), "layers[0].digest"),
            ("escaped", manifest(layer: #"{\#(head), "size": \#(layer.size), "\u0073ize": 1}"#), "layers[0].size"),
            ("case", manifest(layer: #"{\#(head), "size": \#(layer.size), "Digest": "\#(other)"}"#), "layers[0].Digest"),
            ("root", manifest(layer: ManifestJSON.descriptor(layer), root: #", "layers": []"#), "layers"),
            ("annotation", manifest(layer: ManifestJSON.descriptor(layer), root: #", "annotations": {"a": "1", "a": "2"}"#),
             "annotations.a"),
        ]
        for (tag, bytes, path) in cases {
            let response = try r.putManifest("ok", tag, bytes, mediaType: type)
            expectOCIError(response, 400, .manifestInvalid, tag)
            #expect(response.text.contains(path), "\(tag): the error names \(path): \(response.text)")
            #expect(try r.request("HEAD", "/v2/ok/manifests/\(tag)").status == 404)
        }
        let child = try r.pushImage("ok", tag: nil, seed: "child")
        let index = #"{"schemaVersion": 2, "manifests": [{"mediaType": "\#(type)", "digest": "\#(child.digest)", "size": \#(child.desc.size), "platform": {"os": "linux", "os": "windows", "architecture": "amd64"}}]}"#
        let response = try r.putManifest("ok", "index", Array(index.utf8), mediaType: MediaType.ociIndex.rawValue)
        expectOCIError(response, 400, .manifestInvalid, "index")
        #expect(response.text.contains("manifests[0].platform.os"), "\(response.text)")

        // Keys that only look alike are different keys to every reader.
        let alike = manifest(layer: ManifestJSON.descriptor(layer), root: #", "annotations": {"a": "1", "a ": "2", "b": "{\"a\":1,\"a\":2}"}"#)
        #expect(try r.putManifest("ok", "alike", alike, mediaType: type).status == 201)
        Self.expectNothingEscaped(r)
    }
}
