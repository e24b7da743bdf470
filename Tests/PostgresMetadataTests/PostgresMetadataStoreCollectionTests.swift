import BlobStore
import Foundation
import OCIModel
@testable import PostgresMetadata
import Testing
import TestSupport

@Suite(.offCooperativePool, .enabled(if: TestPostgres.enabled), .serialized)
struct PostgresMetadataStoreCollectionTests {
    let repo = Fixture.name("team/app")

    @Test func removalsHonourTheCutoffAndWhatStillNamesThem() throws {
        try withReplicas { replicas in
            let store = try replicas.open()
            let config = Fixture.blob("c"), layer = Fixture.blob("l"), loose = Fixture.blob("loose")
            let before = try store.collectionClock()
            for blob in [config, layer, loose] { try store.link(repo, blob, size: 3, requireKnown: false) }
            let image = Fixture.image(config: config, layers: [layer])
            #expect(try store.putManifest(repo, image, tag: Fixture.tag("v1")) == nil)
            #expect(try store.tagEntries(repo).map(\.tag.value) == ["v1"])
            #expect(try store.revisionEntries(repo).map(\.digest) == [image.digest])
            #expect(try Set(store.layerLinkEntries(repo).map(\.digest)) == [config, layer, loose])
            #expect(try Set(store.blobEntries().map(\.digest)) == [config, layer, loose])
            #expect(try store.blobEntries().allSatisfy { $0.modified > before && $0.size == 3 })
            #expect(try store.manifestBytes(image.digest, maxBytes: 1 << 20) == image.bytes)
            #expect(try store.manifestBytes(image.digest, maxBytes: 10) == nil)

            let cutoff = try store.collectionClock()
            // Recorded inside, checked outside: `#expect` does not fit a typed-throws closure.
            let outcomes = try store.exclusively { () throws(StoreError) -> [String] in
                [
                    // Not older than `before`.
                    "\(try store.removeTag(repo, Fixture.tag("v1"), pointingTo: image.digest, modifiedBefore: before))",
                    // Pointing elsewhere now: kept.
                    "\(try store.removeTag(repo, Fixture.tag("v1"), pointingTo: layer, modifiedBefore: cutoff))",
                    // A tagged manifest is never removed.
                    "\(try store.removeRevision(repo, image.digest, subject: nil, modifiedBefore: cutoff))",
                    // A blob still linked keeps its record.
                    "\(String(describing: try store.removeBlobRecord(loose, modifiedBefore: cutoff)))",
                    "\(try store.removeLayerLink(repo, loose, modifiedBefore: cutoff))",
                    "\(String(describing: try store.removeBlobRecord(loose, modifiedBefore: cutoff)))",
                    "\(try store.removeTag(repo, Fixture.tag("v1"), pointingTo: image.digest, modifiedBefore: cutoff))",
                    "\(try store.removeRevision(repo, image.digest, subject: nil, modifiedBefore: cutoff))",
                    "\(try store.removeLayerLink(repo, layer, modifiedBefore: cutoff))",
                    "\(String(describing: try store.removeBlobRecord(layer, modifiedBefore: cutoff)))",
                ]
            }
            #expect(outcomes == ["false", "false", "false", "nil", "true", "Optional(3)", "true", "true", "true",
                                 "Optional(3)"])
            #expect(try store.revisionEntries(repo).isEmpty)
            #expect(try Set(store.blobEntries().map(\.digest)) == [config])
        }
    }

    @Test func aManifestStillNamingABlobKeepsItsRecordInAnyRepository() throws {
        try withReplicas { replicas in
            let store = try replicas.open()
            let config = Fixture.blob("c")
            try store.link(repo, config, size: 3, requireKnown: false)
            #expect(try store.putManifest(repo, Fixture.image(config: config, layers: []), tag: nil) == nil)
            let cutoff = try store.collectionClock() + 1
            let outcome = try store.exclusively { () throws(StoreError) -> (Bool, Int64?) in
                (try store.removeLayerLink(repo, config, modifiedBefore: cutoff),
                 try store.removeBlobRecord(config, modifiedBefore: cutoff))
            }
            #expect(outcome.0 && outcome.1 == nil)
        }
    }

    @Test func pushesWaitForTheCollectorAndStampLaterTimes() throws {
        try withReplicas { replicas in
            let collector = try replicas.open(), pusher = try replicas.open()
            let config = Fixture.blob("c")
            try pusher.link(repo, config, size: 3, requireKnown: false)
            let image = Fixture.image(config: config, layers: [])
            let done = Attempts()
            var t0: Int64 = 0
            var waited = false
            var ownCallReturned = false
            try collector.exclusively { () throws(StoreError) in
                t0 = try collector.collectionClock()
                let thread = Thread {
                    _ = try? pusher.putManifest(self.repo, image, tag: Fixture.tag("new"))
                    done.add()
                }
                thread.start()
                usleep(300_000)
                // The push waits for the exclusive section to end.
                waited = done.count == 0
                // The collector's own calls on this thread do not wait for anything.
                ownCallReturned = try !collector.removeLayerLink(Fixture.name("nobody"), config, modifiedBefore: t0)
            }
            #expect(waited && ownCallReturned)
            for _ in 0..<500 where done.count == 0 { usleep(10_000) }
            #expect(done.count == 1)
            // Everything the push made reachable is stamped after T0: a cutoff at T0 takes none of it.
            #expect(try collector.tagEntries(repo).allSatisfy { $0.modified >= t0 })
            #expect(try collector.revisionEntries(repo).allSatisfy { $0.modified >= t0 })
            #expect(try collector.layerLinkEntries(repo).allSatisfy { $0.modified >= t0 })
            #expect(try collector.blobEntries().allSatisfy { $0.modified >= t0 })
        }
    }

    @Test func anIndexPutRefreshesWhatItsChildrenName() throws {
        try withReplicas { replicas in
            let store = try replicas.open()
            let config = Fixture.blob("c"), layer = Fixture.blob("l")
            for blob in [config, layer] { try store.link(repo, blob, size: 3, requireKnown: false) }
            let child = Fixture.image(config: config, layers: [layer])
            #expect(try store.putManifest(repo, child, tag: nil) == nil)
            let inner = Fixture.index([child.digest])
            #expect(try store.putManifest(repo, inner, tag: nil) == nil)
            let t0 = try store.collectionClock()
            #expect(try store.putManifest(repo, Fixture.index([inner.digest]), tag: Fixture.tag("outer")) == nil)
            #expect(try store.revisionEntries(repo).allSatisfy { $0.modified >= t0 })
            #expect(try store.layerLinkEntries(repo).allSatisfy { $0.modified >= t0 })
            #expect(try store.blobEntries().allSatisfy { $0.modified >= t0 })
        }
    }

    @Test func aHeadRefreshesAnOldLink() throws {
        try withReplicas { replicas in
            let store = try replicas.open()
            let layer = Fixture.blob("l")
            try store.link(repo, layer, size: 3, requireKnown: false)
            let first = try #require(try store.layerLinkEntries(repo).first?.modified)
            usleep(1_100_000)
            _ = try store.linkedBlobSize(repo, layer, refreshAfter: 3600)
            #expect(try store.layerLinkEntries(repo).first?.modified == first)
            _ = try store.linkedBlobSize(repo, layer, refreshAfter: 1)
            #expect(try #require(try store.layerLinkEntries(repo).first?.modified) > first)
        }
    }
}

