import Glibc
import OCIModel
import Testing
import SystemIO
@testable import LayerCache

@Suite("CacheStore: images, ls, du, prune")
struct CacheInventoryTests {
    let base = Fixture.digest("base-layer"), topA = Fixture.digest("a-layer"), topB = Fixture.digest("b-layer")

    /// A cache with two images sharing a base layer: A = base|topA, B = base|topB.
    func makeCache(_ scratch: ScratchDirectory) throws -> (CacheStore, ImageRecord, ImageRecord) {
        let store = try CacheStore(root: scratch.sub("cache"), syncBeforePublish: false)
        _ = try store.ensureChain(chainID: base, diffID: base, parent: nil) { root in
            Fixture.writeBytes("\(root)/shared.bin", count: 100_000)
        }
        for (diff, size) in [(topA, 40_000), (topB, 60_000)] {
            _ = try store.ensureChain(chainID: ChainID.child(of: base, diffID: diff), diffID: diff, parent: base) { root in
                Fixture.writeBytes("\(root)/own.bin", count: size, seed: 9)
            }
        }
        var images: [ImageRecord] = []
        for (name, diff) in [("a", topA), ("b", topB)] {
            let config = Fixture.configBytes(diffIDs: [base, diff], execution: .init(cmd: ["sh"]))
            let record = ImageRecord(manifestDigest: Fixture.digest("manifest-\(name)"), names: ["docker://r/\(name):latest"],
                                     configDigest: Digest.sha256(of: config), diffIDs: [base, diff])
            try store.recordImage(record, configBytes: config)
            images.append(record)
        }
        return (store, images[0], images[1])
    }

    @Test func recordsImagesAndMovesNames() throws {
        let scratch = ScratchDirectory("inv")
        let (store, a, b) = try makeCache(scratch)
        #expect(try store.image(named: "docker://r/a:latest")?.manifestDigest == a.manifestDigest)
        #expect(try store.imageConfig(for: b).rootfs.diffIDs == [base, topB])
        // The tag moves to b: a keeps its record but loses the name.
        var moved = b
        moved.names = ["docker://r/a:latest"]
        try store.recordImage(moved, configBytes: try store.configBytes(b.configDigest))
        #expect(try store.image(named: "docker://r/a:latest")?.manifestDigest == b.manifestDigest)
        #expect(try store.image(a.manifestDigest)?.names == [])
        #expect(try store.image(b.manifestDigest)?.names.sorted() == ["docker://r/a:latest", "docker://r/b:latest"])

        // Wrong config bytes and chains that are not cached are refused.
        #expect(throws: CacheStoreError.self) { try store.recordImage(a, configBytes: Array("{}".utf8)) }
        let config = Fixture.configBytes(diffIDs: [topA], execution: nil)
        let missing = ImageRecord(manifestDigest: Fixture.digest("m"), names: [], configDigest: Digest.sha256(of: config),
                                  diffIDs: [topA])
        #expect(throws: CacheStoreError.chainMissing(topA)) { try store.recordImage(missing, configBytes: config) }
    }

    @Test func listingIsBaseFirst() throws {
        let scratch = ScratchDirectory("inv")
        let (store, a, b) = try makeCache(scratch)
        let listing = try store.listing()
        #expect(listing.layers.map(\.chainID).first == base)
        #expect(listing.layers.count == 3)
        #expect(Set(listing.images.map(\.manifestDigest)) == [a.manifestDigest, b.manifestDigest])
        #expect(listing.layers.first { $0.chainID == a.chainIDs[1] }?.layerSize == 40_000)
        #expect(listing.layers.first { $0.chainID == a.chainIDs[1] }?.size == 140_000)
    }

