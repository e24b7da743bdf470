@testable import BlobStore
import Glibc
import OCIModel
import Synchronization
import SystemIO
import Testing

@Suite struct UploadWriterTests {
    /// A store in a fresh folder, removed by `close`.
    private final class Sandbox {
        let root = "/tmp/swr-writer-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let pool = BlockingPool(threadCount: 3)
        func close() {
            pool.shutdown()
            FileSystem.removeTree(root)
        }
    }

    /// `count` bytes of a repeatable pattern that differs per `seed`.
    private func pattern(_ count: Int, seed: UInt8) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ Int(seed) &* 7 &+ $0 >> 9) }
    }

    private func fileBytes(_ path: String) -> [UInt8] {
        ((try? FileSystem.read(path, maxBytes: 64 << 20)) ?? nil) ?? []
    }

    @Test func chunksLandInOrderAndTheHashMatchesTheFile() async throws {
        let sandbox = Sandbox()
        defer { sandbox.close() }
        let store = try BlobStore(root: sandbox.root)
        let name = try RepositoryName(validating: "writer/order")
        let upload = try store.uploads.start(name, owner: "test")
        // Sizes that are not multiples of one another, some tiny, and a small in-flight limit, so that the
        // writer waits often and many chunks are queued in both lanes at once.
        let writer = UploadWriter(upload, pool: sandbox.pool, maxInFlight: 96 * 1024, writeBackWindow: 128 * 1024)
        var expected: [UInt8] = []
        for (i, size) in [1, 70_000, 3, 262_144, 65_537, 12, 200_000, 99_999, 1, 150_000].enumerated() {
            let chunk = pattern(size, seed: UInt8(i))
            expected += chunk
            try await writer.write(chunk)
        }
        #expect(await writer.finish().1 == nil)
        #expect(upload.size == Int64(expected.count))
        #expect(fileBytes(store.layout.uploadData(upload.id)) == expected)
        // The running hash, not a rehash, is what commit checks here.
        #expect(upload.hasher != nil)
        try store.uploads.commit(upload, expected: Digest.sha256(of: expected), into: store)
        #expect(store.blobSize(Digest.sha256(of: expected)) == Int64(expected.count))
    }

    @Test func writeWaitsWhileTooMuchIsInFlight() async throws {
        let sandbox = Sandbox()
        defer { sandbox.close() }
        let store = try BlobStore(root: sandbox.root)
        let upload = try store.uploads.start(try RepositoryName(validating: "writer/pressure"), owner: "test")
        // One pool thread, held by a job that waits for the gate: nothing the writer queues can run yet.
        let pool = BlockingPool(threadCount: 1)
        defer { pool.shutdown() }
        let gate = Atomic<Bool>(false)
        pool.execute { while !gate.load(ordering: .sequentiallyConsistent) { usleep(200) } }
        let writer = UploadWriter(upload, pool: pool, maxInFlight: 100_000)
        try await writer.write(pattern(60_000, seed: 1))  // under the limit: returns at once
        let returned = Atomic<Bool>(false)
        async let second: Void = {
            try await writer.write(pattern(60_000, seed: 2))  // 120,000 queued: must wait
            returned.store(true, ordering: .sequentiallyConsistent)
        }()
        try await Task.sleep(nanoseconds: 100_000_000)
        let returnedEarly = returned.load(ordering: .sequentiallyConsistent)
        #expect(!returnedEarly, "write returned with 120,000 bytes in flight")
        gate.store(true, ordering: .sequentiallyConsistent)
        try await second
        let returnedLater = returned.load(ordering: .sequentiallyConsistent)
        #expect(returnedLater)
        #expect(await writer.finish().1 == nil)
        #expect(upload.size == 120_000)
        #expect(fileBytes(store.layout.uploadData(upload.id)) == pattern(60_000, seed: 1) + pattern(60_000, seed: 2))
    }

    @Test func finishedBuffersComeBackEmptyWithTheirCapacity() async throws {
        let sandbox = Sandbox()
        defer { sandbox.close() }
        let store = try BlobStore(root: sandbox.root)
        let upload = try store.uploads.start(try RepositoryName(validating: "writer/reuse"), owner: "test")
        let writer = UploadWriter(upload, pool: sandbox.pool)
        var chunk: [UInt8] = []
        chunk.reserveCapacity(256 * 1024)
        chunk += pattern(1000, seed: 3)
        try await writer.write(chunk)
        chunk = []
        #expect(await writer.finish().1 == nil)
        let buffers = writer.reclaim()
        #expect(buffers.count == 1)
        #expect(buffers.first?.isEmpty == true)
        #expect((buffers.first?.capacity ?? 0) >= 256 * 1024)
        #expect(writer.reclaim().isEmpty, "each buffer is handed back once")
    }

    @Test func aFailedWriteDropsTheRunningHashAndKeepsWhatWasWritten() async throws {
        let sandbox = Sandbox()
        defer { sandbox.close() }
        let store = try BlobStore(root: sandbox.root)
        let upload = try store.uploads.start(try RepositoryName(validating: "writer/failure"), owner: "test")
        let first = pattern(10_000, seed: 4)
        try store.uploads.append(upload, first)
        // Swap the session's descriptor for a read-only one: every pwrite now fails (EBADF), as a full disk would.
        let writable = upload.fd
        upload.fd = open(store.layout.uploadData(upload.id), O_RDONLY | O_CLOEXEC)
        defer { close(writable) }
        let writer = UploadWriter(upload, pool: sandbox.pool)
        var failure: StoreError?
        do {
            for i in 0..<8 { try await writer.write(pattern(50_000, seed: UInt8(10 + i))) }
        } catch {
            failure = error
        }
        let finished = await writer.finish().1
        #expect(finished != nil)
        if let failure { #expect(failure == finished) }
        #expect(upload.size == 10_000, "only what reached the file counts")
        #expect(upload.hasher == nil, "the hash ran ahead of the file and is dropped")
        // Commit rehashes the file: the 10,000 bytes that are there verify, nothing else does.
        let wrong = Digest.sha256(of: first + pattern(50_000, seed: 10))
        #expect(throws: StoreError.self) { try store.uploads.commit(upload, expected: wrong, into: store) }
        try store.uploads.commit(upload, expected: Digest.sha256(of: first), into: store)
    }

    @Test func aSessionResumedAfterARestartStillVerifies() async throws {
        let sandbox = Sandbox()
        defer { sandbox.close() }
        let name = try RepositoryName(validating: "writer/resume")
        let head = pattern(300_000, seed: 5), tail = pattern(200_001, seed: 6)
        let id: String
        do {
            let store = try BlobStore(root: sandbox.root)
            let upload = try store.uploads.start(name, owner: "test")
            let writer = UploadWriter(upload, pool: sandbox.pool, maxInFlight: 64 * 1024)
            try await writer.write(Array(head[..<123_456]))
            try await writer.write(Array(head[123_456...]))
            #expect(await writer.finish().1 == nil)
            store.uploads.release(upload)
            id = upload.id.value
        }
        // As after a restart: the session comes back from disk without its running hash.
        let store = try BlobStore(root: sandbox.root)
        let upload = try store.uploads.acquire(id, for: name)
        #expect(upload.size == Int64(head.count))
        let writer = UploadWriter(upload, pool: sandbox.pool, maxInFlight: 64 * 1024)
        try await writer.write(tail)
        #expect(await writer.finish().1 == nil)
        #expect(upload.size == Int64(head.count + tail.count))
        let wrong = Digest.sha256(of: tail + head)
        #expect(throws: StoreError.digestMismatch(expected: wrong, actual: Digest.sha256(of: head + tail))) {
            try store.uploads.commit(upload, expected: wrong, into: store)
        }
        try store.uploads.commit(upload, expected: Digest.sha256(of: head + tail), into: store)
        #expect(store.isLinked(name, Digest.sha256(of: head + tail)))
    }
}
