import BlobStore
import Glibc
import OCIModel
import SystemIO
import Testing
import TestSupport

/// The contract of `BlobStorage` (its doc comments), against every backend in `BlobBackend.all`.
@Suite(.offCooperativePool) struct BlobStorageContractTests {
    @Test(arguments: BlobBackend.all)
    func putReadSizeAndDelete(_ backend: BlobBackend) async throws {
        let fixture = try backend.make()
        defer { fixture.cleanup() }
        let storage = fixture.storage
        let bytes = Array("a manifest's bytes, stored whole".utf8)
        let digest = Digest.sha256(of: bytes)
        #expect(try storage.size(of: digest) == nil)
        #expect(try storage.read(digest, maxBytes: 1024) == nil)
        #expect(throws: StoreError.blobUnknown(digest)) { _ = try storage.content(of: digest, redirect: false) }

        try storage.put(bytes, as: digest)
        try storage.put(bytes, as: digest)  // again: harmless
        #expect(try storage.size(of: digest) == Int64(bytes.count))
        #expect(try storage.read(digest, maxBytes: bytes.count) == bytes)
        #expect(throws: StoreError.self) { _ = try storage.read(digest, maxBytes: bytes.count - 1) }
        #expect(try await Self.bytes(of: storage.content(of: digest, redirect: false)) == bytes)
        #expect(try fixture.reopen().size(of: digest) == Int64(bytes.count), "visible to another instance")

        #expect(try storage.delete(digest))
        #expect(try !storage.delete(digest))
        #expect(try storage.size(of: digest) == nil)
        #expect(try storage.read(digest, maxBytes: 1024) == nil)
        #expect(storage.isReachable())
    }

