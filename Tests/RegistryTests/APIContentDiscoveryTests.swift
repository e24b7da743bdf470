import BlobStore
import OCIModel
import Testing
import TestSupport

/// distribution-spec "Content Discovery": tags, referrers, and the Docker catalog.
@Suite(.offCooperativePool, .serialized) struct APIContentDiscoveryTests {
    /// Tags in lexical order (lowercase, so byte order and case-insensitive order agree).
    static let sortedTags = ["1.0", "a", "b", "c", "latest", "v1", "v10", "v2"]

    /// Pushes one image and tags it with every tag of `sortedTags`, in a scrambled order.
    static func tagged(_ r: RegistryFixture, _ repo: String) throws -> PushedManifest {
        let image = try r.pushImage(repo, tag: "v10", seed: "tags")
        for tag in ["latest", "b", "1.0", "v2", "a", "c", "v1"] {
            try r.pushManifest(repo, tag, image.bytes, mediaType: MediaType.ociManifest.rawValue)
        }
        return image
    }

    static func tags(_ response: TestClient.Response) throws -> [String]? {
        try decodeJSON(TagList.self, response).tags
    }

    // MARK: Tags

    @Test func tagsAreListedInLexicalOrder() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        _ = try Self.tagged(r, "disc/tags")
        let response = try r.request("GET", "/v2/disc/tags/tags/list")
        #expect(response.status == 200)
        let list = try decodeJSON(TagList.self, response)
        #expect(list.name == "disc/tags")
        #expect(list.tags == Self.sortedTags)
        #expect(nextLink(response) == nil)
    }

    @Test func tagsPaginateWithNAndLinkHeader() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        _ = try Self.tagged(r, "disc/tags")

        let first = try r.request("GET", "/v2/disc/tags/tags/list?n=3")
        #expect(first.status == 200)
        #expect(try Self.tags(first) == ["1.0", "a", "b"])
        let link = try #require(first.header("Link"), "a Link header when more tags are available")
        #expect(link.hasPrefix("<") && link.hasSuffix(#"rel="next""#), "Link \(link)")
        let next = try #require(nextLink(first), "Link \(link)")
        #expect(pathOf(next) == "/v2/disc/tags/tags/list")
        #expect(queryOf(next)["n"] == "3")
        #expect(queryOf(next)["last"] == "b")

        var all: [String] = []
        let pages = try r.pages("/v2/disc/tags/tags/list?n=3")
        for page in pages {
            #expect(page.status == 200)
            let tags = try Self.tags(page) ?? []
            #expect(tags.count <= 3)
            all += tags
        }
        #expect(all == Self.sortedTags)
        #expect(pages.count == 3)
        if let last = pages.last { #expect(nextLink(last) == nil, "no Link on the last page") }
    }

    @Test func tagsLastParameterStartsAfterTag() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        _ = try Self.tagged(r, "disc/tags")
        #expect(try Self.tags(try r.request("GET", "/v2/disc/tags/tags/list?n=3&last=b")) == ["c", "latest", "v1"])
        #expect(try Self.tags(try r.request("GET", "/v2/disc/tags/tags/list?last=v1")) == ["v10", "v2"])
        #expect(try Self.tags(try r.request("GET", "/v2/disc/tags/tags/list?n=2&last=latest")) == ["v1", "v10"])
        // `last` need not be a tag that exists: the list continues after where it would sort.
        #expect(try Self.tags(try r.request("GET", "/v2/disc/tags/tags/list?n=2&last=bb")) == ["c", "latest"])
        let end = try r.request("GET", "/v2/disc/tags/tags/list?last=v2")
        #expect(end.status == 200)
        #expect(try Self.tags(end) ?? [] == [])
        #expect(nextLink(end) == nil)
    }

    @Test func tagsWithNLargerThanCountReturnAllWithoutLink() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        _ = try Self.tagged(r, "disc/tags")
        let response = try r.request("GET", "/v2/disc/tags/tags/list?n=100")
        #expect(response.status == 200)
        #expect(try Self.tags(response) == Self.sortedTags)
        #expect(nextLink(response) == nil)
        let exact = try r.request("GET", "/v2/disc/tags/tags/list?n=8")
        #expect(try Self.tags(exact) == Self.sortedTags)
    }

    @Test func tagsWithNZeroIsEmptyWithoutLink() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        _ = try Self.tagged(r, "disc/tags")
        let response = try r.request("GET", "/v2/disc/tags/tags/list?n=0")
        #expect(response.status == 200)
        #expect(try Self.tags(response) == [], "an empty list: \(response.text)")
        #expect(response.header("Link") == nil)
    }

    @Test func tagsOfUnknownRepositoryIsNameUnknown() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        expectOCIError(try r.request("GET", "/v2/no/such/repo/tags/list"), 404, .nameUnknown)
    }

    @Test func tagsOfRepositoryWithoutTagsIsEmpty() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        _ = try r.pushImage("disc/untagged", tag: nil, seed: "untagged")
        let response = try r.request("GET", "/v2/disc/untagged/tags/list")
        #expect(response.status == 200)
        #expect(try Self.tags(response) ?? [] == [])
    }

    @Test(arguments: ["-1", "abc", "1.5", "-0x10"])
    func tagsWithInvalidNIsPaginationNumberInvalid(n: String) throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        _ = try Self.tagged(r, "disc/tags")
        expectOCIError(try r.request("GET", "/v2/disc/tags/tags/list?n=\(n)"), 400, .paginationNumberInvalid, "n=\(n)")
    }

    // MARK: Referrers

    static let sbomType = "application/vnd.example.sbom.v1"
    static let signatureConfigType = "application/vnd.example.signature.config.v1+json"

    /// A subject image, and three referrers to it: an artifact with `artifactType`, one without (config media type
    /// applies), and an index without `artifactType`.
    struct ReferrerSet {
        var subject: PushedManifest
        var sbom: Desc
        var signature: Desc
        var index: Desc
    }

    static func referrers(_ r: RegistryFixture, _ repo: String) throws -> ReferrerSet {
        let subject = try r.pushImage(repo, tag: "v1", seed: "subject")
        let empty = try r.pushDescriptor(repo, Array("{}".utf8), mediaType: MediaType.ociEmptyJSON.rawValue)
        let sbomBytes = ManifestJSON.image(config: empty, layers: [empty], artifactType: sbomType, subject: subject.desc,
                                           annotations: [("org.opencontainers.image.created", "2022-01-01T14:42:55Z"),
                                                         ("org.example.sbom.format", "json")])
        let sbom = try r.pushManifest(repo, Digest.sha256(of: sbomBytes).description, sbomBytes,
                                      mediaType: MediaType.ociManifest.rawValue)
        let sigConfig = try r.pushDescriptor(repo, Array(#"{"sig":true}"#.utf8), mediaType: signatureConfigType)
        let sigLayer = try r.pushDescriptor(repo, testBytes(64, seed: "sig"), mediaType: "application/vnd.example.signature")
        let sigBytes = ManifestJSON.image(config: sigConfig, layers: [sigLayer], subject: subject.desc,
                                          annotations: [("org.example.signature.fingerprint", "abcd")])
        // Pushed under a tag, as some clients do: the tag must not matter.
        let signature = try r.pushManifest(repo, "sig", sigBytes, mediaType: MediaType.ociManifest.rawValue)
        let indexBytes = ManifestJSON.index(manifests: [], subject: subject.desc,
                                            annotations: [("org.opencontainers.image.created", "2023-01-01T07:21:33Z")])
        let index = try r.pushManifest(repo, Digest.sha256(of: indexBytes).description, indexBytes,
                                       mediaType: MediaType.ociIndex.rawValue)
        return ReferrerSet(subject: subject, sbom: sbom, signature: signature, index: index)
    }

    static func entry(_ index: ReferrersIndex, _ digest: Digest) -> ReferrersIndex.Entry? {
        index.manifests?.first { $0.digest == digest.description }
    }

    @Test func referrersListsManifestsWithSubject() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        let set = try Self.referrers(r, "disc/ref")
        let response = try r.request("GET", "/v2/disc/ref/referrers/\(set.subject.digest)")
        #expect(response.status == 200)
        #expect(response.header("Content-Type") == MediaType.ociIndex.rawValue)
        let index = try decodeJSON(ReferrersIndex.self, response)
        #expect(index.schemaVersion == 2)
        #expect(index.mediaType == MediaType.ociIndex.rawValue)
        #expect(index.manifests?.count == 3)

        let sbom = try #require(Self.entry(index, set.sbom.digest))
        #expect(sbom.mediaType == MediaType.ociManifest.rawValue)
        #expect(sbom.size == set.sbom.size)
        #expect(sbom.artifactType == Self.sbomType)
        #expect(sbom.annotations == ["org.opencontainers.image.created": "2022-01-01T14:42:55Z",
                                     "org.example.sbom.format": "json"])

        let signature = try #require(Self.entry(index, set.signature.digest))
        #expect(signature.mediaType == MediaType.ociManifest.rawValue)
        #expect(signature.size == set.signature.size)
        #expect(signature.artifactType == Self.signatureConfigType, "falls back to the config media type")
        #expect(signature.annotations == ["org.example.signature.fingerprint": "abcd"])

        let nested = try #require(Self.entry(index, set.index.digest))
        #expect(nested.mediaType == MediaType.ociIndex.rawValue)
        #expect(nested.size == set.index.size)
        #expect(nested.artifactType == nil, "an index without artifactType has none")
        #expect(nested.annotations == ["org.opencontainers.image.created": "2023-01-01T07:21:33Z"])
    }

    @Test func referrersFilterByArtifactType() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        let set = try Self.referrers(r, "disc/ref")
        let response = try r.request("GET", "/v2/disc/ref/referrers/\(set.subject.digest)?artifactType=\(Self.sbomType)")
        #expect(response.status == 200)
        #expect(response.header("OCI-Filters-Applied") == "artifactType")
        let index = try decodeJSON(ReferrersIndex.self, response)
        #expect(index.manifests?.map(\.digest) == [set.sbom.digest.description])

        // A '+' in the query is percent-encoded, as clients send it.
        let encoded = Self.signatureConfigType.replacingOccurrences(of: "+", with: "%2B")
        let sig = try r.request("GET", "/v2/disc/ref/referrers/\(set.subject.digest)?artifactType=\(encoded)")
        #expect(sig.header("OCI-Filters-Applied") == "artifactType")
        #expect(try decodeJSON(ReferrersIndex.self, sig).manifests?.map(\.digest) == [set.signature.digest.description])

        let none = try r.request("GET", "/v2/disc/ref/referrers/\(set.subject.digest)?artifactType=application/x-none")
        #expect(none.status == 200)
        #expect(try decodeJSON(ReferrersIndex.self, none).manifests == [])
    }

    @Test func referrersOfUnknownDigestIsEmptyIndex() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        _ = try r.pushImage("disc/ref", tag: "v1", seed: "lonely")
        let digest = Digest.sha256(of: Array("nobody refers to this".utf8))
        let response = try r.request("GET", "/v2/disc/ref/referrers/\(digest)")
        #expect(response.status == 200)
        #expect(response.header("Content-Type") == MediaType.ociIndex.rawValue)
        let index = try decodeJSON(ReferrersIndex.self, response)
        #expect(index.schemaVersion == 2)
        #expect(index.mediaType == MediaType.ociIndex.rawValue)
        #expect(index.manifests == [], "an empty manifests list: \(response.text)")
    }

    @Test func referrersBeforeSubjectIsPushed() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        let empty = try r.pushDescriptor("disc/ref", Array("{}".utf8), mediaType: MediaType.ociEmptyJSON.rawValue)
        let subject = Desc(mediaType: MediaType.ociManifest.rawValue, digest: Digest.sha256(of: Array("later".utf8)), size: 5)
        let bytes = ManifestJSON.image(config: empty, layers: [empty], artifactType: Self.sbomType, subject: subject)
        let pushed = try r.pushManifest("disc/ref", Digest.sha256(of: bytes).description, bytes,
                                        mediaType: MediaType.ociManifest.rawValue)
        let index = try decodeJSON(ReferrersIndex.self, try r.request("GET", "/v2/disc/ref/referrers/\(subject.digest)"))
        #expect(index.manifests?.map(\.digest) == [pushed.digest.description])
    }

    @Test func referrerDisappearsAfterItsManifestIsDeleted() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        let set = try Self.referrers(r, "disc/ref")
        let delete = try r.request("DELETE", "/v2/disc/ref/manifests/\(set.sbom.digest)")
        #expect(delete.status == 202)
        let index = try decodeJSON(ReferrersIndex.self, try r.request("GET", "/v2/disc/ref/referrers/\(set.subject.digest)"))
        #expect(Set(index.manifests?.map(\.digest) ?? []) == [set.signature.digest.description, set.index.digest.description])
        let filtered = try r.request("GET", "/v2/disc/ref/referrers/\(set.subject.digest)?artifactType=\(Self.sbomType)")
        #expect(try decodeJSON(ReferrersIndex.self, filtered).manifests == [])
    }

    /// A referrer stored before manifests with duplicate keys were refused no longer parses as a manifest; deleting
    /// it must still remove it from its subject's referrers.
    @Test func legacyReferrerWithDuplicateKeysIsRemovedWithItsManifest() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        let subject = try r.pushImage("disc/legacy", tag: "v1", seed: "subject")
        let empty = try r.pushDescriptor("disc/legacy", Array("{}".utf8), mediaType: MediaType.ociEmptyJSON.rawValue)
        let valid = String(decoding: ManifestJSON.image(config: empty, layers: [empty], subject: subject.desc), as: UTF8.self)
        let bytes = Array(valid.replacingOccurrences(of: #""schemaVersion": 2,"#, with: #""schemaVersion": 2, "schemaVersion": 2,"#).utf8)
        #expect(bytes.count > valid.utf8.count, "the duplicate key is in the manifest")
        let digest = Digest.sha256(of: bytes)
        // Stored as an earlier version did (straight into the store, unchecked), then served by a fresh responder.
        let store = r.responder.store
        let referrer = Descriptor(mediaType: .ociManifest, digest: digest, size: Int64(bytes.count))
        _ = try store.putManifest(RepositoryName(validating: "disc/legacy"), bytes: bytes, digest: digest,
                                  mediaType: MediaType.ociManifest.rawValue, tag: nil, subject: subject.digest, referrer: referrer,
                                  references: ManifestReferences(bytes: bytes)) { () -> StoreError? in nil }
        try r.restart()
        let before = try decodeJSON(ReferrersIndex.self, try r.request("GET", "/v2/disc/legacy/referrers/\(subject.digest)"))
        #expect(before.manifests?.map(\.digest) == [digest.description])

        #expect(try r.request("DELETE", "/v2/disc/legacy/manifests/\(digest)").status == 202)
        let after = try decodeJSON(ReferrersIndex.self, try r.request("GET", "/v2/disc/legacy/referrers/\(subject.digest)"))
        #expect(after.manifests == [])
    }

    @Test func referrersAreScopedToTheRepository() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        let set = try Self.referrers(r, "disc/ref")
        // Another repository refers to the same subject digest; it must not show up in disc/ref.
        let empty = try r.pushDescriptor("disc/other", Array("{}".utf8), mediaType: MediaType.ociEmptyJSON.rawValue)
        let bytes = ManifestJSON.image(config: empty, layers: [empty], artifactType: "application/vnd.example.other",
                                       subject: set.subject.desc)
        let foreign = try r.pushManifest("disc/other", Digest.sha256(of: bytes).description, bytes,
                                         mediaType: MediaType.ociManifest.rawValue)
        let index = try decodeJSON(ReferrersIndex.self, try r.request("GET", "/v2/disc/ref/referrers/\(set.subject.digest)"))
        #expect(index.manifests?.count == 3)
        #expect(Self.entry(index, foreign.digest) == nil)
        let other = try decodeJSON(ReferrersIndex.self, try r.request("GET", "/v2/disc/other/referrers/\(set.subject.digest)"))
        #expect(other.manifests?.map(\.digest) == [foreign.digest.description])
    }

    @Test(arguments: ["sha256:abc", "sha256:" + String(repeating: "G", count: 64), "latest"])
    func referrersWithInvalidDigestIs400(digest: String) throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        _ = try r.pushImage("disc/ref", tag: "v1", seed: "x")
        expectOCIError(try r.request("GET", "/v2/disc/ref/referrers/\(digest)"), 400, .digestInvalid, digest)
    }

    // MARK: Catalog

    static let repositories = ["alpha", "beta/one", "beta/two", "delta", "gamma"]

    static func catalogFixture() throws -> RegistryFixture {
        let r = try RegistryFixture { $0.catalogMaxEntries = 3 }
        for (i, repo) in ["gamma", "beta/two", "alpha", "delta", "beta/one"].enumerated() {
            _ = try r.pushImage(repo, tag: "v1", seed: "catalog-\(i)", layerCount: 1)
        }
        return r
    }

    static func repositories(_ response: TestClient.Response) throws -> [String]? {
        try decodeJSON(CatalogList.self, response).repositories
    }

    @Test func catalogPaginatesWithNAndLink() throws {
        let r = try Self.catalogFixture()
        defer { r.stop() }
        let first = try r.request("GET", "/v2/_catalog?n=2")
        #expect(first.status == 200)
        #expect(try Self.repositories(first) == ["alpha", "beta/one"])
        let next = try #require(nextLink(first), "Link: \(first.header("Link") ?? "nil")")
        #expect(pathOf(next) == "/v2/_catalog")
        #expect(queryOf(next)["n"] == "2")
        #expect(queryOf(next)["last"] == "beta/one")

        var all: [String] = []
        let pages = try r.pages("/v2/_catalog?n=2")
        for page in pages { all += try Self.repositories(page) ?? [] }
        #expect(all == Self.repositories)
        if let last = pages.last { #expect(nextLink(last) == nil) }

        #expect(try Self.repositories(try r.request("GET", "/v2/_catalog?n=2&last=beta/two")) == ["delta", "gamma"])
        #expect(try Self.repositories(try r.request("GET", "/v2/_catalog?last=delta")) == ["gamma"])
    }

    @Test func catalogWithoutNIsBoundedByTheMaximum() throws {
        let r = try Self.catalogFixture()
        defer { r.stop() }
        let pages = try r.pages("/v2/_catalog")
        let first = try #require(pages.first)
        #expect(first.status == 200)
        let firstRepos = try Self.repositories(first) ?? []
        #expect(firstRepos.count <= 3)
        var all: [String] = []
        for page in pages { all += try Self.repositories(page) ?? [] }
        #expect(all == Self.repositories, "following Link gives every repository")
    }

    @Test func catalogNAtTheMaximumIsAccepted() throws {
        let r = try Self.catalogFixture()
        defer { r.stop() }
        let response = try r.request("GET", "/v2/_catalog?n=3")
        #expect(response.status == 200)
        #expect(try Self.repositories(response) == ["alpha", "beta/one", "beta/two"])
        #expect(nextLink(response) != nil)
    }

    @Test(arguments: ["4", "99999999", "-1", "abc", "99999999999999999999999"])
    func catalogWithInvalidNIsPaginationNumberInvalid(n: String) throws {
        let r = try RegistryFixture { $0.catalogMaxEntries = 3 }
        defer { r.stop() }
        _ = try r.pushImage("alpha", tag: "v1", seed: "c", layerCount: 1)
        expectOCIError(try r.request("GET", "/v2/_catalog?n=\(n)"), 400, .paginationNumberInvalid, "n=\(n)")
    }

    @Test func catalogOfEmptyRegistryIsEmpty() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        let response = try r.request("GET", "/v2/_catalog")
        #expect(response.status == 200)
        #expect(try Self.repositories(response) ?? [] == [])
    }
}
