import Foundation
import Registry
@testable import RegistryNotifications
import Testing

/// The JSON sent: distribution's field names, nesting and omissions.
@Suite struct EnvelopeTests {
    static let source = EventSource(addr: "registry.example:5000", instanceID: "a53db899-3b4b-4a62-a067-8dd013beaca4")

    static func push(tag: String? = "v1", actor: String? = "alice") -> RegistryEvent {
        RegistryEvent(action: .push, seconds: 1_457_563_466, nanoseconds: 402_973_000,
                      target: .init(mediaType: "application/vnd.oci.image.manifest.v1+json",
                                    digest: "sha256:fea8895f450959fa676bcc1df0611ea93823a735a01205fd8622846041d0c7cf",
                                    size: 708, repository: "hello-world",
                                    url: "http://192.168.100.227:5000/v2/hello-world/manifests/sha256:fea8", tag: tag),
                      request: .init(addr: "192.168.64.11:42961", host: "192.168.100.227:5000", method: "PUT",
                                     userAgent: "skopeo/1.13"),
                      actor: actor)
    }

    private func object(_ bytes: [UInt8]) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
    }

    @Test func aPushCarriesEveryFieldUnderDistributionsNames() throws {
        let json = EventEnvelope.encode(Self.push(), id: "320678d8-ca14-430f-8bb6-4ca139cd83f7", requestID: "req-1",
                                        source: Self.source)
        #expect(!json.contains(0x0A), "one line")
        let event = try object(json)
        #expect(Set(event.keys) == ["id", "timestamp", "action", "target", "request", "actor", "source"])
        #expect(event["id"] as? String == "320678d8-ca14-430f-8bb6-4ca139cd83f7")
        #expect(event["timestamp"] as? String == "2016-03-09T22:44:26.402973Z")
        #expect(event["action"] as? String == "push")
        let target = try #require(event["target"] as? [String: Any])
        #expect(Set(target.keys) == ["mediaType", "digest", "size", "length", "repository", "url", "tag"])
        #expect(target["mediaType"] as? String == "application/vnd.oci.image.manifest.v1+json")
        #expect(target["size"] as? Int == 708 && target["length"] as? Int == 708)
        #expect(target["repository"] as? String == "hello-world" && target["tag"] as? String == "v1")
        let request = try #require(event["request"] as? [String: Any])
        #expect(request as NSDictionary == ["id": "req-1", "addr": "192.168.64.11:42961", "host": "192.168.100.227:5000",
                                            "method": "PUT", "useragent": "skopeo/1.13"] as NSDictionary)
        #expect(event["actor"] as? [String: String] == ["name": "alice"])
        #expect(event["source"] as? [String: String] == ["addr": "registry.example:5000",
                                                          "instanceID": "a53db899-3b4b-4a62-a067-8dd013beaca4"])
    }

    @Test func aDeleteNamesOnlyDigestAndRepositoryAndAnAnonymousActorIsEmpty() throws {
        let event = RegistryEvent(action: .delete, seconds: 0, nanoseconds: 0,
                                  target: .init(digest: "sha256:d89e", repository: "library/test"),
                                  request: .init(addr: "[::1]:5", host: nil, method: "DELETE", userAgent: nil), actor: nil)
        let json = try object(EventEnvelope.encode(event, id: "e", requestID: "r", source: Self.source))
        #expect(json["target"] as? [String: String] == ["digest": "sha256:d89e", "repository": "library/test"])
        #expect(json["actor"] as? [String: String] == [:])
        #expect(json["timestamp"] as? String == "1970-01-01T00:00:00Z")
        // id, method and useragent are always present (no omitempty in distribution's RequestRecord).
        #expect(json["request"] as? [String: String] == ["id": "r", "addr": "[::1]:5", "method": "DELETE", "useragent": ""])
    }

    @Test func stringsAreEscaped() throws {
        var event = Self.push()
        event.request.userAgent = "quote\" backslash\\ newline\n tab\t bell\u{7} é"
        let json = EventEnvelope.encode(event, id: "e", requestID: "r", source: Self.source)
        #expect(!json.contains(0x0A))
        let request = try #require(try object(json)["request"] as? [String: String])
        #expect(request["useragent"] == "quote\" backslash\\ newline\n tab\t bell\u{7} é")
    }

    @Test func theEnvelopeHoldsTheEventsInOrder() throws {
        let events = (0..<3).map { EventEnvelope.encode(Self.push(tag: "t\($0)"), id: "id-\($0)", requestID: "r", source: Self.source) }
        let envelope = try object(EventEnvelope.envelope(events))
        let list = try #require(envelope["events"] as? [[String: Any]])
        #expect(Set(envelope.keys) == ["events"])
        #expect(list.map { $0["id"] as? String } == ["id-0", "id-1", "id-2"])
        #expect(EventEnvelope.mediaType == "application/vnd.docker.distribution.events.v1+json")
    }

    @Test func uuidsAreVersion4AndDistinct() {
        let ids = (0..<100).map { _ in EventEnvelope.makeUUID() }
        #expect(Set(ids).count == 100)
        for id in ids {
            let parts = id.split(separator: "-")
            #expect(parts.map(\.count) == [8, 4, 4, 4, 12])
            #expect(parts[2].first == "4")
            #expect("89ab".contains(parts[3].first!))
        }
    }
}

