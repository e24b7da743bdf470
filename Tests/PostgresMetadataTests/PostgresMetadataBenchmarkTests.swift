import BlobStore
import Foundation
import OCIModel
import PostgresMetadata
import Testing
import TestSupport

/// Figures for BENCHMARKS.md, run on demand (`SWREGISTRY_PG_BENCH=1 swift test --filter PostgresMetadataBenchmark`):
/// manifest PUT throughput with 8 threads, and catalog and tag page latency at 100,000 repositories and tags.
@Suite(.offCooperativePool, .enabled(if: TestPostgres.conninfo != nil && ProcessInfo.processInfo.environment["SWREGISTRY_PG_BENCH"] != nil),
       .serialized)
struct PostgresMetadataBenchmarkTests {
    static let threads = 8

    /// 8 threads each PUT distinct manifests with a tag. `shared`: all into one repository naming one config blob
    /// (every PUT refreshes the same link and blob rows); otherwise one repository and config per thread.
    func putThroughput(shared: Bool, seconds: Double) throws -> (perSecond: Double, p50: Double, p99: Double) {
        try withReplicas { replicas in
            let store = try PostgresMetadataStore(settings: replicas.database.settings,
                                                  limits: .init(maxOpen: 16, maxIdle: 16))
            defer { store.close() }
            let repos = (0..<Self.threads).map { Fixture.name(shared ? "bench/shared" : "bench/t\($0)") }
            let configs = (0..<Self.threads).map { Fixture.blob(shared ? "config" : "config \($0)") }
            for index in 0..<Self.threads { try store.link(repos[index], configs[index], size: 100, requireKnown: false) }
            let latencies = Latencies()
            let failures = Attempts()
            let deadline = Date().addingTimeInterval(seconds)
            let started = Date()
            DispatchQueue.concurrentPerform(iterations: Self.threads) { thread in
                var n = 0
                while Date() < deadline {
                    // A manifest of its own: the artifact type varies the bytes.
                    let image = Fixture.image(config: configs[thread], layers: [], artifactType: "application/x.\(thread).\(n)")
                    let begin = DispatchTime.now().uptimeNanoseconds
                    do {
                        if try store.putManifest(repos[thread], image, tag: Fixture.tag("t\(thread)-\(n % 10)")) != nil {
                            failures.fail()
                        }
                    } catch {
                        failures.fail()
                    }
                    latencies.add(Double(DispatchTime.now().uptimeNanoseconds - begin) / 1e6)
                    n += 1
                }
            }
            let elapsed = Date().timeIntervalSince(started)
            #expect(failures.failures == 0)
            let count = latencies.count
            // Every PUT stored a manifest of its own.
            let stored = try Set(repos).reduce(0) { sum, name in sum + (try store.revisionEntries(name).count) }
            #expect(stored == count)
            return (Double(count) / elapsed, latencies.percentile(0.5), latencies.percentile(0.99))
        }
    }

    @Test func manifestPutThroughputWith8Threads() throws {
        for shared in [false, true] {
            let figures = try putThroughput(shared: shared, seconds: 10)
            print(String(format: "BENCH manifest PUT, 8 threads, %@: %.0f/s, p50 %.2f ms, p99 %.2f ms",
                         shared ? "one repository, one config" : "a repository each", figures.perSecond,
                         figures.p50, figures.p99))
        }
    }

    @Test func catalogAndTagPagesAt100000() throws {
        try withReplicas { replicas in
            let store = try replicas.open()
            let setup = try replicas.database.connect()
            try setup.execute(script: """
                INSERT INTO repositories (name) SELECT 'repo/' || lpad(i::text, 6, '0') FROM generate_series(1, 100000) i;
                INSERT INTO manifests (repository_id, digest, media_type, payload, created, modified)
                    SELECT id, 'sha256:' || md5(name) || md5(name), 'x', '\\x00', 0, 0 FROM repositories;
                INSERT INTO tags (repository_id, name, manifest_digest, modified)
                    SELECT repository_id, 'latest', digest, 0 FROM manifests;
                INSERT INTO blobs VALUES ('sha256:' || repeat('0', 64), 1, 0);
                INSERT INTO repository_blobs SELECT id, 'sha256:' || repeat('0', 64), 0 FROM repositories;
                INSERT INTO tags (repository_id, name, manifest_digest, modified)
                    SELECT m.repository_id, 'v' || lpad(i::text, 6, '0'), m.digest, 0
                    FROM manifests m, generate_series(1, 100000) i WHERE m.repository_id = 1;
                """)
            // VACUUM sets the visibility map (index-only scans), and cannot run inside the script's transaction.
            try setup.execute(script: "VACUUM ANALYZE")
            let catalog = Latencies(), tags = Latencies()
            for round in 0..<300 {
                let start = String(format: "repo/%06d", (round * 331) % 99_000)
                var begin = DispatchTime.now().uptimeNanoseconds
                let page = try store.repositoryPage(after: start, limit: 100, include: { _ in true })
                catalog.add(Double(DispatchTime.now().uptimeNanoseconds - begin) / 1e6)
                #expect(page.names.count == 100)
                let after = String(format: "v%06d", (round * 331) % 99_000)
                begin = DispatchTime.now().uptimeNanoseconds
                let tagPage = try store.tagPage(Fixture.name("repo/000001"), after: after, limit: 100)
                tags.add(Double(DispatchTime.now().uptimeNanoseconds - begin) / 1e6)
                #expect(tagPage.tags.count == 100)
            }
            var begin = DispatchTime.now().uptimeNanoseconds
            var walked = 0
            var last: String?
            while true {
                let page = try store.repositoryPage(after: last, limit: 1000, include: { _ in true })
                walked += page.names.count
                last = page.names.last
                if !page.more { break }
            }
            let walk = Double(DispatchTime.now().uptimeNanoseconds - begin) / 1e6
            #expect(walked == 100_000)
            begin = DispatchTime.now().uptimeNanoseconds
            let allTags = try store.tagPage(Fixture.name("repo/000001"), after: nil, limit: nil)
            let tagWalk = Double(DispatchTime.now().uptimeNanoseconds - begin) / 1e6
            #expect(allTags.tags.count == 100_001)
            print(String(format: "BENCH catalog page n=100 at 100,000 repositories: p50 %.2f ms, p99 %.2f ms; whole catalog (n=1000 pages) %.0f ms",
                         catalog.percentile(0.5), catalog.percentile(0.99), walk))
            print(String(format: "BENCH tag page n=100 at 100,000 tags: p50 %.2f ms, p99 %.2f ms; all 100,001 tags in one answer %.0f ms",
                         tags.percentile(0.5), tags.percentile(0.99), tagWalk))
            #expect(catalog.percentile(0.5) <= 10 && tags.percentile(0.5) <= 10)
        }
    }
}

/// Latencies (ms) recorded from several threads.
final class Latencies: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [Double] = []
    func add(_ value: Double) { lock.withLock { values.append(value) } }
    var count: Int { lock.withLock { values.count } }
    func percentile(_ p: Double) -> Double {
        lock.withLock {
            let sorted = values.sorted()
            guard !sorted.isEmpty else { return 0 }
            return sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
        }
    }
}
