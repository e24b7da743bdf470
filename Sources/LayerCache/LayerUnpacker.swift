import CLinuxShim
import Glibc
import OCIModel
import SystemIO
import TarArchive

/// Applies image layers (image-spec `layer.md`) onto a root filesystem directory, safely.
///
/// A layer is read once, as a stream: file → blob digest → gunzip → diffID → tar entries. Entries become files,
/// directories, symbolic and hard links, FIFOs and devices with their modes, owners, xattrs and mtimes;
/// whiteouts (`.wh.<name>`, `.wh..wh..opq`) remove lower-layer content. Every path is resolved by the kernel
/// below the root (see ``SymlinkResolution``); `..` components are refused; sizes and counts are bounded by
/// ``UnpackLimits``.
///
/// The root may be a hard-link clone of another tree (directories recreated, every other inode shared): the
/// unpacker never writes into an existing non-directory inode. A file entry over an existing path unlinks it
/// and creates a new inode; metadata is only set on inodes this layer created, and on directories.
///
/// On error the root is left partly modified: unpack into a staging directory
/// (``makeStagingDirectory(in:)``), rename it into place on success, ``removeTree(_:)`` it on failure.
public enum LayerUnpacker {
    /// One layer blob on disk and what it should hash to.
    public struct Layer: Sendable {
        public var file: String
        public var mediaType: MediaType
        /// From the config's `rootfs.diff_ids`.
        public var diffID: Digest?
        /// From the manifest's layer descriptor.
        public var digest: Digest?

        public init(file: String, mediaType: MediaType, diffID: Digest? = nil, digest: Digest? = nil) {
            self.file = file
            self.mediaType = mediaType
            self.diffID = diffID
            self.digest = digest
        }
    }

    /// Applies one layer onto `root`, which holds the layers below it (a flattened rootfs).
    /// - Parameters:
    ///   - layerFile: The blob: tar, gzip or zstd tar (recognised by magic number; a `+gzip` or `+zstd` media type
    ///     must match what the blob holds).
    ///   - mediaType: An OCI or Docker layer media type.
    ///   - root: The directory to apply onto.
    ///   - options: Expected digests, limits, ownership, warnings.
    /// - Returns: The diffID (SHA-256 of the uncompressed tar).
    /// - Throws: ``UnpackError``.
    @discardableResult
    public static func apply(layerFile: String, mediaType: MediaType, onto root: String,
                             options: UnpackOptions = UnpackOptions()) throws -> Digest {
        try apply(LayerStream(layerFile: layerFile, mediaType: mediaType, options: options), onto: root)
    }

    /// Applies an opened layer (see ``LayerStream``) onto `root`, with the options it was opened with.
    ///
    /// Files are written sparse (blocks of zeros become holes), and the free space of `root`'s filesystem is
    /// checked before and while writing (``UnpackLimits/freeSpaceReserve``).
    /// - Returns: The diffID.
    /// - Throws: ``UnpackError``; ``FreeSpaceError`` when the filesystem's free space drops below the reserve.
    @discardableResult
    public static func apply(_ stream: LayerStream, onto root: String) throws -> Digest {
        let options = stream.options
        let rootDirectory = try UnpackRoot(path: root, resolution: options.symlinkResolution)
        let space = FreeSpaceGuard(path: root, reserve: options.limits.freeSpaceReserve)
        try space.check()
        try translatingErrors {
            let reader = TarReader(stream.ahead, limits: .init(maxMetadataSize: options.limits.maxMetadataSize))
            let application = LayerApplication(root: rootDirectory, options: options, space: space)
            while let entry = try reader.next() {
                try application.apply(entry, from: reader)
            }
            try application.finish()
        }
        return try stream.finish()
    }

    /// Flattens layers, bottom first, into `newRoot` (created if missing).
    /// - Returns: The diffID of each layer.
    /// - Throws: ``UnpackError``; `newRoot` is then incomplete.
    @discardableResult
    public static func unpackLayers(_ layers: [Layer], into newRoot: String,
                                    options: UnpackOptions = UnpackOptions()) throws -> [Digest] {
        if mkdir(newRoot, 0o755) != 0 && errno != EEXIST {
            throw UnpackError.filesystem(SystemError("mkdir \(newRoot)", errno: errno))
        }
        var diffIDs: [Digest] = []
        for layer in layers {
            var layerOptions = options
            layerOptions.expectedDiffID = layer.diffID
            layerOptions.expectedDigest = layer.digest
            diffIDs.append(try apply(layerFile: layer.file, mediaType: layer.mediaType, onto: newRoot,
                                     options: layerOptions))
        }
        return diffIDs
    }

    /// Creates a fresh, uniquely named directory in `parent` (same filesystem as the final location, so a
    /// `rename` can publish it atomically).
    /// - Returns: Its path.
    public static func makeStagingDirectory(in parent: String, prefix: String = ".unpack-") throws -> String {
        var template = Array("\(parent)/\(prefix)XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        guard made != nil else { throw UnpackError.filesystem(SystemError("mkdtemp \(parent)", errno: errno)) }
        // mkdtemp makes it 0700; a rootfs root is normally 0755.
        let path = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
        chmod(path, 0o755)
        return path
    }

    /// Makes an unpacked tree durable before it is published by `rename`: one `syncfs` of the filesystem holding
    /// `path` (unpacking does not fsync file by file), then an `fsync` of the directory itself.
    public static func syncFilesystem(of path: String) throws {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw UnpackError.filesystem(SystemError("open \(path)", errno: errno)) }
        defer { close(fd) }
        guard swshim_syncfs(fd) == 0 else { throw UnpackError.filesystem(SystemError("syncfs \(path)", errno: errno)) }
        // EINVAL: the filesystem cannot sync directories; syncfs already flushed it.
        if fsync(fd) != 0 && errno != EINVAL { throw UnpackError.filesystem(SystemError("fsync \(path)", errno: errno)) }
    }

    /// Removes a directory tree without following symbolic links (a staging directory after a failed unpack,
    /// a pruned cache entry). Nothing happens when `path` does not exist.
    public static func removeTree(_ path: String) throws {
        var parent = "."
        var name = path
        while name.count > 1 && name.hasSuffix("/") { name.removeLast() }
        if let slash = name.lastIndex(of: "/") {
            parent = slash == name.startIndex ? "/" : String(name[..<slash])
            name = String(name[name.index(after: slash)...])
        }
        let parentFD = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard parentFD >= 0 else {
            if errno == ENOENT { return }
            throw UnpackError.filesystem(SystemError("open \(parent)", errno: errno))
        }
        defer { close(parentFD) }
        try UnpackFS.remove(parentFD, name)
    }

    /// Docker's uncompressed layer types, seen in `docker save` output though absent from the registry spec.
    static let uncompressedDockerLayerTypes: Set<String> = [
        "application/vnd.docker.image.rootfs.diff.tar", "application/vnd.docker.image.rootfs.foreign.diff.tar",
    ]

    /// Runs `body`, turning the tar module's errors into ``UnpackError``.
    static func translatingErrors<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as UnpackError {
            throw error
        } catch let error as TarError {
            if case let .limitExceeded(what) = error { throw UnpackError.limitExceeded(what) }
            throw UnpackError.archive(error)
        }
    }
}

extension TarCompression {
    /// The same compression in OCIModel's terms.
    var layerCompression: MediaType.LayerCompression {
        switch self {
        case .none: .uncompressed
        case .gzip: .gzip
        case .zstd: .zstd
        }
    }
}
