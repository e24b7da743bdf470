@testable import Registry
import Testing

@Suite struct RouteTests {
    @Test func routesMatchFromTheEndOfThePath() {
        #expect(Route(path: "/v2/") == .base)
        #expect(Route(path: "/v2") == .base)
        #expect(Route(path: "/v2/_catalog") == .catalog)
        #expect(Route(path: "/v2/a/b/blobs/uploads/") == .uploads(name: "a/b"))
        #expect(Route(path: "/v2/a/blobs/uploads/x") == .upload(name: "a", id: "x"))
        #expect(Route(path: "/v2/a/blobs/sha256:00") == .blob(name: "a", digest: "sha256:00"))
        // A repository may be named like a route component.
        #expect(Route(path: "/v2/x/blobs/blobs/d") == .blob(name: "x/blobs", digest: "d"))
        #expect(Route(path: "/v2/x/manifests/manifests/latest") == .manifest(name: "x/manifests", reference: "latest"))
        #expect(Route(path: "/v2/a/tags/list") == .tags(name: "a"))
        #expect(Route(path: "/v2/a/referrers/sha256:00") == .referrers(name: "a", digest: "sha256:00"))
        #expect(Route(path: "/v2/a/unknown") == .notFound)
        #expect(Route(path: "/other") == .notFound)
    }

    @Test func segmentsArePercentDecoded() {
        #expect(Route(path: "/v2/a/blobs/sha256%3A00") == .blob(name: "a", digest: "sha256:00"))
        #expect(Route(path: "/v2/%2e%2e/manifests/x") == .manifest(name: "..", reference: "x"))
        #expect(Route(path: "/v2/a/manifests/bad%zz") == .manifest(name: "a", reference: "bad%zz"))
        #expect(Route(path: "/v2/a/manifests/trail%3") == .manifest(name: "a", reference: "trail%3"))
    }
}
