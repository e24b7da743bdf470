import OCIModel
import Registry
import Synchronization
import Testing

/// Collects the events the registry records, in order.
final class CapturingEventSink: RegistryEventSink {
    private let events = Mutex<[RegistryEvent]>([])
    func record(_ event: RegistryEvent) { events.withLock { $0.append(event) } }
    var recorded: [RegistryEvent] { events.withLock { $0 } }
    func reset() { events.withLock { $0 = [] } }
}

/// The hook points: which operations record which events, with what target.
@Suite struct EventHookTests {
    private func fixture() throws -> (RegistryFixture, CapturingEventSink) {
        let sink = CapturingEventSink()
        let r = try RegistryFixture { $0.events = sink }
        return (r, sink)
    }

    private func summary(_ events: [RegistryEvent]) -> [String] {
        events.map { "\($0.action.rawValue) \($0.target.repository) \($0.target.mediaType ?? "-") \($0.target.tag ?? "-")" }
    }

    @Test func pushOfAnImageRecordsBlobPushesThenTheManifestPushWithItsTag() throws {
        let (r, sink) = try fixture()
        defer { r.stop() }
        let image = try r.pushImage("events/app", tag: "v1", seed: "push")
        let events = sink.recorded
        #expect(summary(events) == [
            "push events/app application/octet-stream -", "push events/app application/octet-stream -",
            "push events/app application/octet-stream -", "push events/app \(MediaType.ociManifest.rawValue) v1",
        ])
        let manifest = try #require(events.last)
        #expect(manifest.target.digest == image.desc.digest.description)
        #expect(manifest.target.size == Int64(image.bytes.count))
        // The URL is built from the request's Host, as sent (this client sends `Host: 127.0.0.1`).
        let host = try #require(manifest.request.host)
        #expect(manifest.target.url == "http://\(host)/v2/events/app/manifests/\(image.desc.digest)")
        #expect(manifest.request.method == "PUT")
        #expect(manifest.request.addr.hasPrefix("127.0.0.1:"))
        // The actor is the authenticated user (anonymous here, unless the suite runs with tokens).
        if r.isTokenMode { #expect(manifest.actor != nil) } else { #expect(manifest.actor == nil) }
        let layer = events[1]
        #expect(layer.target.digest == image.layers[0].digest.description)
        #expect(layer.target.size == Int64(image.layers[0].size))
        #expect(layer.target.url == "http://\(host)/v2/events/app/blobs/\(image.layers[0].digest)")
    }

    @Test func aTagMovedFromAnotherManifestIsAPushWithTheTag() throws {
        let (r, sink) = try fixture()
        defer { r.stop() }
        _ = try r.pushImage("events/move", tag: "latest", seed: "one")
        let second = try r.pushImage("events/move", tag: "latest", seed: "two")
        let last = try #require(sink.recorded.last)
        #expect(last.action == .push && last.target.tag == "latest" && last.target.digest == second.desc.digest.description)
    }

    @Test func manifestGetIsAPullAlsoFromTheCacheButHeadIsNot() throws {
        let (r, sink) = try fixture()
        defer { r.stop() }
        let image = try r.pushImage("events/pull", tag: "v1", seed: "pull")
        sink.reset()
        for _ in 0..<3 { #expect(try r.request("GET", "/v2/events/pull/manifests/v1").status == 200) }
        #expect(try r.request("HEAD", "/v2/events/pull/manifests/v1").status == 200)
        #expect(try r.request("GET", "/v2/events/pull/manifests/\(image.desc.digest)").status == 200)
        let events = sink.recorded
        #expect(events.count == 4, "three GETs by tag (two from the cache) and one by digest; no HEAD")
        #expect(events.allSatisfy { $0.action == .pull && $0.target.digest == image.desc.digest.description })
        #expect(events.prefix(3).allSatisfy { $0.target.tag == "v1" })
        #expect(events[3].target.tag == nil)
        #expect(events.allSatisfy { $0.target.url == "http://\($0.request.host ?? "-")/v2/events/pull/manifests/\(image.desc.digest)" })
        #expect(events.allSatisfy { $0.request.method == "GET" })
    }

    @Test func blobGetIsAPullAndMountAndDeletesAreRecorded() throws {
        let (r, sink) = try fixture()
        defer { r.stop() }
        let image = try r.pushImage("events/src", tag: "v1", seed: "mount")
        sink.reset()
        let layer = image.layers[0].digest
        #expect(try r.request("GET", "/v2/events/src/blobs/\(layer)").status == 200)
        #expect(try r.request("HEAD", "/v2/events/src/blobs/\(layer)").status == 200)
        #expect(try r.request("POST", "/v2/events/dst/blobs/uploads/?mount=\(layer)&from=events/src").status == 201)
        #expect(try r.request("DELETE", "/v2/events/src/manifests/v1").status == 202)
        #expect(try r.request("DELETE", "/v2/events/src/manifests/\(image.desc.digest)").status == 202)
        #expect(try r.request("DELETE", "/v2/events/dst/blobs/\(layer)").status == 202)
        #expect(try r.request("DELETE", "/v2/events/dst/blobs/\(layer)").status == 404, "a failed operation records nothing")
        let events = sink.recorded
        #expect(events.map(\.action) == [.pull, .mount, .delete, .delete, .delete])
        #expect(events[0].target.repository == "events/src" && events[0].target.digest == layer.description)
        #expect(events[1].target.repository == "events/dst" && events[1].target.fromRepository == "events/src")
        #expect(events[1].target.size == Int64(image.layers[0].size))
        #expect(events[2].target == RegistryEvent.Target(repository: "events/src", tag: "v1"))
        #expect(events[3].target == RegistryEvent.Target(digest: image.desc.digest.description, repository: "events/src"))
        #expect(events[4].target == RegistryEvent.Target(digest: layer.description, repository: "events/dst"))
        #expect(events[4].request.method == "DELETE")
    }
}
