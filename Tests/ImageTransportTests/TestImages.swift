import Foundation
import Glibc
import OCIModel
import SystemIO
@testable import ImageTransport

/// A scratch folder removed at deinit.
final class Scratch {
    let path: String
    init() {
        path = "/tmp/swcopy-test-\(getpid())-\(FileSystem.randomName())"
        try! FileSystem.makeDirectories(path)
    }
    deinit { FileSystem.removeTree(path) }
}

/// Builds deterministic OCI layouts for tests: blobs of seeded pseudo-random bytes, a config, manifests and
/// (optionally) an index of several platforms.
struct TestImageBuilder {
    let layoutPath: String
    private(set) var index = ImageIndex(manifests: [])

    init(layoutPath: String) throws {
        self.layoutPath = layoutPath
        try OCILayout(directory: layoutPath).create()
    }

    /// Writes a blob; returns its descriptor.
    @discardableResult
    func writeBlob(_ bytes: [UInt8], mediaType: MediaType) throws -> Descriptor {
        let digest = Digest.sha256(of: bytes)
        let layout = OCILayout(directory: layoutPath)
        try FileSystem.makeDirectories(FileSystem.parent(of: layout.blobPath(digest)))
        try FileSystem.writeAtomically(bytes, to: layout.blobPath(digest), tmpDirectory: layoutPath)
        return Descriptor(mediaType: mediaType, digest: digest, size: Int64(bytes.count))
    }

    static func pseudoRandomBytes(count: Int, seed: UInt64) -> [UInt8] {
        var state = seed &+ 0x9E37_79B9_7F4A_7C15
        var bytes = [UInt8](repeating: 0, count: count)
        for i in 0..<count {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            bytes[i] = UInt8(truncatingIfNeeded: state >> 33)
        }
        return bytes
    }

    /// An image manifest with `layerSizes.count` layers; returns the manifest's descriptor (not yet in index.json).
    func writeImage(layerSizes: [Int], seed: UInt64, platform: Platform = Platform(architecture: "amd64", os: "linux"),
                    mediaType: MediaType = .ociManifest) throws -> Descriptor {
        let docker = mediaType == .dockerManifest
        let layers = try layerSizes.enumerated().map { offset, size in
            try writeBlob(Self.pseudoRandomBytes(count: size, seed: seed &* 31 &+ UInt64(offset)),
                          mediaType: docker ? .dockerLayerGzip : .ociLayerGzip)
        }
        let config = """
            {"architecture":"\(platform.architecture)","os":"\(platform.os)","config":{"Env":["PATH=/bin"],"Cmd":["/bin/sh"]},\
            "rootfs":{"type":"layers","diff_ids":[\(layers.map { "\"\($0.digest)\"" }.joined(separator: ","))]},\
            "created":"2026-01-01T00:00:00Z","seed":\(seed)}
            """
        let configDescriptor = try writeBlob(Array(config.utf8), mediaType: docker ? .dockerConfig : .ociConfig)
        let manifest = ImageManifest(mediaType: mediaType, config: configDescriptor, layers: layers)
        var descriptor = try writeBlob(manifest.encoded(), mediaType: mediaType)
        descriptor.platform = platform
        return descriptor
    }

    /// Writes an index of the given manifests; returns its descriptor.
    func writeIndex(_ manifests: [Descriptor], mediaType: MediaType = .ociIndex) throws -> Descriptor {
        let index = ImageIndex(mediaType: mediaType, manifests: manifests)
        return try writeBlob(index.encoded(), mediaType: mediaType)
    }

    /// Names `descriptor` `reference` in index.json.
    func tag(_ descriptor: Descriptor, as reference: String) throws {
        let layout = OCILayout(directory: layoutPath)
        var index = try layout.readIndex(allowMissing: true)
        var entry = descriptor
        entry.platform = nil
        entry.annotations = [OCILayout.refNameAnnotation: reference]
        index.manifests.removeAll { $0.annotations?[OCILayout.refNameAnnotation] == reference }
        index.manifests.append(entry)
        try layout.writeIndex(index)
    }
}

/// Every file under `root` (relative path → contents' digest), for comparing trees.
func treeDigests(_ root: String) throws -> [String: Digest] {
    var result: [String: Digest] = [:]
    func walk(_ relative: String) throws {
        let full = relative.isEmpty ? root : "\(root)/\(relative)"
        for entry in try FileSystem.list(full) {
            let path = relative.isEmpty ? entry : "\(relative)/\(entry)"
            if FileSystem.isDirectory("\(root)/\(path)") {
                try walk(path)
            } else if let bytes = try FileSystem.read("\(root)/\(path)", maxBytes: 64 << 20) {
                result[path] = .sha256(of: bytes)
            }
        }
    }
    try walk("")
    return result
}
