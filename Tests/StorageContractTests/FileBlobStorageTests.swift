import BlobStore
import Glibc
import OCIModel
import SystemIO
import Testing
import TestSupport

/// What `FileBlobStorage` does after a crash, beyond the contract: the data file is the truth.
@Suite struct FileBlobStorageTests {
    @Test func bytesPastTheStateOfADeadWriterAreCut() async throws {
        let root = makeTemporaryDirectory(prefix: "swr-fbs")
        defer { FileSystem.removeTree(root) }
        let storage = try FileBlobStorage(root: root)
        let id = UploadID.random()
        var state = try storage.beginUpload(id)
        state = try await BlobStorageContractTests.append([Array("saved ".utf8)], to: id, state, storage)
        // A writer killed after writing but before its state was saved left these bytes.
        let fd = open(storage.layout.uploadData(id), O_WRONLY | O_APPEND)
        #expect(write(fd, "GARBAGE", 7) == 7)
        close(fd)
        state = try await BlobStorageContractTests.append([Array("and resumed".utf8)], to: id, state, storage)
        let all = Array("saved and resumed".utf8)
        #expect(state.size == Int64(all.count))
        #expect(try storage.commitUpload(id, state, as: Digest.sha256(of: all)) == Int64(all.count))
    }

    @Test func dataShorterThanItsStateCannotContinue() async throws {
        let root = makeTemporaryDirectory(prefix: "swr-fbs")
        defer { FileSystem.removeTree(root) }
        let storage = try FileBlobStorage(root: root)
        let id = UploadID.random()
        var state = try storage.beginUpload(id)
        state = try await BlobStorageContractTests.append([Array("bytes a machine crash lost".utf8)], to: id, state, storage)
        #expect(truncate(storage.layout.uploadData(id), 5) == 0)
        #expect(throws: StoreError.uploadUnknown(id.value)) { _ = try storage.appender(for: id, state) }
        #expect(throws: StoreError.uploadUnknown(id.value)) {
            _ = try storage.commitUpload(id, state, as: Digest.sha256(of: Array("bytes a machine crash lost".utf8)))
        }
    }

    @Test func oldTemporaryFilesGoAtOpenYoungOnesStay() throws {
        let root = makeTemporaryDirectory(prefix: "swr-fbs")
        defer { FileSystem.removeTree(root) }
        _ = try FileBlobStorage(root: root)
        let layout = Layout(root: root)
        try shell("touch '\(layout.tmpDirectory)/.tmp-old' '\(layout.tmpDirectory)/.tmp-young' && touch -d '2 hours ago' '\(layout.tmpDirectory)/.tmp-old'")
        _ = try FileBlobStorage(root: root)
        #expect(!FileSystem.exists("\(layout.tmpDirectory)/.tmp-old"), "a crash's leftover")
        #expect(FileSystem.exists("\(layout.tmpDirectory)/.tmp-young"), "maybe another process's write in progress")
    }
}
