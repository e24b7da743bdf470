import BlobStore
import Glibc
import OCIModel
import StoreMaintenance
import SystemIO
import Testing
import TestSupport

/// The collector over a real filesystem store: what it keeps, what it removes, dry runs and retention.
@Suite struct GarbageCollectorTests {
    /// Deleted manifests and unlinked blobs go; tagged images stay whole; untagged manifests stay unless asked.
    @Test func removesWhatNothingKeepsAndKeepsUntaggedUnlessAsked() throws {
        let b = try StoreBuilder()
        defer { b.remove() }
        let shared = Array("shared layer".utf8)
        let tagged = try b.image("a/app", tag: "v1", seed: "1", layers: [shared, Array("one".utf8)])
        let untagged = try b.image("a/app", tag: nil, seed: "2", layers: [shared, Array("two".utf8)])
        let deleted = try b.image("a/app", tag: "gone", seed: "4", layers: [Array("four".utf8)])
        let name = try RepositoryName(validating: "a/app")
        try b.store.deleteManifest(name, deleted.digest, subject: nil)
        let loose = try b.blob("a/other", Array("loose".utf8))
        try b.store.unlinkBlob(try RepositoryName(validating: "a/other"), loose.digest)
        b.age(by: 7200)

        let (report, lines) = try collect(b)
        #expect(!b.hasBlob(deleted) && !b.hasBlob(loose))
        #expect(!b.hasBlob(Item(digest: .sha256(of: Array("four".utf8)), size: 4, mediaType: "")))
        #expect(b.hasManifest("a/app", untagged) && b.hasManifest("a/app", tagged))
        #expect(try b.pullProblems() == [])
        #expect(try b.unreachable(deleteUntagged: false) == [])
        // Blobs: the deleted manifest, its config and layer, the loose blob; links: its config and layer.
        #expect(report.count(.blob) == 4 && report.count(.link) == 2 && report.count(.manifest) == 0)
        #expect(report.freedBytes == Int64(deleted.size + 4 + 5) + Int64(#"{"os":"linux","seed":"4"}"#.utf8.count))
        #expect(lines.contains("removed blob     \(loose.digest) 5 bytes"))
        #expect(lines.last?.hasPrefix("gc: removed 0 tags, 0 manifests, 2 links, 4 blobs, 0 uploads; freed") == true)

        let (second, _) = try collect(b, GCOptions(deleteUntagged: true))
        #expect(!b.hasManifest("a/app", untagged) && !b.hasBlob(untagged))
        #expect(!b.hasBlob(Item(digest: .sha256(of: Array("two".utf8)), size: 3, mediaType: "")))
        #expect(b.hasBlob(Item(digest: .sha256(of: shared), size: shared.count, mediaType: "")))
        #expect(second.count(.manifest) == 1)
        #expect(try b.pullProblems() == [])
        #expect(try b.unreachable(deleteUntagged: true) == [])
    }

