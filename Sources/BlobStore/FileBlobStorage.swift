import Glibc
import OCIModel
import SystemIO

/// Blobs and upload data in a folder, for `ComposedStorage`: blobs content-addressed as in `Layout`'s `blobs/`,
/// upload data in `uploads/<id>/` (`data`, and the marker `begun` whose time is the upload's start).
///
/// Several processes may share the folder (on one machine, or on a shared filesystem with POSIX rename): every
/// change is a file written aside and renamed into place, and nothing lives only in this process's memory but
/// the running SHA-256 of the uploads it wrote (see `UploadState`'s description below).
///
/// Crash safety is `BlobStore`'s: a blob becomes visible under its digest only complete and verified (`fsync`
/// of the data, `rename`, `fsync` of the directory); what a crash leaves is upload data no session names (found
/// by `staleUploads`) and temporary files in `tmp/` (removed when older than an hour).
///
/// The upload state's `data` is path-free (the id names the folder): a version byte and a random tag naming
/// the state. The process that wrote the upload's last bytes keeps the running hash in memory under that tag;
/// any other process (a replica that never saw the upload, or this one after a restart) finds no hash for the
/// tag and rehashes the data file once, at commit. The data file itself is the truth: bytes past the state's
/// size (a writer that died before its state was saved) are cut off before anything is appended or committed.
public final class FileBlobStorage: BlobStorage, Sendable {
    public let layout: Layout
    /// Where appenders hash and write (see `UploadWriter`).
    let pool: BlockingPool
    let hashes = RunningHashes()

    /// Opens (creating if needed) the folder `root`.
    /// - Parameter pool: threads for uploads' hashing and writing; nil for a small one shared by every instance.
    /// - Throws: `io` when the folders cannot be made.
    public init(root: String, pool: BlockingPool? = nil) throws(StoreError) {
        layout = Layout(root: root)
        self.pool = pool ?? Self.sharedPool
        do throws(SystemError) {
            for directory in [layout.root, layout.blobsDirectory, layout.tmpDirectory] {
                try FileSystem.makeDirectories(directory)
            }
            try layout.makePrivateFolder(layout.uploadsDirectory)
        } catch {
            throw .io(error)
        }
        removeOldTemporaryFiles()
    }

    /// Used by instances given no pool.
    static let sharedPool = BlockingPool(threadCount: 2)

    /// Temporary files older than an hour are leftovers of a crash: no write of this storage takes that long,
    /// and another process sharing the folder may be writing the younger ones right now.
    private func removeOldTemporaryFiles() {
        let hourAgo = (Int64(time(nil)) - 3600) * 1_000_000_000
        for name in (try? FileSystem.list(layout.tmpDirectory)) ?? [] where name.hasPrefix(".tmp-") {
            let path = "\(layout.tmpDirectory)/\(name)"
            if let modified = FileSystem.modificationTime(path), modified < hourAgo { unlink(path) }
        }
    }

    // MARK: - Blobs

    public func size(of digest: Digest) throws(StoreError) -> Int64? {
        FileSystem.fileSize(layout.blob(digest))
    }

    /// Always an open file (sent with `sendfile`): a folder has no URL to redirect to.
    public func content(of digest: Digest, redirect: Bool) throws(StoreError) -> BlobContent {
        let fd = open(layout.blob(digest), O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT { throw .blobUnknown(digest) }
            throw .io(SystemError("open blob", errno: errno))
        }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            let e = errno
            close(fd)
            throw .io(SystemError("fstat blob", errno: e))
        }
        return .file(SharedFileDescriptor(taking: fd), size: Int64(st.st_size))
    }

    public func put(_ bytes: [UInt8], as digest: Digest) throws(StoreError) {
        let path = layout.blob(digest)
        do throws(SystemError) {
            // Present (and refreshed: see `commitUpload`), or written anew, durably.
            if FileSystem.fileSize(path) == Int64(bytes.count), try FileSystem.refresh(path) { return }
            try FileSystem.writeAtomically(bytes, to: path, tmpDirectory: layout.tmpDirectory)
        } catch {
            throw .io(error)
        }
    }

    public func read(_ digest: Digest, maxBytes: Int) throws(StoreError) -> [UInt8]? {
        let path = layout.blob(digest)
        if let size = FileSystem.fileSize(path), size > Int64(maxBytes) {
            throw .sizeInvalid("blob \(digest) has \(size) bytes, more than \(maxBytes)")
        }
        do { return try FileSystem.read(path, maxBytes: maxBytes) } catch {
            if error.errno == EFBIG { throw .sizeInvalid("blob \(digest) has more than \(maxBytes) bytes") }
            throw .io(error)
        }
    }

    public func delete(_ digest: Digest) throws(StoreError) -> Bool {
        do { return try FileSystem.remove(layout.blob(digest)) } catch { throw .io(error) }
    }

    /// `blobs/<alg>/<2 hex>/<hex>`, regular files only (see `Layout.walkBlobs`); `modified` is the file's modification time.
    public func enumerate(_ visit: (BlobEntry) throws(StoreError) -> Void) throws(StoreError) {
        _ = try layout.walkBlobs(list: FileSystem.list) { digest, st throws(StoreError) in try visit(BlobEntry(digest, st)) }
    }

    public func isReachable() -> Bool {
        access(layout.blobsDirectory, W_OK) == 0 && access(layout.uploadsDirectory, W_OK) == 0
    }
}
