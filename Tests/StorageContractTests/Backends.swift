import BlobStore
import OCIModel
import SystemIO
import Testing
import TestSupport

/// A blob storage under test, and what the contract suite needs around it.
struct BlobFixture {
    let storage: any BlobStorage
    /// Another instance over the same data, as another replica (or this one after a restart) sees it: no
    /// memory shared with `storage`.
    let reopen: () throws -> any BlobStorage
    /// Makes the writes of the next appender of upload `id` (still empty) fail; nil when the backend cannot
    /// (that part of the suite is skipped for it).
    let breakUpload: ((UploadID) throws -> Void)?
    let cleanup: () -> Void
}

/// One implementation of `BlobStorage` for the contract suite: a name and a factory.
///
/// Adding one is one file and one line: a file with `extension BlobBackend { static let mine = BlobBackend(...) }`
/// (its factory makes a fresh, empty storage: a temporary folder, a random prefix in a bucket), and `.mine` in
/// `all` below — behind its service's check (`TestServices`), which fails instead of skipping in CI.
struct BlobBackend: Sendable, CustomTestStringConvertible {
    let name: String
    let make: @Sendable () throws -> BlobFixture

    var testDescription: String { name }

    static var all: [BlobBackend] {
        [.filesystem]
    }

    /// `FileBlobStorage` in a temporary folder.
    static let filesystem = BlobBackend(name: "filesystem") {
        let root = makeTemporaryDirectory(prefix: "swr-blobs")
        return BlobFixture(
            storage: try FileBlobStorage(root: root),
            reopen: { try FileBlobStorage(root: root) },
            breakUpload: { id in
                // Writes to /dev/full fail with ENOSPC, as on a full disk.
                let data = Layout(root: root).uploadData(id)
                try shell("rm -f '\(data)' && ln -s /dev/full '\(data)'")
            },
            cleanup: { FileSystem.removeTree(root) })
    }
}

/// A metadata store under test, with the blob storage whose blobs it records (the contract suite stores a
/// blob's content there before linking it, as `ComposedStorage` commits before it links).
struct MetadataFixture {
    let store: any MetadataStore
    let blobs: any BlobStorage
    let cleanup: () -> Void
}

/// One implementation of `MetadataStore` for the contract suite (added as a `BlobBackend` is).
struct MetadataBackend: Sendable, CustomTestStringConvertible {
    let name: String
    let make: @Sendable () throws -> MetadataFixture

    var testDescription: String { name }

    static var all: [MetadataBackend] {
        [.filesystem]
    }

    /// `BlobStore`'s tree, with a `FileBlobStorage` over the same folder (its blob records are the blob files).
    static let filesystem = MetadataBackend(name: "filesystem") {
        let root = makeTemporaryDirectory(prefix: "swr-meta")
        return MetadataFixture(store: try BlobStore(root: root), blobs: try FileBlobStorage(root: root),
                               cleanup: { FileSystem.removeTree(root) })
    }
}

/// The OCI tag, not Swift Testing's.
typealias Tag = OCIModel.Tag
