import Foundation
import Glibc
import OCIModel
import Synchronization
import Testing
import SystemIO
@testable import LayerCache

@Suite("CacheStore: ensureChain")
struct CacheStoreTests {
    struct ApplyFailed: Error {}

    let baseDiff = Fixture.digest("base")
    let topDiff = Fixture.digest("top")

    func openStore(_ scratch: ScratchDirectory, locking: Bool = true) throws -> CacheStore {
        try CacheStore(root: scratch.sub("cache"), syncBeforePublish: false, lockingEnabled: locking)
    }

    @Test func baseAndChildChainsShareInodes() throws {
        let scratch = ScratchDirectory("store")
        let store = try openStore(scratch)
        let baseRootfs = try store.ensureChain(chainID: baseDiff, diffID: baseDiff, parent: nil) { root in
            Fixture.mkdirs("\(root)/etc")
            Fixture.write("\(root)/etc/os-release", "base\n")
            Fixture.writeBytes("\(root)/big", count: 10_000)
        }
        #expect(baseRootfs == store.layout.chainRootfs(baseDiff))
        let topID = ChainID.child(of: baseDiff, diffID: topDiff)
        let topRootfs = try store.ensureChain(chainID: topID, diffID: topDiff, parent: baseDiff) { root in
            // A layer replaces files (new inode) rather than writing into shared ones.
            unlink("\(root)/etc/os-release")
            Fixture.write("\(root)/etc/os-release", "top\n")
            Fixture.write("\(root)/added", "12345")
        }
        #expect(Fixture.read("\(baseRootfs)/etc/os-release") == "base\n")
        #expect(Fixture.read("\(topRootfs)/etc/os-release") == "top\n")
        #expect(Fixture.lstatOf("\(topRootfs)/big").st_ino == Fixture.lstatOf("\(baseRootfs)/big").st_ino)
        #expect(Fixture.lstatOf("\(topRootfs)/etc").st_ino != Fixture.lstatOf("\(baseRootfs)/etc").st_ino)

        let base = try #require(try store.layerRecord(baseDiff))
        #expect(base.parent == nil && base.diffID == baseDiff && base.size == 10_005 && base.layerSize == 10_005)
        #expect(base.entries == 3)
        let top = try #require(try store.layerRecord(topID))
        #expect(top.parent == baseDiff && top.size == 10_009 && top.layerSize == 9)
        #expect(try FileSystem.list(store.layout.tmpDirectory).isEmpty)
        // Already cached: apply is not called again.
        _ = try store.ensureChain(chainID: topID, diffID: topDiff, parent: baseDiff) { _ in Issue.record("rebuilt") }
    }

