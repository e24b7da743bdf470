import SystemIO
import BlobStore
import Glibc
import OCIModel
import SystemIO
import Testing

@Suite struct UploadExpiryTests {
    @Test func idleSessionsExpireAndBusyOnesStay() throws {
        let root = "/tmp/swr-expiry-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { FileSystem.removeTree(root) }
        let store = try BlobStore(root: root, maxOpenUploads: 10)
        let name = try RepositoryName(validating: "expiry/test")
        let idle = try store.uploads.start(name)
        try store.uploads.append(idle, Array("partial".utf8))
        store.uploads.release(idle)
        let busy = try store.uploads.start(name)

        #expect(store.uploads.expire(olderThan: 3600) == 0, "nothing is an hour old")
        #expect(store.uploads.openCount == 2)
        // Everything idle counts as expired with a negative age; the session in use is left alone.
        #expect(store.uploads.expire(olderThan: -1) == 1)
        #expect(store.uploads.openCount == 1)
        #expect(throws: StoreError.uploadUnknown(idle.id.value)) { try store.uploads.acquire(idle.id.value, for: name) }
        #expect(FileSystem.exists("\(root)/uploads/\(busy.id.value)/data"))
        #expect(!FileSystem.exists("\(root)/uploads/\(idle.id.value)"))
    }

    @Test func sessionsSurviveReopeningTheStore() throws {
        let root = "/tmp/swr-reopen-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { FileSystem.removeTree(root) }
        let name = try RepositoryName(validating: "reopen/test")
        let id: String
        do {
            let store = try BlobStore(root: root)
            let upload = try store.uploads.start(name)
            try store.uploads.append(upload, Array("hello ".utf8))
            store.uploads.release(upload)
            id = upload.id.value
        }
        // A new store on the same folder, as after a restart: the session continues, its hash rebuilt from disk.
        let store = try BlobStore(root: root)
        #expect(store.uploads.openCount == 1)
        let upload = try store.uploads.acquire(id, for: name)
        #expect(upload.size == 6)
        try store.uploads.append(upload, Array("world".utf8))
        let digest = Digest.sha256(of: Array("hello world".utf8))
        try store.uploads.commit(upload, expected: digest, into: store)
        #expect(store.blobSize(digest) == 11)
        #expect(store.isLinked(name, digest))
        #expect(store.uploads.openCount == 0)
        // Another repository cannot take over a session.
        let other = try store.uploads.start(name)
        store.uploads.release(other)
        #expect(throws: StoreError.uploadUnknown(other.id.value)) {
            try store.uploads.acquire(other.id.value, for: try RepositoryName(validating: "someone/else"))
        }
    }
}