/// Catalog and tag pages are index range scans that stop after the page (O(page), not O(repositories)).
@Suite(.offCooperativePool, .enabled(if: TestPostgres.enabled), .serialized)
struct PostgresPagingPlanTests {
    @Test func catalogPageIsAnIndexRangeScan() throws {
        try withReplicas { replicas in
            let store = try replicas.open()
            // 20,000 repositories with one tag each, and 20,000 tags in one, written directly.
            try replicas.database.connect().execute(script: """
                INSERT INTO repositories (name) SELECT 'repo/' || lpad(i::text, 6, '0') FROM generate_series(1, 20000) i;
                INSERT INTO manifests (repository_id, digest, media_type, payload, created, modified)
                    SELECT id, 'sha256:' || md5(name) || md5(name), 'x', '\\x00', 0, 0 FROM repositories;
                INSERT INTO tags (repository_id, name, manifest_digest, modified)
                    SELECT repository_id, 'latest', digest, 0 FROM manifests;
                INSERT INTO blobs VALUES ('sha256:' || repeat('0', 64), 1, 0);
                INSERT INTO repository_blobs SELECT id, 'sha256:' || repeat('0', 64), 0 FROM repositories;
                INSERT INTO tags (repository_id, name, manifest_digest, modified)
                    SELECT m.repository_id, 'v' || i, m.digest, 0 FROM manifests m, generate_series(1, 20000) i
                    WHERE m.repository_id = 1;
                ANALYZE;
                """)
            let connection = try replicas.database.connect()
            func plan(_ sql: String, _ parameters: [PGValue]) throws -> String {
                try connection.query("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) " + sql, parameters,
                                     binaryResult: false).rows.map { try $0.string(0) ?? "" }.joined(separator: "\n")
            }
            let catalog = try plan(PostgresMetadataStore.catalogBatchSQL(batch: 101), ["repo/010000"])
            #expect(catalog.contains("Index Scan using repositories_name_key"), "\(catalog)")
            // No table is read whole (a hashed subplan over manifests or tags would be).
            #expect(!catalog.contains("Seq Scan"), "\(catalog)")
            // The range scan stopped after the page.
            #expect(catalog.contains("Limit (actual rows=101 loops=1)"), "\(catalog)")

            let tags = try plan("SELECT name FROM tags WHERE repository_id = $1 AND name > $2 ORDER BY name LIMIT $3",
                                [1, "v5000", 101])
            #expect(tags.contains("Index Only Scan using tags_pkey") || tags.contains("Index Scan using tags_pkey"),
                    "\(tags)")
            #expect(!tags.contains("Sort"), "\(tags)")

            // And through the store.
            let page = try store.repositoryPage(after: "repo/010000", limit: 100, include: { _ in true })
            #expect(page.names.first == "repo/010001" && page.names.count == 100 && page.more)
            let tagPage = try store.tagPage(Fixture.name("repo/000001"), after: "v5000", limit: 100)
            #expect(tagPage.tags.first == "v50000" || tagPage.tags.first == "v5001")
            #expect(tagPage.tags.count == 100 && tagPage.more)
        }
    }
}
