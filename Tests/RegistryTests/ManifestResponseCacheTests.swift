import Foundation
import HTTPServer
@testable import Registry
import OCIModel
import Testing
import TestSupport

/// Manifest answers are served from a cache of rendered responses: every change to tags and manifests must show
/// in the very next answer, for GET and HEAD, by tag and by digest, whatever the path's spelling.
@Suite(.offCooperativePool, .serialized) struct ManifestResponseCacheTests {
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

@Suite(.offCooperativePool) struct ResponseCacheBoundsTests {
    private func entry(_ size: Int) -> ResponseCache.Entry {
        ResponseCache.Entry(get: Response(status: .ok, body: .bytes([UInt8](repeating: 1, count: size))),
                            head: Response(status: .ok), repository: "bounds/test")
    }

    @Test func staleAndOverflowingEntriesAreDropped() {
        let cache = ResponseCache(maxEntries: 3, maxBodyBytes: 1000)
        cache.insert("/a", entry(100), generation: 1)
        #expect(cache.response("/a", method: "GET", generation: 1)?.body.count == 100)
        #expect(cache.response("/a", method: "HEAD", generation: 1)?.body.count == 0)
        #expect(cache.response("/a", method: "GET", generation: 2) == nil, "a newer generation makes it stale")
        cache.insert("/b", entry(100), generation: 0)
        #expect(cache.response("/b", method: "GET", generation: 0) == nil, "data read before a change are not kept")
        cache.insert("/c", entry(2000), generation: 1)
        #expect(cache.response("/c", method: "GET", generation: 1) == nil, "larger than the whole cache")
        cache.insert("/d", entry(950), generation: 1)
        #expect(cache.response("/d", method: "GET", generation: 1) != nil)
        #expect(cache.response("/a", method: "GET", generation: 1) == nil, "started over past the byte bound")
        cache.insert("/e", entry(10), generation: 1)
        cache.insert("/f", entry(10), generation: 1)
        cache.insert("/g", entry(10), generation: 1)
        #expect(cache.response("/g", method: "GET", generation: 1) != nil)
        #expect(cache.response("/d", method: "GET", generation: 1) == nil, "started over past the entry bound")
    }
}
