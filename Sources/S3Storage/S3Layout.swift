import BlobStore
import OCIModel

/// Where things live in the bucket, under `rootdirectory`:
///
/// ```text
/// <root>/docker/registry/v2/
/// ├── blobs/sha256/ab/abcdef…/data        a blob, content-addressed: distribution's own layout
/// │                                        (registry/storage/paths.go), so a bucket written by distribution
/// │                                        is readable here and the other way round
/// └── uploads/<upload id>/
///     ├── started                          an empty marker, from beginUpload to commit or abort: the upload
///     │                                    exists (and since when) even while all its bytes are in its state
///     ├── data                             the multipart upload's key (and, completed, the assembled blob
///     │                                    for the moment of its copy under the digest)
///     └── tail-<size>                      bytes after the last full part, once the upload is <size> bytes long
/// ```
///
/// Distribution keeps uploads under `repositories/<name>/_uploads/<id>/`; here an upload is not tied to a
/// repository (the metadata store says whose it is), so uploads have a folder of their own, which also lets
/// expiry find them with one listing.
struct S3Layout: Sendable {
    /// The root prefix without leading or trailing `/` ("" for the bucket's root).
    let root: String

    init(rootDirectory: String) {
        var trimmed = Substring(rootDirectory)
        while trimmed.hasPrefix("/") { trimmed = trimmed.dropFirst() }
        while trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        root = String(trimmed)
    }

    private var base: String { (root.isEmpty ? "" : root + "/") + "docker/registry/v2" }

    /// `…/blobs/`: every blob key starts with this.
    var blobsPrefix: String { base + "/blobs/" }

    func blob(_ digest: Digest) -> String {
        "\(blobsPrefix)\(digest.algorithm.rawValue)/\(digest.encoded.prefix(2))/\(digest.encoded)/data"
    }

    /// The digest of a blob key, nil for anything else under `blobs/` (distribution writes nothing else there,
    /// but a bucket may hold strays).
    func digest(ofBlobKey key: String) -> Digest? {
        guard key.hasPrefix(blobsPrefix), key.hasSuffix("/data") else { return nil }
        let parts = key.dropFirst(blobsPrefix.count).dropLast(5).split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 3, let algorithm = Digest.Algorithm(rawValue: String(parts[0])),
              parts[2].hasPrefix(parts[1]), parts[1].count == 2,
              let digest = try? Digest(algorithm: algorithm, encoded: String(parts[2])) else { return nil }
        return digest
    }

    /// `…/uploads/`: every upload key starts with this.
    var uploadsPrefix: String { base + "/uploads/" }

    func uploadFolder(_ id: UploadID) -> String { uploadsPrefix + id.value + "/" }

    func uploadMarker(_ id: UploadID) -> String { uploadFolder(id) + "started" }

    func uploadData(_ id: UploadID) -> String { uploadFolder(id) + "data" }

    func uploadTail(_ id: UploadID, size: Int64) -> String { uploadFolder(id) + "tail-\(size)" }

    /// The upload an upload key belongs to.
    func uploadID(ofKey key: String) -> UploadID? {
        guard key.hasPrefix(uploadsPrefix) else { return nil }
        let rest = key.dropFirst(uploadsPrefix.count)
        guard let slash = rest.firstIndex(of: "/") else { return nil }
        return UploadID(validating: rest[..<slash])
    }
}