/// Filters and the retry schedule.
@Suite struct EndpointPolicyTests {
    @Test func filtersByActionAndByEitherMediaTypeList() {
        let endpoint = EndpointConfiguration(name: "e", url: "http://x/", ignoredMediaTypes: ["application/octet-stream"],
                                             ignoreMediaTypes: ["application/vnd.oci.image.index.v1+json"], ignoreActions: [.pull])
        var event = EnvelopeTests.push()
        #expect(endpoint.accepts(event))
        event.action = .pull
        #expect(!endpoint.accepts(event))
        event.action = .push
        event.target.mediaType = "application/octet-stream"
        #expect(!endpoint.accepts(event))
        event.target.mediaType = "application/vnd.oci.image.index.v1+json"
        #expect(!endpoint.accepts(event))
        event.target.mediaType = nil
        event.action = .delete
        #expect(endpoint.accepts(event), "a delete has no media type: only its action can filter it")
    }

    @Test func retriesAtOnceBelowTheThresholdThenBackOffDoublingUpToACap() {
        let endpoint = EndpointConfiguration(name: "e", url: "http://x/", threshold: 3, backoff: 2)
        #expect([0, 1, 2].map(endpoint.delay(afterFailures:)) == [0, 0, 0])
        #expect([3, 4, 5, 6, 7, 8, 100].map(endpoint.delay(afterFailures:)) == [2, 4, 8, 16, 32, 60, 60])
        #expect(EndpointConfiguration(name: "e", url: "http://x/", threshold: 0, backoff: 90).delay(afterFailures: 1) == 90)
    }

    @Test func logsShowNoCredentialsOfTheURL() {
        #expect(EndpointConfiguration(name: "e", url: "https://u:p@h:5000/x@y").redactedURL == "https://<redacted>@h:5000/x@y")
        #expect(EndpointConfiguration(name: "e", url: "http://h/x@y").redactedURL == "http://h/x@y")
        #expect(EndpointConfiguration(name: "e", url: "http://u:p@h/e?token=s3cret&x=1#f").redactedURL == "http://<redacted>@h/e?<redacted>#f")
        #expect(EndpointConfiguration(name: "e", url: "https://h?sig=s3cret").redactedURL == "https://h?<redacted>")
    }

    @Test func endpointNamesAreSafeFolderNames() {
        #expect(EndpointConfiguration.isValidName("ci-hook_1.prod"))
        for bad in ["", ".", "..", "-x", "a/b", "a b", String(repeating: "a", count: 65), "é"] {
            #expect(!EndpointConfiguration.isValidName(bad), "\(bad)")
        }
    }
}
