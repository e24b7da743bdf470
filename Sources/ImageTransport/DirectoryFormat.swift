import OCIModel
import SystemIO

/// skopeo's `dir:` format (containers/image `directory` transport, version 1.1):
///
/// ```
/// PATH/
/// ├── version                  "Directory Transport Version: 1.1\n"
/// ├── manifest.json            the top manifest or index, exact bytes
/// ├── <hex>.manifest.json      each child manifest of an index copied with --all
/// └── <hex>                    every blob (config and layers), named by its sha256 hex digest
/// ```
struct DirectoryFormat: Sendable {
    static let versionContents = Array("Directory Transport Version: 1.1\n".utf8)

    let path: String

    var versionPath: String { path + "/version" }

    func manifestPath(_ digest: Digest?) -> String {
        guard let digest else { return path + "/manifest.json" }
        return "\(path)/\(digest.encoded).manifest.json"
    }

    func blobPath(_ digest: Digest) -> String {
        digest.algorithm == .sha256 ? "\(path)/\(digest.encoded)" : "\(path)/\(digest.algorithm.rawValue)-\(digest.encoded)"
    }

    /// The media type of manifest bytes the format stores without one: the document's own `mediaType` field,
    /// or what its shape says.
    static func mediaType(of bytes: [UInt8], what: String) throws -> MediaType {
        do {
            return try ManifestDocument.parse(bytes).mediaType
        } catch {
            throw TransportError.invalidImage(what, reason: "\(error)")
        }
    }
}

/// Reads an image from skopeo's `dir:` format.
public final class DirectorySource: ImageSource {
    let format: DirectoryFormat
    public let description: String

    public init(path: String) throws {
        format = DirectoryFormat(path: path)
        description = "dir:\(path)"
        guard let version = try FileSystem.read(format.versionPath, maxBytes: 4096) else {
            throw TransportError.invalidImage(description, reason: "not a dir: image (no version file)")
        }
        guard version.starts(with: Array("Directory Transport Version: 1.".utf8)) else {
            throw TransportError.invalidImage(description, reason: "unsupported version \(String(decoding: version, as: UTF8.self))")
        }
    }

    public func topManifest() async throws -> ManifestData {
        let what = "\(description): manifest.json"
        let bytes = try BlobFiles.readSmall(format.manifestPath(nil), limit: OCILayout.maxManifestBytes, what: what)
        return ManifestData(bytes: bytes, mediaType: try DirectoryFormat.mediaType(of: bytes, what: what))
    }

    public func manifest(_ descriptor: Descriptor) async throws -> ManifestData {
        try BlobFiles.readManifest(at: format.manifestPath(descriptor.digest), descriptor: descriptor,
                                   what: "\(description): manifest \(descriptor.digest)")
    }

    public func localBlobPath(_ descriptor: Descriptor) -> String? {
        let path = format.blobPath(descriptor.digest)
        return FileSystem.exists(path) ? path : nil
    }

    public func fetchBlob(_ descriptor: Descriptor, to path: String, progress: BlobProgress?) async throws {
        try await BlobFiles.copyVerified(from: format.blobPath(descriptor.digest), to: path,
                                         descriptor: descriptor, progress: progress)
    }
}

/// Writes an image in skopeo's `dir:` format. As skopeo does, an existing `dir:` image at the path is replaced;
/// a non-empty directory that is not one is refused.
public final class DirectoryDestination: ImageDestination {
    let format: DirectoryFormat
    public let description: String

    public init(path: String) throws {
        format = DirectoryFormat(path: path)
        description = "dir:\(path)"
        if FileSystem.isDirectory(path) {
            let entries = try FileSystem.list(path)
            if !entries.isEmpty {
                guard entries.contains("version") else {
                    throw TransportError.invalidImage(
                        description, reason: "the directory is not empty and does not hold a dir: image")
                }
                for entry in entries { FileSystem.removeTree("\(path)/\(entry)") }
            }
        }
        try FileSystem.makeDirectories(path)
        try FileSystem.writeAtomically(DirectoryFormat.versionContents, to: format.versionPath, tmpDirectory: path)
    }

    public func hasBlob(_ descriptor: Descriptor) async throws -> Bool {
        FileSystem.fileSize(format.blobPath(descriptor.digest)) == descriptor.size
    }

    public func stagingPath(for descriptor: Descriptor) throws -> String {
        "\(format.path)/.tmp-\(FileSystem.randomName())"
    }

    public func putBlob(_ descriptor: Descriptor, from path: String, staged: Bool, progress: BlobProgress?) async throws {
        var file = path
        if !staged {
            file = try stagingPath(for: descriptor)
            try await BlobFiles.copyVerified(from: path, to: file, descriptor: descriptor, progress: progress)
        }
        try await BlobFiles.moveIntoPlace(file, format.blobPath(descriptor.digest))
    }

    public func putManifest(_ manifest: ManifestData, top: Bool) async throws {
        try FileSystem.writeAtomically(manifest.bytes, to: format.manifestPath(top ? nil : manifest.digest),
                                       tmpDirectory: format.path)
    }
}
