@testable import BlobStore
import Glibc
import OCIModel
import Synchronization
import SystemIO
import Testing
import TestSupport

/// Shared flushes (`GroupCommit`) and the manifest writes that use them: concurrent writers all return, share
/// flushes, and leave a store whose caches agree with the disk.
@Suite struct GroupCommitTests {
    /// Runs `body(i)` on `count` threads at once and waits for all.
    static func concurrently(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
        final class Work: @unchecked Sendable {
            let body: @Sendable (Int) -> Void
            let index: Int
            init(_ body: @escaping @Sendable (Int) -> Void, _ index: Int) { self.body = body; self.index = index }
        }
        var threads: [pthread_t] = []
        for i in 0..<count {
            var thread = pthread_t()
            let work = Unmanaged.passRetained(Work(body, i)).toOpaque()
            let rc = pthread_create(&thread, nil, { raw in
                let work = Unmanaged<Work>.fromOpaque(raw!).takeRetainedValue()
                work.body(work.index)
                return nil
            }, work)
            precondition(rc == 0)
            threads.append(thread)
        }
        for thread in threads { pthread_join(thread, nil) }
    }

    @Test func concurrentWritersShareFlushes() throws {
        let root = makeTemporaryDirectory(prefix: "swr-group")
        defer { FileSystem.removeTree(root) }
        let commit = try GroupCommit(root: root, folders: [root])
        #expect(commit.isShared)
        let failures = Atomic<Int>(0)
        Self.concurrently(8) { i in
            for n in 0..<40 {
                do {
                    try FileSystem.writeAtomically(Array("\(i)-\(n)".utf8), to: "\(root)/d\(i)/f\(n)", tmpDirectory: root,
                                                   durability: commit)
                } catch {
                    failures.add(1, ordering: .relaxed)
                }
            }
        }
        #expect(failures.load(ordering: .relaxed) == 0)
        for i in 0..<8 {
            for n in 0..<40 { #expect(try FileSystem.read("\(root)/d\(i)/f\(n)", maxBytes: 100) == Array("\(i)-\(n)".utf8)) }
        }
        // 8 × 40 writes of two flushes each, and each new folder's: fewer flushes than that, as writers shared them.
        #expect(commit.flushes > 0 && commit.flushes < 8 * 40 * 2)
        #expect(try FileSystem.list(root).allSatisfy { !$0.hasPrefix(".tmp-") }, "no temporary file left")
    }

    @Test func foldersOnAnotherFilesystemAreFlushedOneByOne() throws {
        let root = makeTemporaryDirectory(prefix: "swr-group")
        defer { FileSystem.removeTree(root) }
        // /proc is never the filesystem of /tmp.
        let commit = try GroupCommit(root: root, folders: [root, "/proc"])
        #expect(!commit.isShared)
        try FileSystem.writeAtomically(Array("x".utf8), to: "\(root)/a/b", tmpDirectory: root, durability: commit)
        #expect(try FileSystem.read("\(root)/a/b", maxBytes: 10) == Array("x".utf8))
        #expect(commit.flushes == 0)
    }

    /// Eight writers pushing manifests to overlapping tags, and one deleting them, at once: at the end every tag
    /// names a manifest the repository holds, and a store opened afresh (no cache) answers as the running one.
    @Test func concurrentPushesAndDeletesLeaveTheCachesAgreeingWithTheDisk() throws {
        let root = makeTemporaryDirectory(prefix: "swr-group-store")
        defer { FileSystem.removeTree(root) }
        let store = try BlobStore(root: root)
        let name = try RepositoryName(validating: "team/app")
        let config = Array(#"{"architecture":"amd64","os":"linux"}"#.utf8)
        let configDigest = Digest.sha256(of: config)
        try FileSystem.writeAtomically(config, to: store.layout.blob(configDigest), tmpDirectory: store.layout.tmpDirectory)
        try store.linkBlob(name, configDigest)
        @Sendable func manifest(_ n: Int) -> [UInt8] {
            Array(#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"\#(configDigest)","size":\#(config.count)},"layers":[],"annotations":{"n":"\#(n)"}}"#.utf8)
        }
        let failures = Atomic<Int>(0)
        Self.concurrently(9) { i in
            for n in 0..<30 {
                let bytes = manifest(n % 6)
                let digest = Digest.sha256(of: bytes)
                do {
                    if i == 8 {
                        try? store.deleteManifest(name, digest, subject: nil)
                    } else {
                        try store.putManifest(name, bytes: bytes, digest: digest, mediaType: "application/vnd.oci.image.manifest.v1+json",
                                              tag: try Tag(validating: "t\((i + n) % 4)"), subject: nil, referrer: nil)
                    }
                } catch {
                    failures.add(1, ordering: .relaxed)
                }
            }
        }
        #expect(failures.load(ordering: .relaxed) == 0)
        let fresh = try BlobStore(root: root)
        for tagName in try store.tags(name) {
            let tag = try Tag(validating: tagName)
            let digest = try store.resolve(name, tag: tag)
            #expect(try fresh.resolve(name, tag: tag) == digest)
            #expect(store.manifestMediaType(name, digest) != nil, "tag \(tagName) names a manifest the repository holds")
            #expect(fresh.manifestMediaType(name, digest) != nil)
            #expect(try fresh.manifest(name, digest, maxBytes: 1 << 20).bytes == (try store.manifest(name, digest, maxBytes: 1 << 20)).bytes)
        }
        for n in 0..<6 {
            let digest = Digest.sha256(of: manifest(n))
            #expect((store.manifestMediaType(name, digest) != nil) == (fresh.manifestMediaType(name, digest) != nil))
        }
        #expect(store.unflushed.isEmpty)
        #expect(try FileSystem.list(store.layout.tmpDirectory).isEmpty, "no temporary file left")
    }
}