    @Test func mismatchedChainIDsAndMissingParentsAreRefused() throws {
        let scratch = ScratchDirectory("store")
        let store = try openStore(scratch)
        #expect(throws: CacheStoreError.chainMismatch(chainID: topDiff, expected: baseDiff)) {
            try store.ensureChain(chainID: topDiff, diffID: baseDiff, parent: nil) { _ in }
        }
        let topID = ChainID.child(of: baseDiff, diffID: topDiff)
        #expect(throws: CacheStoreError.parentMissing(chainID: topID, parent: baseDiff)) {
            try store.ensureChain(chainID: topID, diffID: topDiff, parent: baseDiff) { _ in }
        }
    }

    @Test func aFailingApplyLeavesNothing() throws {
        let scratch = ScratchDirectory("store")
        let store = try openStore(scratch)
        #expect(throws: ApplyFailed.self) {
            try store.ensureChain(chainID: baseDiff, diffID: baseDiff, parent: nil) { root in
                Fixture.write("\(root)/half", "written before the failure")
                throw ApplyFailed()
            }
        }
        #expect(!store.hasChain(baseDiff))
        #expect(!CacheFiles.exists(store.layout.chainDirectory(baseDiff)))
        #expect(try FileSystem.list(store.layout.tmpDirectory).isEmpty)
        #expect(try FileSystem.list(store.layout.layersDirectory).isEmpty)
        // And the chain can be built afterwards.
        let rootfs = try store.ensureChain(chainID: baseDiff, diffID: baseDiff, parent: nil) { root in
            Fixture.write("\(root)/whole", "ok")
        }
        #expect(try FileSystem.list(rootfs) == ["whole"])
    }

    /// Two concurrent builds of one chain: with the per-chain lock, the second waits and reuses the first.
    @Test func concurrentEnsureWithLockBuildsOnce() throws {
        let scratch = ScratchDirectory("store")
        let store = try openStore(scratch)
        let applies = Atomic<Int>(0)
        let results = try runTwice { () throws -> String in
            try store.ensureChain(chainID: baseDiff, diffID: baseDiff, parent: nil) { root in
                applies.add(1, ordering: .relaxed)
                usleep(200_000)
                Fixture.write("\(root)/file", "x")
            }
        }
        #expect(applies.load(ordering: .relaxed) == 1)
        #expect(results[0] == results[1])
        #expect(try FileSystem.list(results[0]) == ["file"])
        #expect(try FileSystem.list(store.layout.tmpDirectory).isEmpty)
    }

    /// Without the lock both build; the rename publishes one and the loser discards its copy.
    @Test func concurrentEnsureWithoutLockPublishesOne() throws {
        let scratch = ScratchDirectory("store")
        let store = try openStore(scratch, locking: false)
        let applies = Atomic<Int>(0)
        let results = try runTwice { () throws -> String in
            try store.ensureChain(chainID: baseDiff, diffID: baseDiff, parent: nil) { root in
                applies.add(1, ordering: .relaxed)
                // Both builds are in flight before either publishes.
                while applies.load(ordering: .relaxed) < 2 { usleep(1_000) }
                Fixture.write("\(root)/file", "x")
            }
        }
        #expect(applies.load(ordering: .relaxed) == 2)
        #expect(results[0] == results[1])
        #expect(try FileSystem.list(store.layout.layersDirectory) == [baseDiff.encoded])
        #expect(try FileSystem.list(results[0]) == ["file"])
        #expect(try FileSystem.list(store.layout.tmpDirectory).isEmpty)
    }

    @Test func openingSweepsOnlyDeadWorkDirectories() throws {
        let scratch = ScratchDirectory("store")
        let store = try openStore(scratch)
        let tmp = store.layout.tmpDirectory
        Fixture.mkdirs("\(tmp)/dead1/chain/rootfs")  // no lock file: its owner finished or died
        Fixture.mkdirs("\(tmp)/dead2")
        Fixture.write("\(tmp)/dead2.lock", "")  // lock file nobody holds
        let live = try WorkDirectory(in: tmp)  // held by us
        _ = try openStore(scratch)
        let name = String(live.path.split(separator: "/").last!)
        #expect(try FileSystem.list(tmp).sorted() == [name, name + ".lock"])
        live.remove()
        #expect(try FileSystem.list(tmp).isEmpty)
    }

    @Test func cacheLocation() throws {
        #expect(try CacheLocation.resolve(explicit: "/x", environment: ["SWCOPY_CACHE": "/y"], uid: 1000) == "/x")
        #expect(try CacheLocation.resolve(explicit: nil, environment: ["SWCOPY_CACHE": "/y"], uid: 0) == "/y")
        #expect(try CacheLocation.resolve(explicit: nil, environment: ["HOME": "/root"], uid: 0) == "/var/lib/swcopy")
        #expect(try CacheLocation.resolve(explicit: nil, environment: ["XDG_CACHE_HOME": "/c", "HOME": "/h"], uid: 1000) == "/c/swcopy")
        #expect(try CacheLocation.resolve(explicit: nil, environment: ["XDG_CACHE_HOME": "rel", "HOME": "/h"], uid: 1000) == "/h/.cache/swcopy")
        #expect(throws: CacheStoreError.noCacheLocation) { try CacheLocation.resolve(explicit: nil, environment: [:], uid: 1000) }
    }
}

/// Runs `body` on two threads at once; returns both results (rethrowing the first error).
func runTwice<T: Sendable>(_ body: @escaping @Sendable () throws -> T) throws -> [T] {
    let results = Mutex<[Result<T, any Error>]>([])
    let threads = (0..<2).map { _ in
        Thread {
            let result = Result { try body() }
            results.withLock { $0.append(result) }
        }
    }
    threads.forEach { $0.start() }
    while results.withLock({ $0.count }) < 2 { usleep(5_000) }
    return try results.withLock { $0 }.map { try $0.get() }
}

