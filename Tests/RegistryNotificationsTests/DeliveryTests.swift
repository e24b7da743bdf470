import Foundation
import Glibc
import HTTPServer
import Logging
import Registry
@testable import RegistryNotifications
import Synchronization
import SystemIO
import Testing
import TestSupport

/// An event receiver on 127.0.0.1:0: records the events of every envelope it answers 2xx, and answers 503
/// while `down`.
final class EventReceiver: HTTPResponder, @unchecked Sendable {
    struct Seen: Sendable {
        var events: [[String: Any]] { Self.parse(bodies) }
        var bodies: [[UInt8]] = []
        var refused = 0
        var contentTypes: Set<String> = []
        var authorizations: Set<String> = []
        static func parse(_ bodies: [[UInt8]]) -> [[String: Any]] {
            bodies.flatMap { body -> [[String: Any]] in
                let envelope = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any]
                return envelope?["events"] as? [[String: Any]] ?? []
            }
        }
    }

    let seen = Mutex(Seen())
    let down = Atomic<Bool>(false)
    private(set) var server: HTTPServer!

    init() throws {
        var quiet = Logger(label: "receiver")
        quiet.logLevel = .critical
        server = try HTTPServer(configuration: ServerConfiguration(address: try SocketAddress(parsing: "127.0.0.1:0"),
                                                                   eventLoopCount: 1),
                                responder: self, logger: quiet)
    }

    var url: String { "http://127.0.0.1:\(server.localAddress.port)/hook" }

    func respond(to request: Request, body: RequestBody) async throws -> Response {
        let bytes = try await body.collect(upTo: 16 << 20)
        if down.load(ordering: .relaxed) {
            seen.withLock { $0.refused += 1 }
            return Response(status: .serviceUnavailable)
        }
        seen.withLock {
            $0.bodies.append(bytes)
            $0.contentTypes.insert(request.headers["Content-Type"] ?? "")
            $0.authorizations.insert(request.headers["Authorization"] ?? "")
        }
        return Response(status: .accepted)
    }

    var ids: [String] { seen.withLock { $0.events.compactMap { $0["id"] as? String } } }

    func stop() {
        server.shutdown(grace: 1)
        server.wait()
    }
}

/// The notifier end to end in one process: queue on disk, POSTs to a live receiver, retry, restart.
@Suite(.serialized) struct DeliveryTests {
    static func event(_ n: Int, repository: String, action: RegistryEvent.Action = .push) -> RegistryEvent {
        RegistryEvent(action: action, target: .init(mediaType: "application/vnd.oci.image.manifest.v1+json",
                                                    digest: "sha256:\(n)", size: Int64(n + 1), repository: repository,
                                                    tag: "t\(n)"),
                      request: .init(addr: "127.0.0.1:1", host: "localhost", method: "PUT", userAgent: "test"),
                      actor: nil)
    }

    static func waitUntil(_ seconds: Double = 20, _ condition: () -> Bool) -> Bool {
        let deadline = Clock.monotonicNanos() + UInt64(seconds * 1e9)
        while Clock.monotonicNanos() < deadline {
            if condition() { return true }
            usleep(10_000)
        }
        return condition()
    }

    private func notifier(_ directory: String, _ receiver: EventReceiver,
                          configure: (inout EndpointConfiguration) -> Void = { _ in }) throws -> Notifier {
        var endpoint = EndpointConfiguration(name: "hook", url: receiver.url, headers: ["Authorization": ["Bearer t0ken"]],
                                             timeout: 2, threshold: 1, backoff: 0.05)
        configure(&endpoint)
        var quiet = Logger(label: "events-test")
        quiet.logLevel = .critical
        let notifier = try Notifier(endpoints: [endpoint], settings: NotificationQueueSettings(directory: directory),
                                    logger: quiet)
        notifier.start(source: EventSource(addr: "test:5000"))
        return notifier
    }

