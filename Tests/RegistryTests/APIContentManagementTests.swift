import OCIModel
import Testing
import TestSupport

/// distribution-spec "Content Management": deleting manifests, tags and blobs.
@Suite(.offCooperativePool, .serialized) struct APIContentManagementTests {
    @Test func deleteManifestByDigest() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        let image = try r.pushImage("cm/manifest", tag: "v1", seed: "delete-me")
        try r.pushManifest("cm/manifest", "v1-alias", image.bytes, mediaType: MediaType.ociManifest.rawValue)
        let keep = try r.pushImage("cm/manifest", tag: "keep", seed: "keep-me")

        let delete = try r.request("DELETE", "/v2/cm/manifest/manifests/\(image.digest)")
        #expect(delete.status == 202)

        expectOCIError(try r.request("GET", "/v2/cm/manifest/manifests/\(image.digest)"), 404, .manifestUnknown, "by digest")
        #expect(try r.request("HEAD", "/v2/cm/manifest/manifests/\(image.digest)").status == 404)
        // "any tag pointing to that digest will return a 404"
        expectOCIError(try r.request("GET", "/v2/cm/manifest/manifests/v1"), 404, .manifestUnknown, "tag v1")
        expectOCIError(try r.request("GET", "/v2/cm/manifest/manifests/v1-alias"), 404, .manifestUnknown, "tag v1-alias")
        #expect(try r.request("HEAD", "/v2/cm/manifest/manifests/v1").status == 404)
        // Others untouched.
        #expect(try r.request("GET", "/v2/cm/manifest/manifests/keep").body == keep.bytes)
        let tags = try decodeJSON(TagList.self, try r.request("GET", "/v2/cm/manifest/tags/list"))
        #expect(tags.tags == ["keep"])
        // Deleting it again: it is gone.
        expectOCIError(try r.request("DELETE", "/v2/cm/manifest/manifests/\(image.digest)"), 404, .manifestUnknown, "again")
    }

    @Test func deleteTagRemovesOnlyTheTag() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        let image = try r.pushImage("cm/tag", tag: "v1", seed: "tagged")
        try r.pushManifest("cm/tag", "stable", image.bytes, mediaType: MediaType.ociManifest.rawValue)

        let delete = try r.request("DELETE", "/v2/cm/tag/manifests/v1")
        #expect(delete.status == 202)

        expectOCIError(try r.request("GET", "/v2/cm/tag/manifests/v1"), 404, .manifestUnknown, "deleted tag")
        #expect(try r.request("HEAD", "/v2/cm/tag/manifests/v1").status == 404)
        let byDigest = try r.request("GET", "/v2/cm/tag/manifests/\(image.digest)")
        #expect(byDigest.status == 200)
        #expect(byDigest.body == image.bytes)
        #expect(try r.request("GET", "/v2/cm/tag/manifests/stable").body == image.bytes)
        let tags = try decodeJSON(TagList.self, try r.request("GET", "/v2/cm/tag/tags/list"))
        #expect(tags.tags == ["stable"])
        expectOCIError(try r.request("DELETE", "/v2/cm/tag/manifests/v1"), 404, .manifestUnknown, "again")
    }

    @Test func deleteUnknownManifestIs404() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        _ = try r.pushImage("cm/unknown", tag: "v1", seed: "x")
        let digest = Digest.sha256(of: Array("no such manifest".utf8))
        expectOCIError(try r.request("DELETE", "/v2/cm/unknown/manifests/\(digest)"), 404, .manifestUnknown, "digest")
        expectOCIError(try r.request("DELETE", "/v2/cm/unknown/manifests/nope"), 404, .manifestUnknown, "tag")
        expectOCIErrorIn(try r.request("DELETE", "/v2/cm/no-repo/manifests/\(digest)"), statuses: [404],
                         codes: [.nameUnknown, .manifestUnknown], "unknown repository")
    }

    @Test func deleteBlob() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        let bytes = testBytes(1000, seed: "blob")
        let digest = try r.pushBlob("cm/blob", bytes)
        let delete = try r.request("DELETE", "/v2/cm/blob/blobs/\(digest)")
        #expect(delete.status == 202)
        expectOCIError(try r.request("GET", "/v2/cm/blob/blobs/\(digest)"), 404, .blobUnknown)
        #expect(try r.request("HEAD", "/v2/cm/blob/blobs/\(digest)").status == 404)
        expectOCIError(try r.request("DELETE", "/v2/cm/blob/blobs/\(digest)"), 404, .blobUnknown, "again")
    }

    @Test func deleteBlobInOneRepositoryKeepsItInAnother() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        let bytes = testBytes(1000, seed: "shared")
        let digest = try r.pushBlob("cm/one", bytes)
        try r.pushBlob("cm/two", bytes)
        #expect(try r.request("DELETE", "/v2/cm/one/blobs/\(digest)").status == 202)
        #expect(try r.request("HEAD", "/v2/cm/one/blobs/\(digest)").status == 404)
        let other = try r.request("GET", "/v2/cm/two/blobs/\(digest)")
        #expect(other.status == 200)
        #expect(other.body == bytes)
    }

    @Test func deletedBlobCanBePushedAgain() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        let bytes = testBytes(100, seed: "again")
        let digest = try r.pushBlob("cm/again", bytes)
        #expect(try r.request("DELETE", "/v2/cm/again/blobs/\(digest)").status == 202)
        try r.pushBlob("cm/again", bytes)
        #expect(try r.request("GET", "/v2/cm/again/blobs/\(digest)").body == bytes)
    }

    @Test func deleteUnknownBlobIsBlobUnknown() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        try r.pushBlob("cm/blob", testBytes(10, seed: "present"))
        let digest = Digest.sha256(of: Array("absent".utf8))
        expectOCIError(try r.request("DELETE", "/v2/cm/blob/blobs/\(digest)"), 404, .blobUnknown)
        expectOCIErrorIn(try r.request("DELETE", "/v2/cm/no-repo/blobs/\(digest)"), statuses: [404],
                         codes: [.nameUnknown, .blobUnknown], "unknown repository")
    }

    @Test func deleteBlobWithInvalidDigestIsDigestInvalid() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        try r.pushBlob("cm/blob", testBytes(10, seed: "present"))
        expectOCIError(try r.request("DELETE", "/v2/cm/blob/blobs/sha256:123"), 400, .digestInvalid)
    }

    @Test func repushAfterManifestDeleteWorks() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        let image = try r.pushImage("cm/repush", tag: "v1", seed: "repush")
        #expect(try r.request("DELETE", "/v2/cm/repush/manifests/\(image.digest)").status == 202)
        try r.pushManifest("cm/repush", "v1", image.bytes, mediaType: MediaType.ociManifest.rawValue)
        let pulled = try r.request("GET", "/v2/cm/repush/manifests/v1")
        #expect(pulled.status == 200)
        #expect(pulled.body == image.bytes)
    }
}
