import BlobStore
import Glibc
import OCIModel
import SystemIO
import Testing
import TestSupport

/// An upload id is all it takes to write into a session: the filesystem store keeps the folders that hold them, and
/// what is in them, to the server's user (0700 folders, 0600 files), whatever the umask (here 022, so a 0755 or
/// 0644 in the code shows), and tightens the folders of a store an earlier version made.
@Suite struct UploadModesTests {
    private func mode(_ path: String) -> mode_t? {
        var st = stat()
        return lstat(path, &st) == 0 ? st.st_mode & 0o777 : nil
    }

    /// A store as earlier versions left it: `uploads/` and `sessions/` open to everyone.
    private func makeOldStore() -> String {
        let root = makeTemporaryDirectory(prefix: "swr-modes")
        for folder in ["uploads", "sessions"] {
            #expect(mkdir("\(root)/\(folder)", 0o755) == 0 && chmod("\(root)/\(folder)", 0o755) == 0)
        }
        return root
    }

    @Test func blobStoreUploadsAreTheServersOnly() throws {
        let root = makeOldStore()
        defer { FileSystem.removeTree(root) }
        let store = try BlobStore(root: root)
        let upload = try store.uploads.start(try RepositoryName(validating: "modes/app"), owner: "test")
        defer { store.uploads.cancel(upload) }
        let layout = store.layout
        #expect(mode(layout.uploadsDirectory) == 0o700)
        #expect(mode(layout.sessionsDirectory) == 0o700)
        #expect(mode(layout.upload(upload.id)) == 0o700)
        #expect(mode(layout.uploadInfo(upload.id)) == 0o600)
        #expect(mode(layout.uploadData(upload.id)) == 0o600)
    }

    @Test func aNewSessionsFolderIsTheServersOnly() throws {
        let root = makeTemporaryDirectory(prefix: "swr-modes")
        defer { FileSystem.removeTree(root) }
        let store = try BlobStore(root: root)
        #expect(mode(store.layout.uploadsDirectory) == 0o700)
        #expect(mode(store.layout.sessionsDirectory) == nil)
        let session = UploadSession(id: UploadID.random(), repository: try RepositoryName(validating: "modes/app"),
                                    owner: "test", kind: .resumable, started: 0, lastActive: 0,
                                    state: UploadState(size: 0, data: []))
        try store.createUpload(session, limits: UploadLimits())
        #expect(mode(store.layout.sessionsDirectory) == 0o700)
    }

    @Test func fileBlobStorageUploadsAreTheServersOnly() throws {
        let root = makeOldStore()
        defer { FileSystem.removeTree(root) }
        let storage = try FileBlobStorage(root: root)
        let id = UploadID.random()
        let state = try storage.beginUpload(id)
        defer { storage.abortUpload(id, state) }
        let layout = storage.layout
        #expect(mode(layout.uploadsDirectory) == 0o700)
        #expect(mode(layout.upload(id)) == 0o700)
        #expect(mode(layout.uploadBegun(id)) == 0o600)
        #expect(mode(layout.uploadData(id)) == 0o600)
    }
}
