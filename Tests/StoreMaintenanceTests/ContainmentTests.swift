import BlobStore
import Glibc
import OCIModel
import StoreMaintenance
import SystemIO
import Testing
import TestSupport

/// A folder of the store replaced by a link to elsewhere (planted by whoever can write to the store) must not make
/// garbage collection or `verify --repair` — which root may run — remove files outside the store.
@Suite struct ContainmentTests {
    /// Files named as the store names its entries, outside the store, behind links planted inside it.
    static func plant(_ root: String) throws -> (outside: String, files: [String]) {
        let outside = makeTemporaryDirectory(prefix: "swr-outside")
        let hex = String(repeating: "ab", count: 32)
        let files = ["\(outside)/passwd", "\(outside)/\(hex)"]
        for file in files { try FileSystem.writeAtomically(Array("keep me\n".utf8), to: file, tmpDirectory: outside) }
        let repository = "\(root)/repositories/victim/app"
        try FileSystem.makeDirectories("\(repository)/_manifests/revisions")
        try FileSystem.makeDirectories("\(repository)/_layers")
        #expect(symlink(outside, "\(repository)/_manifests/tags") == 0)
        #expect(symlink(outside, "\(repository)/_layers/sha256") == 0)
        #expect(symlink(outside, "\(repository)/_manifests/revisions/sha256") == 0)
        // Old enough for any grace period.
        var times = [timespec(tv_sec: time(nil) - 86400 * 3, tv_nsec: 0), timespec(tv_sec: time(nil) - 86400 * 3, tv_nsec: 0)]
        for file in files { utimensat(AT_FDCWD, file, &times, 0) }
        return (outside, files)
    }

    @Test func collectionRemovesNothingOutsideTheStore() throws {
        let b = try StoreBuilder(prefix: "swr-contain-gc")
        defer { b.remove() }
        let image = try b.image("ok/app", tag: "v1", seed: "1", layers: [Array("layer".utf8)])
        let (outside, files) = try Self.plant(b.root)
        defer { FileSystem.removeTree(outside) }
        _ = try GarbageCollector(store: b.store, options: GCOptions(deleteUntagged: true, graceSeconds: 0),
                                 output: CollectedOutput()).run()
        for file in files { #expect(FileSystem.exists(file), "\(file) removed through a link in the store") }
        #expect(b.hasManifest("ok/app", image) && b.hasBlob(image), "the store's own image is untouched")
    }

    @Test func repairRemovesNothingOutsideTheStore() throws {
        let b = try StoreBuilder(prefix: "swr-contain-verify")
        defer { b.remove() }
        let image = try b.image("ok/app", tag: "v1", seed: "1", layers: [Array("layer".utf8)])
        let (outside, files) = try Self.plant(b.root)
        defer { FileSystem.removeTree(outside) }
        _ = try Verifier(store: b.store, options: VerifyOptions(repair: true, repositories: [], jobs: 1),
                         output: CollectedOutput()).run()
        for file in files { #expect(FileSystem.exists(file), "\(file) removed through a link in the store") }
        #expect(b.hasManifest("ok/app", image) && b.hasBlob(image), "the store's own image is untouched")
    }
}
