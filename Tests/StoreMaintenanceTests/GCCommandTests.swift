import BlobStore
import Glibc
import OCIModel
import StoreMaintenance
import SystemIO
import Testing
import TestSupport

/// The real `swregistry gc`: killed at random instants during its sweep, it leaves a store that serves every
/// kept image, and a later run finishes the job; it refuses a store a server holds.
@Suite(.serialized) struct GCCommandTests {
    static var binary: String { ChildProcess.productsDirectory + "/swregistry" }

    /// Builds kept images (tagged, an index, referrers) and much garbage (deleted images, untagged ones).
    static func makeStore(_ b: StoreBuilder) throws {
        let shared = Array("shared base layer".utf8)
        for i in 0..<6 {
            let image = try b.image("keep/app\(i % 2)", tag: "v\(i)", seed: "keep\(i)", layers: [shared, Array("k\(i)".utf8)])
            try b.image("keep/app\(i % 2)", tag: nil, seed: "sig\(i)", subject: image)
        }
        let children = try (0..<2).map { try b.image("keep/multi", tag: nil, seed: "child\($0)", layers: [shared]) }
        try b.index("keep/multi", tag: "latest", children: children)
        for i in 0..<60 {
            let repo = "junk/r\(i % 6)"
            let image = try b.image(repo, tag: "t\(i)", seed: "junk\(i)", layers: [shared, Array("j\(i)a".utf8), Array("j\(i)b".utf8)])
            if i % 2 == 0 {
                try b.store.deleteManifest(try RepositoryName(validating: repo), image.digest, subject: nil)
            } else {
                try b.store.deleteTag(try RepositoryName(validating: repo), try Tag(validating: "t\(i)"))
            }
        }
        b.age(by: 7200)
    }

    @Test func killedMidSweepLeavesEveryKeptImageAndALaterRunFinishes() throws {
        let b = try StoreBuilder(prefix: "swr-gc-kill")
        defer { b.remove() }
        try Self.makeStore(b)
        let root = b.root
        let keptBefore = try b.pullProblems()
        #expect(keptBefore == [])
        let tagsBefore = try b.store.repositoryNames().flatMap { repo in b.tags(repo.value).map { "\(repo.value):\($0)" } }

        var kills = 0
        for attempt in 0..<6 {
            // 3 ms per removal: about 600 removals take some two seconds. The kill comes at a random instant of
            // the sweep (its first removal printed), whatever the machine's load did to the time before it.
            let process = try ChildProcess("/usr/bin/env", ["SWREGISTRY_TEST_GC_PAUSE=0.003", Self.binary, "gc",
                                                            "--delete-untagged", "--storage", root])
            _ = try? process.readLine(containing: "removed ", timeoutSeconds: 30)
            usleep(UInt32.random(in: 0...40_000))
            process.signal(SIGKILL)
            let status = try process.waitForExit()
            if status == 128 + SIGKILL { kills += 1 }
            // As a restarted server would see it: every kept image whole, every tag still there.
            let fresh = StoreBuilder(store: try BlobStore(root: root))
            #expect(try fresh.pullProblems() == [], "after kill \(attempt)")
            let tags = try fresh.store.repositoryNames().flatMap { repo in fresh.tags(repo.value).map { "\(repo.value):\($0)" } }
            #expect(tags == tagsBefore.filter { !$0.hasPrefix("junk/") })
        }
        #expect(kills >= 3, "the collection finished before most kills; slow it down more")

        let finish = try ChildProcess(Self.binary, ["gc", "--delete-untagged", "--storage", root])
        #expect(try finish.waitForExit(timeoutSeconds: 60) == 0)
        let fresh = StoreBuilder(store: try BlobStore(root: root))
        #expect(try fresh.pullProblems() == [])
        #expect(try fresh.unreachable(deleteUntagged: true) == [])
    }

    /// A dry run through the command prints what would go and changes nothing; a store held by another process
    /// without a control socket is refused with a clear message and exit 2 (a live server runs the command
    /// itself: `StoreCommandProcessTests`, `collectsInsideTheRunningServer`).
    @Test func dryRunAndHeldStore() throws {
        let b = try StoreBuilder(prefix: "swr-gc-cli")
        defer { b.remove() }
        try Self.makeStore(b)
        let before = b.listing()
        let log = b.root + "-stderr"
        defer { unlink(log) }
        let dry = try ChildProcess(Self.binary, ["gc", "--dry-run", "--delete-untagged", "--grace", "30m", "--storage", b.root], stderrPath: log)
        let summary = try dry.readLine(containing: "gc (dry run): would remove")
        #expect(try dry.waitForExit() == 0)
        #expect(summary.contains("0 tags, 30 manifests"), "\(summary)")
        #expect(b.listing() == before)

        let held = try StoreLock(layout: Layout(root: b.root))
        let refused = try ChildProcess(Self.binary, ["gc", "--storage", b.root], stderrPath: log)
        #expect(try refused.waitForExit() == 2)
        let message = String(decoding: (try? FileSystem.read(log, maxBytes: 1 << 16)) ?? [], as: UTF8.self)
        #expect(message.contains("is in use by pid \(getpid()), and its control socket cannot be used"), "\(message)")
        withExtendedLifetime(held) {}

        let badGrace = try ChildProcess(Self.binary, ["gc", "--grace", "soon", "--storage", b.root], stderrPath: log)
        // ArgumentParser's status for a usage error.
        #expect(try badGrace.waitForExit() == 64)
    }

    /// `serve` collects every `gc.interval`, logging each run.
    @Test func serverCollectsOnItsSchedule() throws {
        let b = try StoreBuilder(prefix: "swr-gc-serve")
        defer { b.remove() }
        try Self.makeStore(b)
        let log = b.root + "-serve.log"
        defer { unlink(log) }
        let server = try ChildProcess("/usr/bin/env", ["SWREGISTRY_GC_INTERVAL=1s", "SWREGISTRY_GC_DELETEUNTAGGED=true", Self.binary,
                                                       "serve", "--address", "127.0.0.1:0", "--storage", b.root], stderrPath: log)
        _ = try server.readLine(containing: "listening")
        var text = ""
        for _ in 0..<300 where !text.contains("gc: removed") {
            usleep(100_000)
            text = String(decoding: (try? FileSystem.read(log, maxBytes: 1 << 22)) ?? [], as: UTF8.self)
        }
        server.signal(SIGTERM)
        #expect(try server.waitForExit() == 0)
        #expect(text.contains("gc: removed 0 tags, 30 manifests"), "\(text.suffix(2000))")
        #expect(text.contains("removed manifest"), "each removal is logged")
        let fresh = StoreBuilder(store: try BlobStore(root: b.root))
        #expect(try fresh.pullProblems() == [])
        #expect(try fresh.unreachable(deleteUntagged: true) == [])
    }
}