    /// An index keeps its children; a kept manifest keeps its referrers, and theirs (signature of an SBOM).
    @Test func keepsIndexChildrenAndReferrersRecursively() throws {
        let b = try StoreBuilder()
        defer { b.remove() }
        let amd = try b.image("multi", tag: nil, seed: "amd64")
        let arm = try b.image("multi", tag: nil, seed: "arm64")
        let index = try b.index("multi", tag: "latest", children: [amd, arm])
        let sbom = try b.image("multi", tag: nil, seed: "sbom", subject: amd)
        let signature = try b.image("multi", tag: nil, seed: "sig", subject: sbom)
        let orphanReferrer = try b.image("multi", tag: nil, seed: "orphan-ref", subject: Item(digest: .sha256(of: Array("x".utf8)), size: 1, mediaType: MediaType.ociManifest.rawValue))
        let stray = try b.image("multi", tag: nil, seed: "stray")
        b.age(by: 7200)

        let (report, _) = try collect(b, GCOptions(deleteUntagged: true))
        for kept in [amd, arm, index, sbom, signature] { #expect(b.hasManifest("multi", kept) && b.hasBlob(kept)) }
        #expect(!b.hasManifest("multi", stray) && !b.hasManifest("multi", orphanReferrer))
        #expect(report.count(.manifest) == 2)
        let referrers = try b.store.referrers(try RepositoryName(validating: "multi"), subject: amd.digest)
        #expect(referrers.map(\.digest) == [sbom.digest])
        #expect(try b.store.referrers(try RepositoryName(validating: "multi"), subject: orphanReferrer.digest).isEmpty)
        #expect(try b.pullProblems() == [])
        #expect(try b.unreachable(deleteUntagged: true) == [])
    }

    /// Within the grace period nothing goes: an uploaded blob whose manifest is not pushed yet, and a young link
    /// keeps an old blob.
    @Test func keepsYoungContentWithinGrace() throws {
        let b = try StoreBuilder()
        defer { b.remove() }
        let old = try b.blob("up", Array("old upload".utf8))
        let relinked = try b.blob("up", Array("relinked".utf8))
        let name = try RepositoryName(validating: "up")
        try b.store.unlinkBlob(name, old.digest)
        b.age(by: 7200)
        let young = try b.blob("up", Array("young upload".utf8))
        try b.store.unlinkBlob(name, young.digest)
        // A mount of an old blob: the link and the blob are touched.
        try b.store.linkBlob(try RepositoryName(validating: "mounted"), relinked.digest)
        try b.store.unlinkBlob(name, relinked.digest)

        _ = try collect(b)
        #expect(!b.hasBlob(old))
        #expect(b.hasBlob(young) && b.hasBlob(relinked) && b.hasLink("mounted", relinked))

        // Aged again, the link is garbage only once nothing keeps it; the manifest-less upload goes with grace 0.
        b.age(by: 7200)
        let (report, _) = try collect(b, GCOptions(graceSeconds: 0))
        #expect(!b.hasBlob(young) && !b.hasBlob(relinked) && !b.hasLink("mounted", relinked))
        #expect(report.count(.blob) == 2 && report.count(.link) == 1)
    }

    /// A dry run lists exactly what the real run then removes, and changes no file, time included.
    @Test func dryRunChangesNothingAndListsWhatWouldGo() throws {
        let b = try StoreBuilder()
        defer { b.remove() }
        for i in 0..<4 { try b.image("dry/app", tag: "t\(i)", seed: "\(i)") }
        try b.image("dry/app", tag: nil, seed: "untagged")
        let extra = try b.image("dry/other", tag: "x", seed: "x")
        try b.store.deleteManifest(try RepositoryName(validating: "dry/other"), extra.digest, subject: nil)
        b.age(by: 7200)
        for i in 0..<4 { b.setAge("repositories/dry/app/_manifests/tags/t\(i)", secondsAgo: 7200 - i * 60) }
        var options = GCOptions(deleteUntagged: true, retention: [RetentionRule(repositories: ["dry/*"], keepMostRecent: 1)])
        options.dryRun = true

        let before = b.listing()
        let (dry, lines) = try collect(b, options)
        #expect(b.listing() == before)
        #expect(dry.count(.tag) == 3 && dry.count(.manifest) == 4)
        #expect(lines.contains("would remove tag      dry/app:t0"))
        #expect(lines.last?.hasPrefix("gc (dry run): would remove 3 tags, 4 manifests,") == true)

        options.dryRun = false
        let (real, _) = try collect(b, options)
        #expect(Set(real.removals.map { "\($0.kind) \($0.item) \($0.bytes)" }) == Set(dry.removals.map { "\($0.kind) \($0.item) \($0.bytes)" }))
        #expect(b.tags("dry/app") == ["t3"])
        #expect(try b.unreachable(deleteUntagged: true) == [])
    }

    /// Retention: the N most recently pushed tags and those matching a pattern stay; untagged manifests older
    /// than the rule's age go; repositories no rule matches keep everything.
    @Test func retentionRules() throws {
        let b = try StoreBuilder()
        defer { b.remove() }
        for i in 0..<5 { try b.image("team/app", tag: "build-\(i)", seed: "app\(i)") }
        try b.image("team/app", tag: "release-1.0", seed: "release")
        try b.image("solo", tag: "build-0", seed: "solo0")
        try b.image("solo", tag: "build-1", seed: "solo1")
        let veryOld = try b.image("team/app", tag: nil, seed: "very old")
        let fairlyOld = try b.image("team/app", tag: nil, seed: "fairly old")
        b.age(by: 7200)
        // Pushed in order build-0 (oldest) … build-4, release-1.0 oldest of all.
        for i in 0..<5 { b.setAge("repositories/team/app/_manifests/tags/build-\(i)", secondsAgo: 9000 - i * 100) }
        b.setAge("repositories/team/app/_manifests/tags/release-1.0", secondsAgo: 20000)
        b.setAge("repositories/team/app/_manifests/revisions/sha256/\(veryOld.digest.encoded)", secondsAgo: 4 * 86400)
        b.setAge("repositories/team/app/_manifests/revisions/sha256/\(fairlyOld.digest.encoded)", secondsAgo: 86400)
        let rules = [
            RetentionRule(repositories: ["team/**"], keepMostRecent: 2, keepPatterns: ["^release-"], deleteUntaggedAfter: 2 * 86400),
            RetentionRule(repositories: ["**"], keepMostRecent: 0),  // never reached for team/app: the first match applies
        ]
        var options = GCOptions(retention: [rules[0]])
        options.dryRun = true
        let (dry, lines) = try collect(b, options)
        #expect(Set(dry.removals.filter { $0.kind == .tag }.map(\.item)) == ["team/app:build-0", "team/app:build-1", "team/app:build-2"])
        #expect(lines.contains("would remove tag      team/app:build-2"))
        #expect(b.tags("team/app").count == 6)

        options = GCOptions(retention: rules)
        let (report, _) = try collect(b, options)
        #expect(b.tags("team/app") == ["build-3", "build-4", "release-1.0"])
        #expect(b.tags("solo") == [])  // matched by "**" with no tag kept
        #expect(!b.hasManifest("team/app", veryOld) && b.hasManifest("team/app", fairlyOld))
        #expect(report.count(.tag) == 5)
        #expect(try b.pullProblems() == [])
    }

    /// Tags pushed within the grace period stay, whatever the rule: nothing made within it is removed.
    @Test func retentionKeepsTagsPushedWithinTheGracePeriod() throws {
        let b = try StoreBuilder()
        defer { b.remove() }
        for i in 0..<4 { try b.image("fresh/app", tag: "build-\(i)", seed: "fresh\(i)") }
        b.age(by: 7200)
        b.setAge("repositories/fresh/app/_manifests/tags/build-3", secondsAgo: 60)
        b.setAge("repositories/fresh/app/_manifests/tags/build-2", secondsAgo: 120)
        let options = GCOptions(graceSeconds: 3600, retention: [RetentionRule(repositories: ["fresh/*"], keepMostRecent: 0)])
        let (report, _) = try collect(b, options)
        #expect(b.tags("fresh/app") == ["build-2", "build-3"])
        #expect(report.count(.tag) == 2)
    }

    /// A kept manifest that cannot be read names what it names all the same: its repository is left whole (and
    /// the report says so); the rest of the store is collected.
    @Test func unreadableKeptManifestKeepsItsRepositoryWhole() throws {
        let b = try StoreBuilder()
        defer { b.remove() }
        let image = try b.image("broken", tag: "v1", seed: "broken")
        let loose = try b.blob("broken", Array("unreferenced link".utf8))
        let elsewhere = try b.blob("fine", Array("unreferenced elsewhere".utf8))
        b.age(by: 7200)
        // Damaged in place (a bit flip, a truncation): no longer JSON.
        let path = b.store.layout.blob(image.digest)
        let fd = open(path, O_WRONLY | O_TRUNC)
        _ = write(fd, "{not json", 9)
        close(fd)
        b.age(by: 7200, under: "blobs")

        // As a restarted server sees it (this store's cache still holds the manifest's bytes).
        let (report, lines) = try collect(StoreBuilder(store: try BlobStore(root: b.root)), GCOptions(deleteUntagged: true))
        #expect(lines.contains("kept all of broken: its manifest \(image.digest) cannot be read"))
        #expect(b.hasLink("broken", loose) && b.hasBlob(loose) && b.hasManifest("broken", image))
        #expect(!b.hasBlob(elsewhere))
        #expect(report.count(.blob) == 1 && report.count(.link) == 1)
    }

    /// One collection at a time per store: a second one fails at once.
    @Test func secondCollectionFailsWhileOneRuns() throws {
        let b = try StoreBuilder()
        defer { b.remove() }
        let inner: Result<GCReport, GarbageCollector.Failure>? = b.store.asOnlyCollection { () -> Result<GCReport, GarbageCollector.Failure> in
            do throws(GarbageCollector.Failure) {
                return .success(try GarbageCollector(store: b.store, options: GCOptions(), output: CollectedOutput()).run())
            } catch {
                return .failure(error)
            }
        }
        guard case .failure(.alreadyRunning)? = inner else {
            Issue.record("expected alreadyRunning, got \(String(describing: inner))")
            return
        }
        // And once it is over, a collection runs.
        _ = try collect(b)
    }

    /// Expired upload sessions are removed and reported with their bytes.
    @Test func removesExpiredUploadSessions() throws {
        let root = makeTemporaryDirectory(prefix: "swr-gc-uploads")
        defer { FileSystem.removeTree(root) }
        let store = try BlobStore(root: root, uploadLimits: UploadLimits(maxOpen: 10, maxPerOwner: 10, idleTimeout: 0, maxAge: 3600))
        let upload = try store.uploads.start(try RepositoryName(validating: "u"), owner: "test")
        try store.uploads.append(upload, Array("partial".utf8))
        store.uploads.release(upload)
        sleep(1)
        let output = CollectedOutput()
        let report = try GarbageCollector(store: store, options: GCOptions(), output: output).run()
        #expect(report.count(.upload) == 1 && report.freedBytes == 7)
        #expect(try FileSystem.list(store.layout.uploadsDirectory).isEmpty)
    }
}