    @Test(arguments: BlobBackend.all)
    func contentRanges(_ backend: BlobBackend) async throws {
        let fixture = try backend.make()
        defer { fixture.cleanup() }
        let bytes = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 9) }
        let digest = Digest.sha256(of: bytes)
        try fixture.storage.put(bytes, as: digest)
        let content = try fixture.storage.content(of: digest, redirect: false)
        #expect(content.size == Int64(bytes.count))
        if case .redirect = content { Issue.record("a redirect although none was allowed") }
        for range in [Int64(0)..<1, 0..<Int64(bytes.count), 1000..<250_001, Int64(bytes.count - 1)..<Int64(bytes.count)] {
            let got = try await Self.bytes(of: content, range: range)
            #expect(got == Array(bytes[Int(range.lowerBound)..<Int(range.upperBound)]), "range \(range)")
        }
        // A backend that can redirect may; either way the size is the blob's.
        #expect(try fixture.storage.content(of: digest, redirect: true).size == Int64(bytes.count))
    }

    @Test(arguments: BlobBackend.all)
    func enumerateListsEveryBlob(_ backend: BlobBackend) throws {
        let fixture = try backend.make()
        defer { fixture.cleanup() }
        let before = Int64(time(nil) - 120) * 1_000_000_000
        var expected: [Digest: Int64] = [:]
        for i in 0..<5 {
            let bytes = Array("blob number \(i) ".utf8) + [UInt8](repeating: UInt8(i), count: i * 100)
            let digest = Digest.sha256(of: bytes)
            try fixture.storage.put(bytes, as: digest)
            expected[digest] = Int64(bytes.count)
        }
        var seen: [Digest: BlobEntry] = [:]
        try fixture.storage.enumerate { entry throws(StoreError) in seen[entry.digest] = entry }
        #expect(seen.mapValues(\.size) == expected)
        #expect(seen.values.allSatisfy { $0.modified > before && $0.modified < before + 600 * 1_000_000_000 })
        // A failure of the visitor ends the walk with it.
        var visits = 0
        #expect(throws: StoreError.sizeInvalid("stop")) {
            try fixture.storage.enumerate { _ throws(StoreError) in
                visits += 1
                throw .sizeInvalid("stop")
            }
        }
        #expect(visits == 1)
    }

    @Test(arguments: BlobBackend.all)
    func uploadInSeveralRequestsThroughFreshAppenders(_ backend: BlobBackend) async throws {
        let fixture = try backend.make()
        defer { fixture.cleanup() }
        let storage = fixture.storage
        let id = UploadID.random()
        var state = try storage.beginUpload(id)
        #expect(state.size == 0)
        var all: [UInt8] = []
        // Three requests, each through a new appender built from the state saved by the one before, each with
        // several chunks of uneven sizes (some above a multipart part, 5 MiB).
        for request in 0..<3 {
            let chunks = (0..<4).map { chunk in
                [UInt8](repeating: UInt8(request * 16 + chunk), count: [70_000, 1, 2_500_000, 3_000_001][chunk])
            }
            state = try await Self.append(chunks, to: id, state, storage)
            all += chunks.joined()
            #expect(state.size == Int64(all.count))
            #expect(state.data.count <= 64 * 1024)
        }
        let digest = Digest.sha256(of: all)
        #expect(try storage.commitUpload(id, state, as: digest) == Int64(all.count))
        #expect(try storage.size(of: digest) == Int64(all.count))
        #expect(try await Self.bytes(of: storage.content(of: digest, redirect: false), range: 5_000_000..<5_000_100)
                == Array(all[5_000_000..<5_000_100]))
        // The upload's data is gone.
        #expect(throws: StoreError.self) { _ = try storage.appender(for: id, state) }
        #expect(try !storage.staleUploads(startedBefore: Int64.max).contains(id))
    }

    @Test(arguments: BlobBackend.all)
    func anotherInstanceContinuesAndCommits(_ backend: BlobBackend) async throws {
        let fixture = try backend.make()
        defer { fixture.cleanup() }
        let id = UploadID.random()
        var state = try fixture.storage.beginUpload(id)
        state = try await Self.append([Array("begun on one replica, ".utf8)], to: id, state, fixture.storage)
        let other = try fixture.reopen()
        state = try await Self.append([Array("continued on another, ".utf8)], to: id, state, other)
        state = try await Self.append([Array("and back.".utf8)], to: id, state, fixture.storage)
        let all = Array("begun on one replica, continued on another, and back.".utf8)
        #expect(state.size == Int64(all.count))
        // Committed by a third instance, which never saw the upload: it verifies all the same.
        let third = try fixture.reopen()
        #expect(throws: StoreError.self) { _ = try third.commitUpload(id, state, as: Digest.sha256(of: Array("other".utf8))) }
        #expect(try third.commitUpload(id, state, as: Digest.sha256(of: all)) == Int64(all.count))
        #expect(try fixture.storage.read(Digest.sha256(of: all), maxBytes: 1024) == all)
    }

    @Test(arguments: BlobBackend.all)
    func mismatchLeavesTheUploadContinuable(_ backend: BlobBackend) async throws {
        let fixture = try backend.make()
        defer { fixture.cleanup() }
        let storage = fixture.storage
        let id = UploadID.random()
        var state = try storage.beginUpload(id)
        let first = Array("the first part".utf8)
        state = try await Self.append([first], to: id, state, storage)
        let wrong = Digest.sha256(of: Array("something else".utf8))
        #expect(throws: StoreError.digestMismatch(expected: wrong, actual: Digest.sha256(of: first))) {
            _ = try storage.commitUpload(id, state, as: wrong)
        }
        #expect(try storage.size(of: wrong) == nil)
        let second = Array(", then the rest".utf8)
        state = try await Self.append([second], to: id, state, storage)
        #expect(try storage.commitUpload(id, state, as: Digest.sha256(of: first + second)) == Int64(first.count + second.count))
    }

    @Test(arguments: BlobBackend.all)
    func emptyAndDuplicateUploads(_ backend: BlobBackend) async throws {
        let fixture = try backend.make()
        defer { fixture.cleanup() }
        let storage = fixture.storage
        let empty = UploadID.random()
        let emptyState = try storage.beginUpload(empty)
        #expect(try storage.commitUpload(empty, emptyState, as: Digest.sha256(of: [])) == 0)
        #expect(try storage.size(of: Digest.sha256(of: [])) == 0)
        // The same content uploaded twice: both commits succeed, one blob.
        let bytes = Array("pushed by two clients at once".utf8)
        let ids = [UploadID.random(), UploadID.random()]
        var states: [UploadState] = []
        for id in ids {
            states.append(try await Self.append([bytes], to: id, try storage.beginUpload(id), storage))
        }
        for (id, state) in zip(ids, states) {
            #expect(try storage.commitUpload(id, state, as: Digest.sha256(of: bytes)) == Int64(bytes.count))
        }
        var count = 0
        try storage.enumerate { entry throws(StoreError) in if entry.digest == Digest.sha256(of: bytes) { count += 1 } }
        #expect(count == 1)
    }

    @Test(arguments: BlobBackend.all)
    func abortIsIdempotentAndEndsTheUpload(_ backend: BlobBackend) async throws {
        let fixture = try backend.make()
        defer { fixture.cleanup() }
        let storage = fixture.storage
        let id = UploadID.random()
        var state = try storage.beginUpload(id)
        state = try await Self.append([Array("abandoned".utf8)], to: id, state, storage)
        storage.abortUpload(id, state)
        storage.abortUpload(id, state)
        #expect(throws: StoreError.self) { _ = try storage.appender(for: id, state) }
        #expect(throws: StoreError.self) { _ = try storage.commitUpload(id, state, as: Digest.sha256(of: Array("abandoned".utf8))) }
        #expect(try storage.size(of: Digest.sha256(of: Array("abandoned".utf8))) == nil)
    }

    @Test(arguments: BlobBackend.all)
    func staleUploadsAreListedAndAbortedByID(_ backend: BlobBackend) async throws {
        let fixture = try backend.make()
        defer { fixture.cleanup() }
        let storage = fixture.storage
        let id = UploadID.random()
        var state = try storage.beginUpload(id)
        state = try await Self.append([Array("orphaned by a crash".utf8)], to: id, state, storage)
        let now = Int64(time(nil)) * 1_000_000_000
        #expect(try storage.staleUploads(startedBefore: now + 120 * 1_000_000_000).contains(id))
        #expect(try !storage.staleUploads(startedBefore: now - 3600 * 1_000_000_000).contains(id))
        // Expiry knows only the id of an orphan: its abort must do with an empty state.
        storage.abortUpload(id, UploadState(size: 0, data: []))
        #expect(try !storage.staleUploads(startedBefore: now + 120 * 1_000_000_000).contains(id))
    }

    @Test(arguments: BlobBackend.all)
    func appenderFinishesAfterAWriteFailure(_ backend: BlobBackend) async throws {
        let fixture = try backend.make()
        defer { fixture.cleanup() }
        guard let breakUpload = fixture.breakUpload else { return }
        let id = UploadID.random()
        let state = try fixture.storage.beginUpload(id)
        try breakUpload(id)
        let appender = try fixture.storage.appender(for: id, state)
        var thrown: StoreError?
        for _ in 0..<64 {
            do { try await appender.write([UInt8](repeating: 7, count: 256 * 1024)) } catch {
                thrown = error
                break
            }
        }
        let (finalState, failure) = await appender.finish()
        #expect(failure != nil, "finish reports the failure")
        #expect(thrown != nil || failure != nil)
        #expect(finalState.size == 0, "describes what was stored before the failure")
        fixture.storage.abortUpload(id, finalState)
    }

    // MARK: - Helpers

    /// One request: a fresh appender from `state`, the chunks, finish.
    static func append(_ chunks: [[UInt8]], to id: UploadID, _ state: UploadState,
                       _ storage: any BlobStorage) async throws -> UploadState {
        let appender = try storage.appender(for: id, state)
        var failure: (any Error)?
        do {
            for chunk in chunks { try await appender.write(chunk) }
        } catch {
            failure = error
        }
        let (newState, writeFailure) = await appender.finish()
        if let failure { throw failure }
        if let writeFailure { throw writeFailure }
        _ = appender.reclaim()
        return newState
    }

    /// The bytes `range` of a blob, whichever way it is sent (nil for a redirect, which this suite does not follow).
    static func bytes(of content: BlobContent, range: Range<Int64>? = nil) async throws -> [UInt8]? {
        let range = range ?? 0..<content.size
        switch content {
        case .file(let fd, _):
            var bytes = [UInt8](repeating: 0, count: Int(range.count))
            var done = 0
            while done < bytes.count {
                let n = bytes.withUnsafeMutableBytes { pread(fd.rawValue, $0.baseAddress! + done, $0.count - done, off_t(range.lowerBound) + off_t(done)) }
                guard n > 0 else { throw SystemError("pread", errno: n == 0 ? EIO : errno) }
                done += n
            }
            return bytes
        case .stream(_, let open):
            let stream = try await open(range)
            defer { stream.cancel() }
            var bytes: [UInt8] = []
            while let chunk = try await stream.next() { bytes += chunk }
            return bytes
        case .redirect:
            return nil
        }
    }
}
