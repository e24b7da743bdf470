import BlobStore
import Foundation
import Glibc
import HTTPServer
import Logging
import OCIModel
import Prometheus
@testable import Registry
import RegistryAuth
import Synchronization
import SystemIO
import Testing
import TestSupport
@testable import swregistry

/// `/metrics` on the main listener (figures that move with the requests made, the access rules, off when disabled),
/// the debug listener, `/readyz`, and the store's blob count.
@Suite(.offCooperativePool, .serialized) struct MetricsTests {
    /// A registry whose metrics go to a Prometheus registry of its own (no global bootstrap: tests share a process).
    static func fixture(security: RegistrySecurity? = nil, enabled: Bool = true) throws -> (RegistryFixture, MetricsExporter) {
        let exporter = MetricsExporter()
        let r = try RegistryFixture(observers: [exporter.requests]) { config in
            config.metricsFactory = exporter.factory
            config.security = security
            if enabled { config.metricsExposition = { exporter.render() } }
        }
        exporter.attach(store: r.responder.fileStore!)
        let server = r.server
        exporter.attach(connectionCount: { server.connectionCount })
        return (r, exporter)
    }

    // MARK: - Figures that move

    @Test func requestCountsBytesAndCacheFiguresMoveWithTheRequestsMade() throws {
        let (r, _) = try Self.fixture()
        defer { r.stop() }
        let image = try r.pushImage("metrics/app", tag: "v1", seed: "metrics-move")
        r.responder.fileStore!.statistics.count(r.responder.fileStore!.layout)
        // The manifest PUT's exchange is counted once its response is sent, which can be after the client has it.
        let manifestPUT = series("swregistry_http_requests_total", ["route": "manifest", "method": "PUT", "status": "201"])
        let before = try scrape(r, until: { $0[manifestPUT] != nil })
        let manifestGET = series("swregistry_http_requests_total", ["route": "manifest", "method": "GET", "status": "200"])
        let manifestHEAD = series("swregistry_http_requests_total", ["route": "manifest", "method": "HEAD", "status": "200"])
        let missing = series("swregistry_http_requests_total", ["route": "manifest", "method": "GET", "status": "404"])
        let sentManifest = series("swregistry_http_sent_bytes_total", ["route": "manifest"])
        let receivedBlob = series("swregistry_http_received_bytes_total", ["route": "upload"])
        #expect(before[manifestPUT] == 1)
        #expect((before[receivedBlob] ?? 0) >= Double(image.config.size + image.layers.map(\.size).reduce(0, +)))
        #expect(before[series("swregistry_store_blobs", [:])] == 4, "config, two layers, manifest")
        #expect(before[series("swregistry_store_blob_bytes", [:])]
                == Double(image.bytes.count + image.config.size + image.layers.map(\.size).reduce(0, +)))

