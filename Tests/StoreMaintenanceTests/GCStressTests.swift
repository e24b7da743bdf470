import BlobStore
import Glibc
import HTTPServer
import Logging
import OCIModel
import Registry
import StoreMaintenance
import Synchronization
import SystemIO
import Testing
import TestSupport

/// Collections with grace 0 running in a loop against a live server while clients push images (layers shared
/// from a small pool, found with HEAD and then not uploaded again), mount, move tags and delete manifests and
/// tags: afterwards every tagged image pulls whole, and a last collection leaves exactly what the tags reach.
///
/// Grace 0 is the hardest case: only the reference lock and the touches keep a blob that a push found present
/// from being collected under it. Checked by hand: with the touches in `BlobStore.putManifest` removed, this
/// test fails (tags naming manifests whose layers are gone; 2 runs of 2). With `ReferenceLock` a no-op it passed
/// 2 runs of 2: the touches leave the lock only a window of microseconds here, which `GCRaceTests` opens wide
/// and which fails there without the lock.
@Suite(.serialized) struct GCStressTests {
    final class Counters: Sendable {
        let pushed = Atomic<Int>(0)
        let refused = Atomic<Int>(0)
        let deleted = Atomic<Int>(0)
        let collections = Atomic<Int>(0)
        let removedBlobs = Atomic<Int>(0)
        let failures = Mutex<[String]>([])
        func fail(_ text: String) { failures.withLock { if $0.count < 20 { $0.append(text) } } }
    }

    static let seconds = Double(getenv("SWREGISTRY_TEST_GC_STRESS_SECONDS").flatMap { Double(String(cString: $0)) } ?? 12)

