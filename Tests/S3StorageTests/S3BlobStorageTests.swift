import BlobStore
import Glibc
import OCIModel
import Testing
import TestSupport
@testable import S3Storage

/// S3BlobStorage against the real Ceph RGW, beyond the shared contract suite (StorageContractTests): the bucket
/// layout, multipart parts and tails, replicas continuing each other's uploads, failures.
@Suite("S3BlobStorage", .offCooperativePool, .enabled(if: S3TestEnvironment.enabled, "needs SWREGISTRY_TEST_S3_* (Ceph RGW)"))
final class S3BlobStorageTests {
    let root: String
    let storage: S3BlobStorage

    init() throws {
        root = S3TestEnvironment.randomPrefix("blobs")
        storage = try S3BlobStorage(S3TestEnvironment.configuration(), rootDirectory: root,
                                    chunkSize: S3BlobStorage.minimumChunkSize)
    }

    deinit { S3TestEnvironment.removeEverything(under: root + "/", storage.client) }

    /// Another replica: same bucket and root, nothing shared in memory.
    func replica() throws -> S3BlobStorage {
        try S3BlobStorage(S3TestEnvironment.configuration(), rootDirectory: "/" + root + "/",
                          chunkSize: S3BlobStorage.minimumChunkSize)
    }

    static func pattern(_ count: Int, seed: Int) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ ($0 >> 11) &+ seed) }
    }

    static func append(_ chunks: [[UInt8]], _ id: UploadID, _ state: UploadState,
                       _ storage: any BlobStorage) async throws -> UploadState {
        let appender = try storage.appender(for: id, state)
        for chunk in chunks { try await appender.write(chunk) }
        let (next, failure) = await appender.finish()
        if let failure { throw failure }
        return next
    }

    @Test("blobs live at distribution's keys; enumerate, size, read, delete")
    func layout() throws {
        let bytes = Array("{\"schemaVersion\":2}".utf8)
        let digest = Digest.sha256(of: bytes)
        try storage.put(bytes, as: digest)
        let key = "\(root)/docker/registry/v2/blobs/sha256/\(digest.encoded.prefix(2))/\(digest.encoded)/data"
        #expect(try storage.client.headObject(key)?.size == Int64(bytes.count))
        #expect(try storage.size(of: digest) == Int64(bytes.count))
        #expect(try storage.read(digest, maxBytes: 100) == bytes)
        #expect(throws: StoreError.self) { try storage.read(digest, maxBytes: 3) }
        // A stray object under blobs/ is not a blob.
        try storage.client.putObject("\(root)/docker/registry/v2/blobs/sha256/zz/notadigest/data", bytes: [1])
        var seen: [BlobEntry] = []
        try storage.enumerate { entry throws(StoreError) in seen.append(entry) }
        #expect(seen.map(\.digest) == [digest])
        let now = S3BlobStorage.now()
        #expect(seen.allSatisfy { abs($0.modified - now) < 300 * 1_000_000_000 })
        #expect(try storage.delete(digest))
        #expect(try !storage.delete(digest))
        #expect(try storage.read(digest, maxBytes: 100) == nil)
        #expect(storage.isReachable())
    }

    @Test("content streams ranges, cancels cleanly, and redirects to a presigned URL that plain curl can use")
    func content() async throws {
        let bytes = Self.pattern(3_000_000, seed: 1)
        let digest = Digest.sha256(of: bytes)
        try storage.put(bytes, as: digest)
        guard case .stream(let size, let open) = try storage.content(of: digest, redirect: false) else {
            Issue.record("not a stream")
            return
        }
        #expect(size == Int64(bytes.count))
        for range in [Int64(0)..<Int64(bytes.count), 5..<6, 1_000_000..<2_500_001, 2_999_999..<3_000_000, 7..<7] {
            let stream = try await open(range)
            var got: [UInt8] = []
            while let chunk = try await stream.next() {
                #expect(!chunk.isEmpty)
                got += chunk
            }
            stream.cancel()
            #expect(got == Array(bytes[Int(range.lowerBound)..<Int(range.upperBound)]), "\(range)")
        }
        // A consumer that stops after one piece: the GET's thread is released, nothing hangs.
        let partial = try await open(0..<Int64(bytes.count))
        _ = try await partial.next()
        partial.cancel()

        guard case .redirect(let url, let redirectSize) = try storage.content(of: digest, redirect: true) else {
            Issue.record("not a redirect")
            return
        }
        #expect(redirectSize == Int64(bytes.count))
        let (status, body) = try S3ClientTests.curl(url)
        #expect(status == 200 && body == bytes)
        #expect(throws: StoreError.blobUnknown(Digest.sha256(of: [9]))) {
            try storage.content(of: Digest.sha256(of: [9]), redirect: false)
        }
    }

    @Test("an upload over parts and tails, continued by other replicas, committed by a third, verified from its state")
    func multipartAcrossReplicas() async throws {
        let id = UploadID.random()
        var state = try storage.beginUpload(id)
        var all: [UInt8] = []
        // Parts of 5 MiB at least. Request 1 (replica A): 3,000,000 bytes → a tail object. Request 2 (B): 4 MiB
        // more → one part (the tail and the chunk), no tail. Request 3 (A): 3 + 3 MiB → a part, then 100 bytes →
        // an inline tail. Request 4 (B): 9 KiB more → a tail object again.
        let replicas = [storage, try replica()]
        let requests: [[Int]] = [[1_000_000, 2_000_000], [4 << 20], [3 << 20, 3 << 20, 100, 0], [9 * 1024]]
        var expectedTails: [String] = []
        for (n, sizes) in requests.enumerated() {
            let chunks = sizes.enumerated().map { Self.pattern($0.element, seed: n * 10 + $0.offset) }
            state = try await Self.append(chunks, id, state, replicas[n % 2])
            all += chunks.joined()
            #expect(state.size == Int64(all.count))
            let decoded = try #require(S3UploadState.decode(state.data, expectedSize: state.size))
            expectedTails.append("\(decoded.partCount) parts, tail \(decoded.tail.length)")
        }
        #expect(expectedTails == ["0 parts, tail 3000000", "1 parts, tail 0", "2 parts, tail 100",
                                  "2 parts, tail 9316"])
        // Only the current tail object is left (superseded ones were deleted by the next appender).
        var keys = try storage.client.listObjectsV2(prefix: storage.layout.uploadFolder(id)).objects.map(\.key)
        #expect(keys.sorted() == [storage.layout.uploadMarker(id), storage.layout.uploadTail(id, size: state.size)])

        let third = try replica()
        let digest = Digest.sha256(of: all)
        #expect(try third.commitUpload(id, state, as: digest) == Int64(all.count))
        var hash = ResumableSHA256()
        let stream = try await { () async throws -> any BlobByteStream in
            guard case .stream(_, let open) = try storage.content(of: digest, redirect: false) else {
                throw StoreError.unavailable("not a stream")
            }
            return try await open(0..<Int64(all.count))
        }()
        while let chunk = try await stream.next() { hash.update(chunk) }
        #expect(hash.finalize() == digest)
        // Nothing of the upload is left: no objects, no multipart upload; and it cannot be continued.
        keys = try storage.client.listObjectsV2(prefix: storage.layout.uploadFolder(id)).objects.map(\.key)
        #expect(keys == [])
        #expect(try storage.client.listMultipartUploads(prefix: storage.layout.uploadsPrefix).uploads.isEmpty)
        #expect(throws: StoreError.uploadUnknown(id.value)) { try storage.appender(for: id, state) }
    }

    @Test("commit when the parts' ETags did not fit in the state: S3 lists them")
    func etagsListed() async throws {
        let id = UploadID.random()
        var state = try storage.beginUpload(id)
        let bytes = Self.pattern(11 << 20, seed: 3)
        state = try await Self.append([Array(bytes[..<(6 << 20)]), Array(bytes[(6 << 20)...])], id, state, storage)
        var decoded = try #require(S3UploadState.decode(state.data, expectedSize: state.size))
        #expect(decoded.partCount == 2)
        decoded.partETags = nil
        state = UploadState(size: state.size, data: decoded.encoded())
        #expect(try storage.commitUpload(id, state, as: Digest.sha256(of: bytes)) == Int64(bytes.count))
        #expect(try storage.size(of: Digest.sha256(of: bytes)) == Int64(bytes.count))
    }

    @Test("a state with thousands of parts leaves the ETags out to stay under 64 KiB")
    func stateBudget() throws {
        var state = S3UploadState(started: 1)
        state.multipartID = "mp"
        state.partCount = 3000
        state.partETags = (0..<3000).map { "\"\(String(repeating: "a", count: 30))\($0)\"" }
        state.partBytes = 3000
        state.hash.update([UInt8](repeating: 0, count: 3000))
        let data = state.encoded()
        #expect(data.count <= 64 * 1024)
        let decoded = try #require(S3UploadState.decode(data, expectedSize: 3000))
        #expect(decoded.partETags == nil)
        #expect(decoded.partCount == 3000 && decoded.multipartID == "mp")
        state.partCount = 2
        state.partETags = ["\"a\"", "\"b\""]
        #expect(S3UploadState.decode(state.encoded(), expectedSize: 3000)?.partETags == ["\"a\"", "\"b\""])
    }

    @Test("malformed states are refused as an unknown upload, never a crash")
    func malformedStates() async throws {
        let id = UploadID.random()
        var state = try storage.beginUpload(id)
        state = try await Self.append([Self.pattern(20_000, seed: 5)], id, state, storage)
        #expect(S3UploadState.decode(state.data, expectedSize: state.size) != nil)
        #expect(S3UploadState.decode(state.data, expectedSize: state.size + 1) == nil)
        for cut in 0..<state.data.count {
            #expect(S3UploadState.decode(Array(state.data[..<cut]), expectedSize: state.size) == nil)
        }
        var random = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            var bad = state.data
            for _ in 0..<Int.random(in: 1...4, using: &random) {
                bad[Int.random(in: 0..<bad.count, using: &random)] = UInt8.random(in: 0...255, using: &random)
            }
            _ = S3UploadState.decode(bad, expectedSize: state.size)
        }
        #expect(throws: StoreError.uploadUnknown(id.value)) {
            try storage.appender(for: id, UploadState(size: 0, data: [1, 2, 3]))
        }
        storage.abortUpload(id, state)
    }

    @Test("a mismatch leaves the upload as it was; abort removes everything; stale uploads are found")
    func mismatchAbortStale() async throws {
        let id = UploadID.random()
        var state = try storage.beginUpload(id)
        let bytes = Self.pattern(6 << 20, seed: 7)
        state = try await Self.append([bytes], id, state, storage)
        let wrong = Digest.sha256(of: [1])
        #expect(throws: StoreError.digestMismatch(expected: wrong, actual: Digest.sha256(of: bytes))) {
            try storage.commitUpload(id, state, as: wrong)
        }
        #expect(try storage.size(of: wrong) == nil)
        let now = S3BlobStorage.now()
        #expect(try storage.staleUploads(startedBefore: now + 60 * 1_000_000_000) == [id])
        #expect(try storage.staleUploads(startedBefore: now - 3600 * 1_000_000_000) == [])
        // Expiry knows only the id: an empty state is enough to abort the multipart upload and the objects.
        storage.abortUpload(id, UploadState(size: 0, data: []))
        #expect(try storage.client.listMultipartUploads(prefix: storage.layout.uploadsPrefix).uploads.isEmpty)
        #expect(try storage.client.listObjectsV2(prefix: storage.layout.uploadsPrefix).objects.isEmpty)
        #expect(throws: StoreError.uploadUnknown(id.value)) { try storage.commitUpload(id, state, as: Digest.sha256(of: bytes)) }
        #expect(try storage.staleUploads(startedBefore: now + 60 * 1_000_000_000) == [])
    }

    @Test("a copy larger than CopyObject's limit goes part by part")
    func largeCopy() async throws {
        let small = try S3BlobStorage(S3TestEnvironment.configuration(), rootDirectory: root,
                                      chunkSize: S3BlobStorage.minimumChunkSize,
                                      copyLimits: (single: 6 << 20, part: 5 << 20))
        let id = UploadID.random()
        var state = try small.beginUpload(id)
        let bytes = Self.pattern(12 << 20, seed: 9)
        state = try await Self.append([bytes], id, state, small)
        let digest = Digest.sha256(of: bytes)
        #expect(try small.commitUpload(id, state, as: digest) == Int64(bytes.count))
        let info = try #require(try small.client.headObject(small.layout.blob(digest)))
        #expect(info.size == Int64(bytes.count))
        #expect(info.etag.hasSuffix("-3\""), "copied in 3 parts: \(info.etag)")
        #expect(try small.read(digest, maxBytes: bytes.count) == bytes)
    }

    @Test("S3 unreachable: 503-class errors, and an appender whose writes fail describes what was stored")
    func unreachable() async throws {
        var dead = try S3TestEnvironment.configuration()
        dead.endpoint = "http://127.0.0.1:1"
        let deadStorage = try S3BlobStorage(dead, rootDirectory: root)
        #expect(!deadStorage.isReachable())
        #expect(throws: StoreError.self) { try deadStorage.size(of: Digest.sha256(of: [1])) }
        do {
            _ = try deadStorage.size(of: Digest.sha256(of: [1]))
        } catch {
            guard case .unavailable = error else { Issue.record("not unavailable: \(error)"); return }
        }
        #expect(throws: StoreError.self) { try deadStorage.beginUpload(UploadID.random()) }

        // An upload begun while S3 was there, continued when it is not: its parts fail.
        let id = UploadID.random()
        let state = try storage.beginUpload(id)
        let decoded = try #require(S3UploadState.decode(state.data, expectedSize: 0))
        let appender = S3Appender(client: deadStorage.client, layout: deadStorage.layout, id: id, state: decoded,
                                  original: state, chunkSize: S3BlobStorage.minimumChunkSize)
        var thrown: StoreError?
        for _ in 0..<40 {
            do { try await appender.write([UInt8](repeating: 1, count: 256 << 10)) } catch {
                thrown = error
                break
            }
        }
        let (after, failure) = await appender.finish()
        #expect(thrown != nil || failure != nil)
        #expect(after == state, "nothing was stored: the state it started from")
        storage.abortUpload(id, state)
    }
}