        for _ in 0..<5 { #expect(try r.request("GET", "/v2/metrics/app/manifests/v1").status == 200) }
        for _ in 0..<3 { #expect(try r.request("HEAD", "/v2/metrics/app/manifests/v1").status == 200) }
        for _ in 0..<2 { #expect(try r.request("GET", "/v2/metrics/app/manifests/nope").status == 404) }
        let after = try scrape(r, until: { ($0[manifestGET] ?? 0) - (before[manifestGET] ?? 0) >= 5
                                          && ($0[missing] ?? 0) >= 2 && ($0[manifestHEAD] ?? 0) >= 3 })
        #expect(after[manifestGET]! - (before[manifestGET] ?? 0) == 5)
        #expect(after[manifestHEAD]! - (before[manifestHEAD] ?? 0) == 3)
        #expect(after[missing]! - (before[missing] ?? 0) == 2)
        #expect(after[sentManifest]! - (before[sentManifest] ?? 0) >= Double(5 * image.bytes.count))
        // The first GET after the push reads the store (and caches the GET and HEAD answers); the other four GETs
        // and the three HEADs are answered from the cache; each GET of a missing tag reads the store.
        let hits = series("swregistry_manifest_cache_hits_total", [:])
        let misses = series("swregistry_manifest_cache_misses_total", [:])
        #expect(after[hits]! - before[hits]! == 7)
        #expect(after[misses]! - before[misses]! == 3)
        let durations = series("swregistry_http_request_duration_seconds_count", ["route": "manifest", "method": "GET"])
        #expect(after[durations] == (after[manifestGET] ?? 0) + (after[missing] ?? 0))
        #expect((after[series("swregistry_http_open_connections", [:])] ?? 0) >= 1, "the scrape's own connection")

        // An upload in progress shows; a new blob adds to the store figures.
        let upload = try r.startUpload("metrics/app")
        let during = try scrape(r)
        #expect(during[series("swregistry_uploads_in_progress", [:])] == 1)
        let extra = testBytes(1000, seed: "metrics-extra")
        #expect(try r.request("PUT", appendingQuery(upload, "digest=\(Digest.sha256(of: extra))"), body: extra).status == 201)
        let last = try scrape(r)
        #expect(last[series("swregistry_uploads_in_progress", [:])] == 0)
        #expect(last[series("swregistry_store_blobs", [:])] == 5)
        #expect(last[series("swregistry_store_blob_bytes", [:])]! - before[series("swregistry_store_blob_bytes", [:])]! == 1000)
    }

    @Test func anUnknownMethodIsCountedAsOther() throws {
        let (r, _) = try Self.fixture()
        defer { r.stop() }
        #expect(try r.request("BREW", "/v2/").status == 405)
        let other = series("swregistry_http_requests_total", ["route": "base", "method": "other", "status": "405"])
        let figures = try scrape(r, until: { $0[other] != nil })
        #expect(figures[other] == 1)
        let text = try r.request("GET", "/metrics").text
        #expect(!text.contains("BREW"))
    }

    // MARK: - Who may read /metrics

    @Test func openRegistryServesMetricsToAnyone() throws {
        let (r, _) = try Self.fixture()
        defer { r.stop() }
        let response = try r.request("GET", "/metrics")
        #expect(response.status == 200)
        #expect(response.header("Content-Type") == "text/plain; version=0.0.4; charset=utf-8")
        #expect(response.text.contains("# TYPE swregistry_http_open_connections gauge"))
        #expect(try r.request("HEAD", "/metrics").status == 200)
        #expect(try r.request("POST", "/metrics").status == 405)
    }

    @Test func withAuthenticationAndNoPolicyAnyUserMayReadMetrics() throws {
        let (r, _) = try Self.fixture(security: AccessRulesTests.security(nil))
        defer { r.stop() }
        let anonymous = try r.request("GET", "/metrics")
        expectOCIError(anonymous, 401, .unauthorized)
        #expect(anonymous.header("WWW-Authenticate") != nil)
        #expect(try r.request("GET", "/metrics", headers: [("Authorization", AccessRulesTests.alice)]).status == 200)
        #expect(try r.request("GET", "/healthz").status == 200)
        #expect(try r.request("GET", "/readyz").status == 200)
    }

    @Test func withAPolicyOnlyAdministratorsMayReadMetrics() throws {
        let (r, _) = try Self.fixture(security: AccessRulesTests.security())
        defer { r.stop() }
        expectOCIError(try r.request("GET", "/metrics"), 401, .unauthorized)
        expectOCIError(try r.request("GET", "/metrics", headers: [("Authorization", AccessRulesTests.alice)]), 403, .denied)
        let admin = try r.request("GET", "/metrics", headers: [("Authorization", AccessRulesTests.root)])
        #expect(admin.status == 200)
        #expect(admin.text.contains("swregistry_http_requests_total"))
        #expect(try r.request("GET", "/healthz").status == 200)
        #expect(try r.request("GET", "/readyz").status == 200)
    }

    @Test func authenticationFailuresAreCountedByReason() throws {
        let (r, _) = try Self.fixture(security: AccessRulesTests.security())
        defer { r.stop() }
        r.authorization = AccessRulesTests.root  // for the scrapes
        let bad = series("swregistry_auth_failures_total", ["reason": "bad_credentials"])
        let denied = series("swregistry_auth_failures_total", ["reason": "denied"])
        let before = try scrape(r)
        #expect(before[bad] == 0 && before[denied] == 0, "every reason is exported from the start")
        #expect(try r.request("GET", "/v2/", headers: [("Authorization", basicAuthorization("alice", "wrong"))]).status == 401)
        #expect(try r.request("GET", "/v2/bob/app/tags/list", headers: [("Authorization", AccessRulesTests.alice)]).status == 403)
        #expect(try TestClient(port: r.port).request("GET", "/v2/").status == 401)
        let after = try scrape(r)
        #expect(after[bad] == 1)
        #expect(after[denied] == 1, "a challenge without credentials is not a failure")
    }

    @Test func disabledMetricsAreNotFound() throws {
        let (r, _) = try Self.fixture(enabled: false)
        defer { r.stop() }
        #expect(try r.request("GET", "/metrics").status == 404)
        #expect(try r.request("GET", "/readyz").status == 200)
    }

    // MARK: - The debug listener

    @Test func debugListenerServesMetricsAndProbesWithoutAuthenticationAndNothingElse() async throws {
        let (r, exporter) = try Self.fixture(security: AccessRulesTests.security())
        defer { r.stop() }
        var quiet = Logger(label: "debug-test")
        quiet.logLevel = .critical
        var settings = ServerConfiguration(address: try SocketAddress(parsing: "127.0.0.1:0"), eventLoopCount: 1)
        let debug = try HTTPServer(configuration: settings,
                                   responder: DebugResponder(metrics: { exporter.render() }, readiness: r.responder.readiness),
                                   logger: quiet)
        defer { debug.shutdown(grace: 0); debug.wait() }
        let port = debug.localAddress.port
        let metrics = try TestClient(port: port).request("GET", "/metrics")
        #expect(metrics.status == 200)
        #expect(metrics.header("Content-Type") == "text/plain; version=0.0.4; charset=utf-8")
        #expect(metrics.text.contains("swregistry_auth_failures_total"))
        #expect(try TestClient(port: port).request("GET", "/healthz").status == 200)
        #expect(try TestClient(port: port).request("GET", "/readyz").text.contains(#""status":"ok""#))
        #expect(try TestClient(port: port).request("GET", "/v2/").status == 404)
        #expect(try TestClient(port: port).request("GET", "/v2/_catalog").status == 404)
        #expect(try TestClient(port: port).request("DELETE", "/metrics").status == 405)

        let off = try HTTPServer(configuration: settings,
                                 responder: DebugResponder(metrics: nil, readiness: r.responder.readiness), logger: quiet)
        defer { off.shutdown(grace: 0); off.wait() }
        #expect(try TestClient(port: off.localAddress.port).request("GET", "/metrics").status == 404)
        #expect(try TestClient(port: off.localAddress.port).request("GET", "/healthz").status == 200)
    }

    // MARK: - Readiness

    @Test func readyzTurns503WhenTheStoreCannotBeWrittenAndBackWhenItCan() async throws {
        let (r, _) = try Self.fixture()
        defer { r.stop() }
        #expect(try r.request("GET", "/readyz").status == 200)
        // A file where tmp/ should be: creating in it fails even for root (ENOTDIR), which a chmod would not do.
        let tmp = r.storagePath + "/tmp"
        #expect(rename(tmp, tmp + ".away") == 0)
        #expect(creat(tmp, 0o600) >= 0)
        let failing = try poll { try r.request("GET", "/readyz") } until: { $0.status == 503 }
        #expect(failing.status == 503)
        #expect(failing.header("Content-Type") == "application/json")
        let body = try JSONSerialization.jsonObject(with: Data(failing.body)) as? [String: String]
        #expect(body?["status"] == "unavailable")
        #expect(body?["reason"]?.contains("storage not writable") == true, "\(failing.text)")
        #expect(body?["reason"]?.contains(r.storagePath) == false, "no path in an unauthenticated answer")
        #expect(unlink(tmp) == 0 && rename(tmp + ".away", tmp) == 0)
        #expect(try poll { try r.request("GET", "/readyz") } until: { $0.status == 200 }.status == 200)
        #expect(try r.request("GET", "/healthz").status == 200, "alive all along")
    }

    @Test func readinessProbeCachesForASecondAndReportsShutdownAndAHungStorage() async throws {
        let calls = CallCounter()
        let failure = Flag()
        let probe = ReadinessProbe(check: { calls.add(); return failure.isSet ? "storage not writable: test" : nil },
                                   execute: { work in Thread.start(name: "probe-test") { work() } },
                                   interval: 2, patience: 1)
        // Two seconds: the three calls below fit in it even on a loaded machine (0.3 s did not, in CI).
        #expect(await probe.status() == .ready)
        #expect(await probe.status() == .ready)
        #expect(calls.value == 1, "within the interval the result is reused")
        failure.set()
        #expect(await probe.status() == .ready, "still the cached result")
        usleep(2_100_000)
        #expect(await probe.status() == .notReady(reason: "storage not writable: test"))
        #expect(calls.value == 2)
        probe.beginShutdown()
        #expect(await probe.status() == .notReady(reason: "shutting down"))

        // A test that never returns: the caller is answered after `patience`, and later callers at once.
        // The check takes 10 s, the bound below 5 s: a loaded machine delayed the answer to 1.7 s (patience 0.3 s).
        let hung = ReadinessProbe(check: { usleep(10_000_000); return nil },
                                  execute: { work in Thread.start(name: "probe-hung") { work() } },
                                  interval: 0.1, patience: 0.3)
        let start = Clock.monotonicNanos()
        guard case .notReady(let reason) = await hung.status() else { Issue.record("a hung storage is ready"); return }
        #expect(reason.contains("has not completed a test write"))
        #expect(Clock.monotonicNanos() - start < 5_000_000_000)
        guard case .notReady = await hung.status() else { Issue.record("a hung storage is ready"); return }
    }

    @Test func writeTestFailsOnAMissingFolderAndLeavesNothingBehind() throws {
        let folder = makeTemporaryDirectory(prefix: "swr-readyz")
        defer { removeTree(folder) }
        #expect(ReadinessProbe.writeTest(in: folder) == nil)
        #expect(directoryEntries(folder).isEmpty)
        #expect(ReadinessProbe.writeTest(in: folder + "/missing")?.contains("No such file or directory") == true)
    }

    // MARK: - Stored blobs

    @Test func storeStatisticsCountOnceThenFollowAdditionsAndRemovals() throws {
        let folder = makeTemporaryDirectory(prefix: "swr-stats")
        defer { removeTree(folder) }
        let store = try BlobStore(root: folder)
        let name = try RepositoryName(validating: "stats/app")
        var sizes: [Digest: Int64] = [:]
        for i in 0..<20 {
            let bytes = testBytes(10 + i, seed: "stats-\(i)")
            let upload = try store.uploads.start(name, owner: "t")
            try store.uploads.append(upload, bytes)
            let digest = Digest.sha256(of: bytes)
            try store.uploads.commit(upload, expected: digest, into: store)
            sizes[digest] = Int64(bytes.count)
        }
        #expect(store.statistics.totals == nil, "not counted until asked")
        store.statistics.count(store.layout)
        #expect(store.statistics.totals == StoreStatistics.Totals(blobs: 20, bytes: sizes.values.reduce(0, +)))
        // The same blob again adds nothing; a new one adds itself; a removal takes it away.
        let again = testBytes(10, seed: "stats-0")
        let upload = try store.uploads.start(name, owner: "t")
        try store.uploads.append(upload, again)
        try store.uploads.commit(upload, expected: Digest.sha256(of: again), into: store)
        #expect(store.statistics.totals?.blobs == 20)
        let (digest, size) = sizes.first!
        store.statistics.blobRemoved(digest, size: size)
        #expect(store.statistics.totals == StoreStatistics.Totals(blobs: 19, bytes: sizes.values.reduce(0, +) - size))
    }

    /// Blobs added and removed while the walk runs, before and after the point it reached, are each counted once.
    @Test func storeStatisticsCountEachBlobOnceWhateverChangesDuringTheWalk() throws {
        let folder = makeTemporaryDirectory(prefix: "swr-stats-walk")
        defer { removeTree(folder) }
        let store = try BlobStore(root: folder)
        let layout = store.layout
        func write(_ bytes: [UInt8]) throws -> Digest {
            let digest = Digest.sha256(of: bytes)
            try FileSystem.makeDirectories(layout.blobDirectory(digest))
            try FileSystem.writeAtomically(bytes, to: layout.blob(digest), tmpDirectory: layout.tmpDirectory)
            return digest
        }
        var existing: [Digest] = []
        for i in 0..<12 { existing.append(try write(testBytes(50 + i, seed: "walk-\(i)"))) }
        existing.sort()
        // Candidates for new blobs; which side of the walk's position each falls on is known once it is reached.
        let fresh = (0..<40).map { testBytes(500 + $0, seed: "fresh-\($0)") }
        var seen = 0
        var changed = false
        store.statistics.count(layout) { _ in
            seen += 1
            guard seen == 6, !changed else { return }
            changed = true
            let passed = existing[2]  // the walk counted it
            let ahead = existing[10]  // not reached yet
            for digest in [passed, ahead] {
                let size = FileSystem.fileSize(layout.blob(digest))!
                unlink(layout.blob(digest))
                store.statistics.blobRemoved(digest, size: size)
            }
            // New blobs on both sides of the position: each reported, and on disk where the walk may find it.
            for bytes in fresh.prefix(6) {
                let digest = try! write(bytes)
                store.statistics.blobAdded(digest, size: Int64(bytes.count))
            }
            // One added then removed again, one removed then written back.
            let transient = try! write(fresh[6])
            store.statistics.blobAdded(transient, size: Int64(fresh[6].count))
            unlink(layout.blob(transient))
            store.statistics.blobRemoved(transient, size: Int64(fresh[6].count))
        }
        #expect(changed)
        var onDisk = StoreStatistics.Totals(blobs: 0, bytes: 0)
        for prefix in try FileSystem.list(layout.blobsDirectory + "/sha256") {
            for name in try FileSystem.list(layout.blobsDirectory + "/sha256/" + prefix) {
                onDisk.blobs += 1
                onDisk.bytes += FileSystem.fileSize(layout.blobsDirectory + "/sha256/\(prefix)/\(name)")!
            }
        }
        #expect(onDisk.blobs == 12 - 2 + 6)
        #expect(store.statistics.totals == onDisk)
    }

    // MARK: - Helpers

    /// `name{labels}` as the exposition writes it, labels sorted: the key of `parseExposition`.
    func series(_ name: String, _ labels: [String: String]) -> String {
        guard !labels.isEmpty else { return name }
        return name + "{" + labels.sorted { $0.key < $1.key }.map { "\($0.key)=\"\($0.value)\"" }.joined(separator: ",") + "}"
    }

    /// `/metrics` read and parsed, until `condition` holds (the observer runs just after the response is written,
    /// so the last request may not be counted yet when its answer arrives).
    func scrape(_ r: RegistryFixture, until condition: ([String: Double]) -> Bool = { _ in true }) throws -> [String: Double] {
        try poll({
            let response = try r.request("GET", "/metrics")
            guard response.status == 200 else { throw FixtureError("/metrics answered \(response.status)") }
            return try parseExposition(response.text)
        }, until: condition)
    }

    func poll<T>(_ body: () throws -> T, until condition: (T) -> Bool) throws -> T {
        var value = try body()
        for _ in 0..<100 where !condition(value) {
            usleep(20_000)
            value = try body()
        }
        return value
    }

    /// The samples of a text exposition (format 0.0.4), keyed as `series` makes them.
    func parseExposition(_ text: String) throws -> [String: Double] {
        var samples: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else {
                throw FixtureError("not a sample line: \(line)")
            }
            let key = line[..<space]
            guard let brace = key.firstIndex(of: "{") else {
                samples[String(key)] = value
                continue
            }
            var labels: [String: String] = [:]
            for pair in key[key.index(after: brace)..<key.index(before: key.endIndex)].split(separator: ",") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                labels[String(parts[0])] = String(parts[1].dropFirst().dropLast())
            }
            samples[series(String(key[..<brace]), labels)] = value
        }
        return samples
    }
}

private final class CallCounter: Sendable {
    private let count = Atomic<Int>(0)
    func add() { count.add(1, ordering: .relaxed) }
    var value: Int { count.load(ordering: .relaxed) }
}

private final class Flag: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { value.store(true, ordering: .relaxed) }
    var isSet: Bool { value.load(ordering: .relaxed) }
}
