import Glibc
import OCIModel
import Testing
import SystemIO
@testable import LayerCache

@Suite("BundleDirectory: prepare and remove runtime bundles", .serialized)
struct BundlePrepareTests {
    /// A cached two-layer image: base (/etc/passwd, /etc/group, /data/file) then /app.
    static func makeImage(_ store: CacheStore, execution: ImageConfig.ExecutionConfig) throws -> ImageRecord {
        let base = Fixture.digest("bundle-base"), top = Fixture.digest("bundle-top")
        _ = try store.ensureChain(chainID: base, diffID: base, parent: nil) { root in
            Fixture.mkdirs("\(root)/etc")
            Fixture.write("\(root)/etc/passwd", "root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n")
            Fixture.write("\(root)/etc/group", "root:x:0:\napp:x:1000:\nshared:x:3000:app\n")
            Fixture.mkdirs("\(root)/data")
            Fixture.write("\(root)/data/file", "from the cache")
        }
        _ = try store.ensureChain(chainID: ChainID.child(of: base, diffID: top), diffID: top, parent: base) { root in
            Fixture.write("\(root)/app", "#!/bin/sh\n", mode: 0o755)
        }
        let config = Fixture.configBytes(diffIDs: [base, top], execution: execution)
        let record = ImageRecord(manifestDigest: Fixture.digest("bundle-manifest"), names: ["oci:test:latest"],
                                 configDigest: Digest.sha256(of: config), diffIDs: [base, top])
        try store.recordImage(record, configBytes: config)
        return record
    }

    @Test func flattenedBundleIsIndependentOfTheCache() throws {
        let scratch = ScratchDirectory("bundle")
        let store = try CacheStore(root: scratch.sub("cache"), syncBeforePublish: false)
        let image = try Self.makeImage(store, execution: .init(user: "app", cmd: ["/app"]))
        let bundle = scratch.sub("bundle")
        let prepared = try BundleDirectory.prepare(image: image, store: store, at: bundle, mode: .flatten)
        #expect(prepared.bundlePath == bundle)
        #expect(prepared.spec.process?.user == .init(uid: 1000, gid: 1000, additionalGids: [3000]))
        #expect(try BundleDirectory.readConfig(bundle: bundle) == prepared.spec)
        #expect(try store.bundleRecord(at: bundle)?.chainID == image.topChainID)

        // No inode of the bundle's rootfs is one of the cache's.
        let cacheInodes = Set(try Fixture.tree(store.layout.layersDirectory).values.map { $0.st_ino })
        let bundleTree = try Fixture.tree(prepared.rootfsPath)
        #expect(bundleTree.keys.sorted() == ["app", "data", "data/file", "etc", "etc/group", "etc/passwd"])
        #expect(bundleTree.values.allSatisfy { !cacheInodes.contains($0.st_ino) })
        // A container writing into its rootfs cannot change the cache.
        Fixture.write("\(prepared.rootfsPath)/data/file", "overwritten by the container")
        #expect(Fixture.read("\(store.layout.chainRootfs(try #require(image.topChainID)))/data/file") == "from the cache")

        #expect(throws: BundleError.bundleExists(bundle)) {
            try BundleDirectory.prepare(image: image, store: store, at: bundle, mode: .flatten)
        }
        try BundleDirectory.remove(at: bundle, store: store)
        #expect(!CacheFiles.exists(bundle))
        #expect(try store.bundles().isEmpty)
    }

    @Test func aBadUserLeavesNoBundle() throws {
        let scratch = ScratchDirectory("bundle")
        let store = try CacheStore(root: scratch.sub("cache"), syncBeforePublish: false)
        let image = try Self.makeImage(store, execution: .init(user: "ghost", cmd: ["/app"]))
        let bundle = scratch.sub("bundle")
        #expect(throws: RuntimeSpecError.user(.unknownUser("ghost"))) {
            try BundleDirectory.prepare(image: image, store: store, at: bundle, mode: .flatten)
        }
        #expect(!CacheFiles.exists(bundle))
        #expect(try store.bundles().isEmpty)
        // A directory the caller made beforehand stays (empty).
        Fixture.mkdirs(bundle)
        #expect(throws: RuntimeSpecError.self) {
            try BundleDirectory.prepare(image: image, store: store, at: bundle, mode: .flatten)
        }
        #expect(try FileSystem.list(bundle).isEmpty)
    }

    @Test func overlayBundleWritesToItsUpperDirectory() throws {
        let scratch = ScratchDirectory("bundle")
        let store = try CacheStore(root: scratch.sub("cache"), syncBeforePublish: false)
        let image = try Self.makeImage(store, execution: .init(cmd: ["/app"]))
        let bundle = scratch.sub("bundle-overlay")
        guard Fixture.isRoot else {
            #expect(throws: RootfsError.overlayNeedsRoot) {
                try BundleDirectory.prepare(image: image, store: store, at: bundle, mode: .overlay)
            }
            return
        }
        let prepared: BundleDirectory.Prepared
        do {
            prepared = try BundleDirectory.prepare(image: image, store: store, at: bundle, mode: .overlay)
        } catch let error as RootfsError {
            print("SKIPPED overlay bundle test: \(error)")
            try Test.cancel("overlayfs cannot be mounted in this environment: \(error)")
        }
        #expect(Rootfs.isMountPoint(prepared.rootfsPath))
        #expect(Fixture.read("\(prepared.rootfsPath)/data/file") == "from the cache")
        Fixture.write("\(prepared.rootfsPath)/data/file", "container write")
        #expect(Fixture.read("\(bundle)/upper/data/file") == "container write")
        #expect(Fixture.read("\(store.layout.chainRootfs(try #require(image.topChainID)))/data/file") == "from the cache")
        #expect(try store.bundleRecord(at: bundle)?.rootfsMode == .overlay)

        try BundleDirectory.remove(at: bundle, store: store)
        #expect(!CacheFiles.exists(bundle))
        #expect(try store.bundles().isEmpty)
    }
}

@Suite("Rootfs helpers")
struct BundleRootfsTests {
    @Test func overlayOptionPathsAreEscaped() {
        #expect(Rootfs.escapeOverlayPath("/var/lib/swcopy/layers/ab") == "/var/lib/swcopy/layers/ab")
        #expect(Rootfs.escapeOverlayPath("/a,b:c\\d") == "/a\\,b\\:c\\\\d")
    }

    @Test func flattenRefusesANonEmptyTarget() throws {
        let scratch = ScratchDirectory("rootfs")
        Fixture.mkdirs(scratch.sub("source"))
        Fixture.write(scratch.sub("source/f"), "f")
        Fixture.mkdirs(scratch.sub("target"))
        Fixture.write(scratch.sub("target/old"), "old")
        #expect(throws: RootfsError.rootfsNotEmpty(scratch.sub("target"))) {
            try Rootfs.flatten(from: scratch.sub("source"), to: scratch.sub("target"))
        }
        // An empty target directory is fine.
        Fixture.mkdirs(scratch.sub("empty"))
        #expect(try Rootfs.flatten(from: scratch.sub("source"), to: scratch.sub("empty")) == 1)
        #expect(Fixture.read(scratch.sub("empty/f")) == "f")
    }

    @Test func unmountingAPlainDirectoryIsANoOp() throws {
        let scratch = ScratchDirectory("rootfs")
        Fixture.mkdirs(scratch.sub("b/rootfs"))
        #expect(!Rootfs.isMountPoint(scratch.sub("b/rootfs")))
        #expect(try Rootfs.unmount(bundle: scratch.sub("b")) == false)
    }
}