    @Test func pushesTagMovesDeletesAndCollectionsTogether() throws {
        let root = makeTemporaryDirectory(prefix: "swr-gc-stress")
        defer { FileSystem.removeTree(root) }
        var quiet = Logger(label: "gc-stress")
        quiet.logLevel = .critical
        let responder = try RegistryResponder(configuration: RegistryConfiguration(storagePath: root), logger: quiet)
        let server = try HTTPServer(
            configuration: ServerConfiguration(address: try SocketAddress(parsing: "127.0.0.1:0"), eventLoopCount: 2),
            responder: responder, logger: quiet)
        defer {
            server.shutdown(grace: 1)
            server.wait()
        }
        let port = server.localAddress.port
        let store = responder.fileStore!
        let counters = Counters()
        let deadline = GarbageCollector.nowSeconds() + Self.seconds
        let repositories = ["stress/a", "stress/b", "stress/c"]
        // The pool: layers shared by many images, so that a layer is often garbage and wanted again at once.
        let pool = (0..<10).map { testBytes(2000 + $0 * 100, seed: "pool-\($0)") }

        var threads: [pthread_t] = []
        for worker in 0..<4 {
            threads.append(SystemIO.Thread.start(name: "gc-pusher") {
                var rng = SystemRandomNumberGenerator()
                var round = 0
                while GarbageCollector.nowSeconds() < deadline {
                    round += 1
                    let repo = repositories[Int.random(in: 0..<repositories.count, using: &rng)]
                    let layers = [pool[Int.random(in: 0..<pool.count, using: &rng)],
                                  pool[Int.random(in: 0..<pool.count, using: &rng)],
                                  testBytes(500, seed: "unique-\(worker)-\(round)")]
                    let config = Array(#"{"os":"linux","n":\#(Int.random(in: 0..<6, using: &rng))}"#.utf8)
                    let tag = "t\(Int.random(in: 0..<4, using: &rng))"
                    do {
                        let client = try Self.fastClient(port)
                        // With grace 0 an uploaded blob is garbage until its manifest names it: a collection between
                        // the upload (or the HEAD) and the PUT takes it, and the PUT is refused. A client retries.
                        var image: Item?
                        for _ in 0..<5 where image == nil {
                            image = try Self.pushImage(client, repo, config: config, layers: layers, tag: tag)
                            if image == nil { counters.refused.add(1, ordering: .relaxed) }
                        }
                        switch image {
                        case .some(let manifest):
                            counters.pushed.add(1, ordering: .relaxed)
                            // Now and then an index of it, or its removal by digest.
                            if round % 5 == 0 {
                                let index = #"{"schemaVersion":2,"mediaType":"\#(MediaType.ociIndex.rawValue)","manifests":[\#(manifest.json)]}"#
                                let put = try client.request("PUT", "/v2/\(repo)/manifests/idx\(worker)",
                                                             headers: [("Content-Type", MediaType.ociIndex.rawValue)], body: Array(index.utf8))
                                if put.status != 201 && ociCode(put) != "MANIFEST_BLOB_UNKNOWN" { counters.fail("index PUT \(put.status) \(put.text)") }
                            } else if round % 3 == 0 {
                                let status = try client.request("DELETE", "/v2/\(repo)/manifests/\(manifest.digest)").status
                                if status == 202 { counters.deleted.add(1, ordering: .relaxed) }
                            }
                        case .none:
                            break
                        }
                        if round % 4 == 0 {
                            // A mount of a pool layer from another repository (found there by HEAD, or not).
                            let from = repositories[Int.random(in: 0..<repositories.count, using: &rng)]
                            let digest = Digest.sha256(of: pool[Int.random(in: 0..<pool.count, using: &rng)])
                            _ = try client.request("POST", "/v2/\(repo)/blobs/uploads/?mount=\(digest)&from=\(from)")
                        }
                        if round % 7 == 0 {
                            _ = try client.request("DELETE", "/v2/\(repo)/manifests/t\(Int.random(in: 0..<4, using: &rng))")
                        }
                    } catch {
                        counters.fail("client: \(error)")
                    }
                }
            })
        }
        for collectorIndex in 0..<2 {
            threads.append(SystemIO.Thread.start(name: "gc-collector") {
                var options = GCOptions(graceSeconds: 0)
                options.deleteUntagged = collectorIndex == 1
                options.batchSize = 16
                while GarbageCollector.nowSeconds() < deadline {
                    do throws(GarbageCollector.Failure) {
                        let report = try GarbageCollector(store: store, options: options, output: CollectedOutput()).run()
                        counters.collections.add(1, ordering: .relaxed)
                        counters.removedBlobs.add(report.count(.blob), ordering: .relaxed)
                        // Back to back, collections would leave a push (some 100 ms here: fsyncs) no moment between
                        // its uploads and its manifest; random pauses let many through, and many still race.
                        usleep(UInt32.random(in: 0...120_000))
                    } catch .alreadyRunning {
                        usleep(1000)
                    } catch {
                        counters.fail("gc: \(error)")
                    }
                }
            })
        }
        for thread in threads { pthread_join(thread, nil) }
        #expect(counters.failures.withLock { $0 } == [])
        let pushed = counters.pushed.load(ordering: .relaxed), collections = counters.collections.load(ordering: .relaxed)
        print("gc stress: \(pushed) images pushed, \(counters.refused.load(ordering: .relaxed)) manifest PUTs refused (blob collected before it), "
              + "\(counters.deleted.load(ordering: .relaxed)) deleted, \(collections) collections removed "
              + "\(counters.removedBlobs.load(ordering: .relaxed)) blobs")
        #expect(pushed >= 10 && collections >= 5 && counters.removedBlobs.load(ordering: .relaxed) > 0)

        // Every tagged image pulls whole over HTTP, each blob re-hashing to its digest.
        let client = try TestClient(port: port)
        var problems: [String] = []
        for repo in repositories {
            let list = try client.request("GET", "/v2/\(repo)/tags/list")
            guard list.status == 200 else { continue }
            let tags = (try? JSONCoding.decode(TagList.self, from: list.body).tags) ?? nil
            for tag in tags ?? [] { problems += try Self.pullProblems(client, repo, reference: tag, depth: 0) }
        }
        #expect(problems == [])
        let builder = StoreBuilder(store: store)
        #expect(try builder.pullProblems() == [])

        // A last collection (grace 0, once the clock has moved past every touch) leaves exactly the reachable set.
        usleep(50_000)
        _ = try GarbageCollector(store: store, options: GCOptions(deleteUntagged: true, graceSeconds: 0), output: CollectedOutput()).run()
        #expect(try builder.unreachable(deleteUntagged: true) == [])
        #expect(try builder.pullProblems() == [])
    }

    struct TagList: Decodable { let tags: [String]? }

    /// A client whose small writes (head, then body) are not held back by Nagle's algorithm waiting for the
    /// server's delayed ACK (40 ms a request).
    static func fastClient(_ port: UInt16) throws -> TestClient {
        let client = try TestClient(port: port)
        var on: Int32 = 1
        setsockopt(client.fd, Int32(IPPROTO_TCP), TCP_NODELAY, &on, socklen_t(MemoryLayout<Int32>.size))
        return client
    }

    /// Pushes an image as a client does: HEAD each blob, upload only the missing ones, then PUT the manifest.
    /// - Returns: the manifest, or nil when the registry refused it because a blob found by HEAD was collected
    ///   before the PUT (grace 0 allows that; never a manifest stored with a missing blob).
    static func pushImage(_ client: TestClient, _ repo: String, config: [UInt8], layers: [[UInt8]], tag: String) throws -> Item? {
        var items: [Item] = []
        for (position, bytes) in ([config] + layers).enumerated() {
            let digest = Digest.sha256(of: bytes)
            if try client.request("HEAD", "/v2/\(repo)/blobs/\(digest)").status != 200 {
                let put = try client.request("POST", "/v2/\(repo)/blobs/uploads/?digest=\(digest)", body: bytes)
                guard put.status == 201 else { throw FixtureFailure("upload \(put.status) \(put.text)") }
            }
            items.append(Item(digest: digest, size: bytes.count,
                              mediaType: position == 0 ? MediaType.ociConfig.rawValue : MediaType.ociLayerGzip.rawValue))
        }
        let text = #"{"schemaVersion":2,"mediaType":"\#(MediaType.ociManifest.rawValue)","config":\#(items[0].json),"layers":["#
            + items.dropFirst().map(\.json).joined(separator: ",") + "]}"
        let put = try client.request("PUT", "/v2/\(repo)/manifests/\(tag)",
                                     headers: [("Content-Type", MediaType.ociManifest.rawValue)], body: Array(text.utf8))
        if put.status == 201 { return Item(digest: .sha256(of: Array(text.utf8)), size: text.utf8.count, mediaType: MediaType.ociManifest.rawValue) }
        if ociCode(put) == "MANIFEST_BLOB_UNKNOWN" { return nil }
        throw FixtureFailure("manifest PUT \(put.status) \(put.text)")
    }

    static func pullProblems(_ client: TestClient, _ repo: String, reference: String, depth: Int) throws -> [String] {
        let manifest = try client.request("GET", "/v2/\(repo)/manifests/\(reference)",
                                          headers: [("Accept", "\(MediaType.ociManifest.rawValue), \(MediaType.ociIndex.rawValue)")])
        // Nothing changes any more: a listed tag or a child that does not answer is a problem.
        guard manifest.status == 200 else { return ["\(repo):\(reference): \(manifest.status)"] }
        let references = ManifestReferences(bytes: manifest.body)
        var problems: [String] = []
        for blob in references.blobs {
            let get = try client.request("GET", "/v2/\(repo)/blobs/\(blob)")
            if get.status != 200 || Digest.sha256(of: get.body) != blob { problems.append("\(repo)@\(reference): blob \(blob) \(get.status)") }
        }
        if depth < 3 {
            for child in references.manifests { problems += try pullProblems(client, repo, reference: child.description, depth: depth + 1) }
        }
        return problems
    }
}

/// Deterministic pseudo-random bytes.
func testBytes(_ count: Int, seed: String) -> [UInt8] {
    var state: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in seed.utf8 { state = (state ^ UInt64(byte)) &* 0x100_0000_01b3 }
    return (0..<count).map { _ in
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return UInt8(truncatingIfNeeded: state)
    }
}

struct FixtureFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The OCI error code of an error answer.
func ociCode(_ response: TestClient.Response) -> String? {
    let text = response.text
    guard let range = text.range(of: #""code":""#) else { return nil }
    return String(text[range.upperBound...].prefix { $0 != "\"" })
}
