import Foundation
import OCIModel
import Testing
import TestSupport

/// Manifest answers are served from a cache of rendered responses: every change to tags and manifests must show
/// in the very next answer, for GET and HEAD, by tag and by digest, whatever the path's spelling.
@Suite(.serialized) struct ManifestResponseCacheTests {
    @Test func answersFollowEveryTagAndManifestChange() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        let first = try r.pushImage("cache/repo", tag: "t", seed: "cache-first")
        let get = { try r.request("GET", "/v2/cache/repo/manifests/t") }
        let head = { try r.request("HEAD", "/v2/cache/repo/manifests/t") }
        for _ in 0..<3 {  // the first answer fills the cache, the others come from it
            let g = try get()
            #expect(g.status == 200 && g.body == first.bytes)
            #expect(g.header("Docker-Content-Digest") == first.digest.description)
            #expect(g.header("ETag") == "\"\(first.digest)\"")
            #expect(g.header("Content-Type") == MediaType.ociManifest.rawValue)
            #expect(g.header("Docker-Distribution-API-Version") == "registry/2.0")
            let h = try head()
            #expect(h.status == 200 && h.header("Content-Length") == "\(first.bytes.count)")
            #expect(h.header("Docker-Content-Digest") == first.digest.description)
        }

        // The tag moves: the next answers are the new manifest's.
        let second = try r.pushImage("cache/repo", tag: "t", seed: "cache-second-with-a-longer-seed", layerCount: 3)
        #expect(try get().body == second.bytes)
        #expect(try head().header("Content-Length") == "\(second.bytes.count)")
        #expect(try head().header("Docker-Content-Digest") == second.digest.description)

        // By digest, also through a percent-encoded spelling of the same path.
        let byDigest = "/v2/cache/repo/manifests/\(first.digest)"
        let encoded = "/v2/cache/repo/manifests/" + first.digest.description.replacingOccurrences(of: ":", with: "%3A")
        for _ in 0..<2 {
            #expect(try r.request("GET", byDigest).body == first.bytes)
            #expect(try r.request("GET", encoded).body == first.bytes)
        }

        // The tag goes: by tag is unknown at once, the manifest itself stays.
        #expect(try r.request("DELETE", "/v2/cache/repo/manifests/t").status == 202)
        expectOCIError(try get(), 404, .manifestUnknown)
        #expect(try head().status == 404)
        #expect(try r.request("GET", "/v2/cache/repo/manifests/\(second.digest)").status == 200)

        // The manifest goes: by digest is unknown at once, in both spellings.
        #expect(try r.request("DELETE", byDigest).status == 202)
        expectOCIError(try r.request("GET", byDigest), 404, .manifestUnknown)
        #expect(try r.request("GET", encoded).status == 404)
        #expect(try r.request("HEAD", byDigest).status == 404)
    }

    @Test func otherMethodsOnACachedPathAreNotAnsweredFromTheCache() throws {
        let r = try RegistryFixture()
        defer { r.stop() }
        let image = try r.pushImage("cache/methods", tag: "v1", seed: "cache-methods")
        #expect(try r.request("GET", "/v2/cache/methods/manifests/v1").status == 200)
        let post = try r.request("POST", "/v2/cache/methods/manifests/v1")
        expectOCIError(post, 405, .unsupported)
        // A query does not change a manifest answer; the cached one is still the right one.
        #expect(try r.request("GET", "/v2/cache/methods/manifests/v1?x=1").body == image.bytes)
    }
}
