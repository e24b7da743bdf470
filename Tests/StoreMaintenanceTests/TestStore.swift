import BlobStore
import Glibc
import OCIModel
import SystemIO
import TestSupport

/// A store in a temporary folder, filled the way the registry fills it (blobs, links, manifests through
/// `putManifest`), for maintenance tests.
final class TestStore {
    let root: String
    let store: BlobStore

    init() throws {
        root = makeTemporaryDirectory(prefix: "swr-maint")
        store = try BlobStore(root: root)
    }

    deinit {
        FileSystem.removeTree(root)
    }

    var layout: Layout { store.layout }

    /// Stores `bytes` as a blob and links it into `repository`.
    @discardableResult
    func putBlob(_ bytes: [UInt8], in repository: String) throws -> Digest {
        let digest = Digest.sha256(of: bytes)
        try FileSystem.writeAtomically(bytes, to: layout.blob(digest), tmpDirectory: layout.tmpDirectory)
        try store.linkBlob(try RepositoryName(validating: repository), digest)
        return digest
    }

    struct Image {
        let manifest: Digest
        let manifestBytes: [UInt8]
        let config: Digest
        let layers: [Digest]
    }

    /// Pushes an image: its config and layers as blobs, then its manifest, tagged.
    @discardableResult
    func putImage(_ repository: String, tag: String?, layers: [[UInt8]], config: [UInt8] = Array(#"{"architecture":"amd64","os":"linux"}"#.utf8),
                  subject: Digest? = nil, subjectSize: Int = 0) throws -> Image {
        let configDigest = try putBlob(config, in: repository)
        var layerDigests: [Digest] = []
        var layerJSON: [String] = []
        for layer in layers {
            let digest = try putBlob(layer, in: repository)
            layerDigests.append(digest)
            layerJSON.append(#"{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"\#(digest)","size":\#(layer.count)}"#)
        }
        var json = #"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"\#(configDigest)","size":\#(config.count)},"layers":[\#(layerJSON.joined(separator: ","))]"#
        if let subject {
            json += #","subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"\#(subject)","size":\#(subjectSize)}"#
        }
        json += "}"
        let bytes = Array(json.utf8)
        let digest = Digest.sha256(of: bytes)
        let name = try RepositoryName(validating: repository)
        let mediaType = "application/vnd.oci.image.manifest.v1+json"
        let referrer = subject.map { _ in
            Descriptor(mediaType: MediaType(mediaType), digest: digest, size: Int64(bytes.count))
        }
        try store.putManifest(name, bytes: bytes, digest: digest, mediaType: mediaType,
                              tag: try tag.map { try Tag(validating: $0) }, subject: subject, referrer: referrer)
        return Image(manifest: digest, manifestBytes: bytes, config: configDigest, layers: layerDigests)
    }

    /// Flips one bit of a stored blob, in place (same size, same inode).
    func corrupt(_ digest: Digest, at offset: Int = 0) throws {
        let path = layout.blob(digest)
        let fd = open(path, O_RDWR)
        guard fd >= 0 else { throw SystemError("open \(path)", errno: errno) }
        defer { close(fd) }
        var byte: UInt8 = 0
        guard pread(fd, &byte, 1, off_t(offset)) == 1 else { throw SystemError("pread", errno: errno) }
        byte ^= 0x01
        guard pwrite(fd, &byte, 1, off_t(offset)) == 1 else { throw SystemError("pwrite", errno: errno) }
    }

    /// Random bytes of `count`.
    static func bytes(_ count: Int, seed: UInt8) -> [UInt8] {
        var state = UInt64(seed) &+ 0x9E37_79B9_7F4A_7C15
        return (0..<count).map { _ in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return UInt8(truncatingIfNeeded: state >> 33)
        }
    }
}