@Suite("CacheStore: ensureStack")
struct CacheStackTests {
    @Test func onlyMissingLayersAreApplied() throws {
        let scratch = ScratchDirectory("stack")
        let store = try CacheStore(root: scratch.sub("cache"), syncBeforePublish: false)
        let diffs = ["l0", "l1", "l2"].map(Fixture.digest)
        let first = try store.ensureStack(diffIDs: diffs) { index, root in
            Fixture.write("\(root)/layer\(index)", "\(index)")
        }
        #expect(first.appliedLayers == [0, 1, 2])
        #expect(first.chainIDs == ChainID.compute(diffIDs: diffs))
        #expect(try FileSystem.list(try #require(first.rootfs)).sorted() == ["layer0", "layer1", "layer2"])

        // Same image again: nothing applied.
        let again = try store.ensureStack(diffIDs: diffs) { index, _ in Issue.record("applied layer \(index) again") }
        #expect(again.appliedLayers.isEmpty && again.rootfs == first.rootfs)

        // An image sharing all but its top layer applies that layer only.
        let sibling = Array(diffs.prefix(2)) + [Fixture.digest("other-top")]
        let third = try store.ensureStack(diffIDs: sibling) { index, root in
            Fixture.write("\(root)/other\(index)", "x")
        }
        #expect(third.appliedLayers == [2])
        #expect(try FileSystem.list(try #require(third.rootfs)).sorted() == ["layer0", "layer1", "other2"])
        #expect(try store.ensureStack(diffIDs: []) { _, _ in }.rootfs == nil)
    }

    struct ApplyFailed: Error {}

    @Test func whileFlushingSeesTheWholeTopTreeAndItsFailureKeepsTheStacks() throws {
        let scratch = ScratchDirectory("stack")
        let store = try CacheStore(root: scratch.sub("cache"))
        let layers: (Int, String) throws -> Void = { index, root in Fixture.write("\(root)/layer\(index)", "\(index)") }
        let failing = ["f1", "f2"].map(Fixture.digest)
        #expect(throws: ApplyFailed.self) {
            try store.ensureStack(diffIDs: failing, apply: layers, whileFlushing: { _ in throw ApplyFailed() })
        }
        // The stacks do not depend on the hook (a bundle's copy): they stay cached.
        #expect(ChainID.compute(diffIDs: failing).allSatisfy { store.hasChain($0) })

        let diffs = ["x", "y"].map(Fixture.digest)
        var seen: [String] = []
        let stack = try store.ensureStack(diffIDs: diffs, apply: layers, whileFlushing: { top in
            #expect(!store.hasChain(ChainID.compute(diffIDs: diffs).last!), "not published before the flush")
            seen = try FileSystem.list(top).sorted()
        })
        #expect(seen == ["layer0", "layer1"])
        #expect(try FileSystem.list(try #require(stack.rootfs)).sorted() == ["layer0", "layer1"])
        // Nothing to build: nothing to flush, and the hook is not called.
        _ = try store.ensureStack(diffIDs: diffs, apply: layers, whileFlushing: { _ in Issue.record("called again") })
    }

    @Test func everyStackIsRecordedAndAFailurePublishesNone() throws {
        let scratch = ScratchDirectory("stack")
        let store = try CacheStore(root: scratch.sub("cache"))  // flushed: the finisher thread syncs as it goes
        let diffs = ["a", "b", "c"].map(Fixture.digest)
        let chainIDs = ChainID.compute(diffIDs: diffs)
        #expect(throws: ApplyFailed.self) {
            try store.ensureStack(diffIDs: diffs) { index, root in
                if index == 2 { throw ApplyFailed() }
                Fixture.writeBytes("\(root)/file\(index)", count: 100 * (index + 1))
            }
        }
        #expect(chainIDs.allSatisfy { !store.hasChain($0) })
        #expect(try FileSystem.list(store.layout.tmpDirectory).isEmpty)

        let stack = try store.ensureStack(diffIDs: diffs) { index, root in
            Fixture.writeBytes("\(root)/file\(index)", count: 100 * (index + 1))
        }
        #expect(stack.appliedLayers == [0, 1, 2])
        for (index, chainID) in chainIDs.enumerated() {
            let record = try #require(try store.layerRecord(chainID))
            #expect(record.layerSize == Int64(100 * (index + 1)))
            #expect(record.size == Int64((0...index).reduce(0) { $0 + 100 * ($1 + 1) }))
            #expect(record.entries == index + 1)
            #expect(record.parent == (index > 0 ? chainIDs[index - 1] : nil))
        }
    }
}
