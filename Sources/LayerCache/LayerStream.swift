import Glibc
import OCIModel
import SystemIO
import TarArchive

/// A layer blob opened for unpacking: read, hashed (blob digest, diffID) and decompressed on a thread of its own,
/// ahead of whoever applies it (see ``ReadAheadSource``).
///
/// Opening the next layer's stream while one layer is applied lets its decompression overlap with the end of that
/// layer and with the preparation of the next stack: ``LayerUnpacker/apply(_:onto:options:)`` takes an open stream.
/// Releasing a stream that was not applied stops its thread.
public final class LayerStream {
    let compression: TarCompression
    let options: UnpackOptions
    private let fd: Int32
    private let blob: HashingSource?
    private let tar: HashingSource
    let ahead: ReadAheadSource

    /// Opens `layerFile` and starts reading it ahead.
    /// - Parameters:
    ///   - layerFile: The blob: tar, gzip or zstd tar (recognised by magic number; a `+gzip` or `+zstd` media type
    ///     must match what the blob holds).
    ///   - mediaType: An OCI or Docker layer media type.
    ///   - options: The expected digests (the blob is hashed only when `expectedDigest` is set) and the limits.
    /// - Throws: ``UnpackError``.
    public init(layerFile: String, mediaType: MediaType, options: UnpackOptions) throws {
        guard mediaType.isLayer || LayerUnpacker.uncompressedDockerLayerTypes.contains(mediaType.rawValue) else {
            throw UnpackError.unsupportedMediaType(mediaType.rawValue)
        }
        let fd = open(layerFile, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw UnpackError.filesystem(SystemError("open \(layerFile)", errno: errno)) }
        do {
            let file = FileDescriptorSource(fileDescriptor: fd)
            let blob = options.expectedDigest.map { HashingSource(file, algorithm: $0.algorithm) }
            // gzip's CRC-32 is redundant when the diffID (a SHA-256 of the same bytes) is checked.
            let (compression, plain) = try LayerUnpacker.translatingErrors {
                try Decompressor.open(blob ?? file, verifyChecksums: options.expectedDiffID == nil)
            }
            if let declared = mediaType.layerCompression, declared != .uncompressed,
               declared != compression.layerCompression
            {
                throw UnpackError.archive(.compression("\(mediaType) layer is not \(declared)-compressed"))
            }
            // The blob is whole on disk: its size bounds how far it may expand, refused as soon as it goes past.
            var st = stat()
            guard fstat(fd, &st) == 0 else { throw UnpackError.filesystem(SystemError("fstat \(layerFile)", errno: errno)) }
            let limit = options.limits.uncompressedLimit(compressedSize: compression == .none ? nil : Int64(st.st_size))
            let tar = HashingSource(plain, algorithm: options.expectedDiffID?.algorithm ?? .sha256,
                                    limit: limit.bytes, limitDescription: limit.description)
            self.fd = fd
            self.blob = blob
            self.tar = tar
            self.compression = compression
            self.options = options
            // 8 MiB ahead: enough to keep decompressing while the next stack is seeded from its parent.
            ahead = ReadAheadSource(tar, bufferSize: 1 << 20, depth: 8)
        } catch {
            close(fd)
            throw error
        }
    }

    deinit {
        // The read-ahead thread reads from the descriptor: stop it before closing.
        ahead.cancel()
        close(fd)
    }

    /// Reads the rest of the stream (the digests cover every byte: the end-of-archive blocks, any padding), waits
    /// for the read-ahead thread and checks both digests.
    /// - Returns: The diffID.
    func finish() throws -> Digest {
        try LayerUnpacker.translatingErrors {
            try ahead.finish()
            try blob?.drain()
        }
        let diffID = tar.digest()
        if let expected = options.expectedDiffID, expected != diffID {
            throw UnpackError.digestMismatch(what: "layer diffID (uncompressed)", expected: expected, actual: diffID)
        }
        if let expected = options.expectedDigest, let blob {
            let actual = blob.digest()
            if expected != actual {
                throw UnpackError.digestMismatch(what: "layer blob", expected: expected, actual: actual)
            }
        }
        return diffID
    }
}