    /// Digests of the events seen, per repository, in the order received.
    private func order(_ receiver: EventReceiver) -> [String: [String]] {
        var byRepository: [String: [String]] = [:]
        for event in receiver.seen.withLock({ $0.events }) {
            let target = event["target"] as? [String: Any]
            byRepository[target?["repository"] as? String ?? "", default: []].append(target?["digest"] as? String ?? "")
        }
        return byRepository
    }

    @Test func eventsArriveOnceInOrderWithTheHeadersAndAfterTheReceiverWasDown() throws {
        let root = makeTemporaryDirectory(prefix: "swr-events")
        defer { FileSystem.removeTree(root) }
        let receiver = try EventReceiver()
        defer { receiver.stop() }
        let notifier = try notifier(root + "/queue", receiver)
        for n in 0..<20 { notifier.record(Self.event(n, repository: n % 2 == 0 ? "even" : "odd")) }
        #expect(Self.waitUntil { receiver.ids.count >= 20 })

        receiver.down.store(true, ordering: .relaxed)
        for n in 20..<40 { notifier.record(Self.event(n, repository: n % 2 == 0 ? "even" : "odd")) }
        #expect(Self.waitUntil { receiver.seen.withLock { $0.refused } >= 3 }, "retried while down")
        receiver.down.store(false, ordering: .relaxed)
        #expect(Self.waitUntil { receiver.ids.count >= 40 })
        notifier.stop()

        let ids = receiver.ids
        #expect(ids.count == 40 && Set(ids).count == 40, "each event once")
        let order = order(receiver)
        #expect(order["even"] == stride(from: 0, to: 40, by: 2).map { "sha256:\($0)" })
        #expect(order["odd"] == stride(from: 1, to: 40, by: 2).map { "sha256:\($0)" })
        #expect(receiver.seen.withLock { $0.contentTypes } == [EventEnvelope.mediaType])
        #expect(receiver.seen.withLock { $0.authorizations } == ["Bearer t0ken"])
        let source = try #require(receiver.seen.withLock { $0.events.first?["source"] as? [String: String] })
        #expect(source["addr"] == "test:5000")
    }

    @Test func eventsQueuedWhenTheProcessStopsAreSentByTheNextOne() throws {
        let root = makeTemporaryDirectory(prefix: "swr-events")
        defer { FileSystem.removeTree(root) }
        let receiver = try EventReceiver()
        defer { receiver.stop() }
        receiver.down.store(true, ordering: .relaxed)
        let first = try notifier(root + "/queue", receiver)
        for n in 0..<30 { first.record(Self.event(n, repository: "r")) }
        #expect(Self.waitUntil { receiver.seen.withLock { $0.refused } >= 1 })
        first.stop()

        receiver.down.store(false, ordering: .relaxed)
        let second = try notifier(root + "/queue", receiver)
        second.record(Self.event(30, repository: "r"))
        #expect(Self.waitUntil { receiver.ids.count >= 31 })
        second.stop()
        #expect(order(receiver)["r"] == (0...30).map { "sha256:\($0)" })
        #expect(Set(receiver.ids).count == 31)

        // Everything was delivered and recorded as such: a third start sends nothing again.
        let third = try notifier(root + "/queue", receiver)
        usleep(300_000)
        third.stop()
        #expect(receiver.ids.count == 31)
    }

    @Test func filteredEventsAreNeverQueued() throws {
        let root = makeTemporaryDirectory(prefix: "swr-events")
        defer { FileSystem.removeTree(root) }
        let receiver = try EventReceiver()
        defer { receiver.stop() }
        let notifier = try notifier(root + "/queue", receiver) { $0.ignoreActions = [.pull] }
        notifier.record(Self.event(0, repository: "r", action: .pull))
        notifier.record(Self.event(1, repository: "r", action: .push))
        #expect(Self.waitUntil { receiver.ids.count >= 1 })
        notifier.stop()
        #expect(order(receiver)["r"] == ["sha256:1"])
    }
}