    /// The 100 kB base file is hard-linked into both child stacks but counted once, for the base.
    @Test func diskUsageCountsSharedInodesOnce() throws {
        let scratch = ScratchDirectory("inv")
        let (store, a, b) = try makeCache(scratch)
        let usage = try store.diskUsage()
        let byChain = Dictionary(uniqueKeysWithValues: usage.layers.map { ($0.chainID, $0.bytes) })
        let shared = Int64(Fixture.lstatOf("\(store.layout.chainRootfs(base))/shared.bin").st_blocks) * 512
        let ownA = Int64(Fixture.lstatOf("\(store.layout.chainRootfs(a.chainIDs[1]))/own.bin").st_blocks) * 512
        #expect(shared >= 100_000)
        #expect(try #require(byChain[base]) >= shared)
        #expect(try #require(byChain[a.chainIDs[1]]) >= ownA)
        #expect(try #require(byChain[a.chainIDs[1]]) < ownA + shared)  // the shared file is not in a's count
        #expect(try #require(byChain[b.chainIDs[1]]) < 60_000 + 4096 * 4 + shared)
        #expect(usage.totalBytes == usage.layers.reduce(usage.metadataBytes + usage.temporaryBytes) { $0 + $1.bytes })
        // Against an independent count of distinct inodes under layers/.
        var seen = Set<UInt64>(), blocks: Int64 = 0
        try CacheStore.walkTree(store.layout.layersDirectory) { path, st in
            if path != store.layout.layersDirectory, seen.insert(UInt64(st.st_ino)).inserted { blocks += Int64(st.st_blocks) * 512 }
        }
        #expect(usage.layers.reduce(0) { $0 + $1.bytes } == blocks)
    }

    @Test func pruneKeepsWhatLiveBundlesUse() throws {
        let scratch = ScratchDirectory("inv")
        let (store, a, b) = try makeCache(scratch)
        // A live bundle of image a, a dead one (config.json gone) of image b, and a leftover work dir.
        let live = scratch.sub("live"), dead = scratch.sub("dead")
        Fixture.mkdirs(live)
        Fixture.write("\(live)/config.json", "{}")
        Fixture.mkdirs(dead)
        try store.recordBundle(BundleRecord(bundlePath: live, manifestDigest: a.manifestDigest, chainID: a.topChainID, rootfsMode: .flatten))
        try store.recordBundle(BundleRecord(bundlePath: dead, manifestDigest: b.manifestDigest, chainID: b.topChainID, rootfsMode: .flatten))
        Fixture.mkdirs("\(store.layout.tmpDirectory)/leftover/chain")
        // A record temporary file a crash left behind two hours ago, and one being written right now.
        let abandoned = "\(store.layout.imagesDirectory)/.0123456789abcdef.tmp"
        let fresh = "\(store.layout.imagesDirectory)/.fedcba9876543210.tmp"
        Fixture.write(abandoned, "{")
        Fixture.write(fresh, "{")
        var old = [timespec(tv_sec: time(nil) - 7200, tv_nsec: 0), timespec(tv_sec: time(nil) - 7200, tv_nsec: 0)]
        #expect(utimensat(AT_FDCWD, abandoned, &old, 0) == 0)

        let dry = try store.prune(dryRun: true)
        #expect(dry.chains == [b.chainIDs[1]])
        #expect(dry.images == [b.manifestDigest])
        #expect(dry.staleBundles == [dead])
        #expect(dry.temporaries == ["\(store.layout.tmpDirectory)/leftover", abandoned])
        #expect(dry.freedBytes >= 60_000)
        #expect(store.hasChain(b.chainIDs[1]))
        #expect(try store.image(b.manifestDigest) != nil)
        #expect(try store.bundles().count == 2)

        let report = try store.prune(dryRun: false)
        #expect(report.chains == dry.chains && report.images == dry.images && report.freedBytes == dry.freedBytes)
        #expect(!store.hasChain(b.chainIDs[1]))
        #expect(store.hasChain(base) && store.hasChain(a.chainIDs[1]))
        #expect(try store.image(b.manifestDigest) == nil)
        #expect(try store.image(a.manifestDigest) != nil)
        #expect(try store.bundles().map(\.bundlePath) == [live])
        #expect(!CacheFiles.exists(store.layout.config(b.configDigest)))
        #expect(CacheFiles.exists(store.layout.config(a.configDigest)))
        #expect(try FileSystem.list(store.layout.tmpDirectory).isEmpty)
        #expect(!CacheFiles.exists(abandoned) && CacheFiles.exists(fresh))
        #expect(try FileSystem.list(store.layout.layersDirectory).count == 2)
        #expect(!CacheFiles.exists(store.layout.chainLock(b.chainIDs[1])))

        // Once the last bundle is gone, everything goes.
        unlink("\(live)/config.json")
        let last = try store.prune(dryRun: false)
        #expect(Set(last.chains) == [base, a.chainIDs[1]])
        #expect(try FileSystem.list(store.layout.layersDirectory).isEmpty)
        #expect(try store.images().isEmpty)
    }
}
