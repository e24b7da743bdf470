import Glibc
import OCIModel

/// How symbolic links met while resolving an entry's parent directories are treated.
public enum SymlinkResolution: Sendable, Hashable {
    /// As if the root were `/` (chroot semantics, as umoci, containerd and Docker apply layers): an absolute link
    /// or `..` can never climb above the root, so `var/run -> /run` followed by `var/run/x` writes `<root>/run/x`.
    case inRoot
    /// Refuse any resolution that would leave the root (absolute links, `..` above it) with
    /// ``UnpackError/escapesRoot(path:)``.
    case beneath
}

/// Bounds that make a hostile layer (a zip bomb, a billion tiny files, a disk filler) fail early.
public struct UnpackLimits: Sendable, Hashable {
    /// The largest uncompressed tar stream accepted, whatever the blob's size.
    public var maxUncompressedBytes: Int64
    /// The most a compressed layer may expand: its uncompressed tar may be at most this many times the blob's size
    /// (or ``expansionFloor``, whichever is larger). Real layers expand 2–5×, text-heavy ones up to 10–20×; gzip
    /// can reach ~1000× on zeros. 0: no ratio limit. Uncompressed layers are not concerned.
    public var maxExpansionRatio: Int64
    /// Uncompressed bytes always accepted, whatever the ratio, so small layers (and small layers of zeros, which
    /// compress best) are never refused.
    public var expansionFloor: Int64
    /// Bytes that must stay free on the filesystem being written (see ``FreeSpaceGuard``); 0: not checked.
    public var freeSpaceReserve: Int64
    /// The most entries (headers, whiteouts included) in one layer.
    public var maxEntries: Int
    /// The longest entry name or link target, in bytes.
    public var maxPathLength: Int
    /// The largest PAX extended header or GNU long name, in bytes.
    public var maxMetadataSize: Int

    /// The default ratio, ``maxExpansionRatio``: 50×, a margin of 2.5× over the most text-heavy real layers.
    public static let defaultExpansionRatio: Int64 = 50
    /// The default floor, ``expansionFloor``: 512 MiB.
    public static let defaultExpansionFloor: Int64 = 512 << 20

    public init(maxUncompressedBytes: Int64 = 64 << 30, maxExpansionRatio: Int64 = UnpackLimits.defaultExpansionRatio,
                expansionFloor: Int64 = UnpackLimits.defaultExpansionFloor,
                freeSpaceReserve: Int64 = FreeSpaceGuard.defaultReserve, maxEntries: Int = 1_000_000,
                maxPathLength: Int = 4096, maxMetadataSize: Int = 1 << 20) {
        self.maxUncompressedBytes = maxUncompressedBytes
        self.maxExpansionRatio = maxExpansionRatio
        self.expansionFloor = expansionFloor
        self.freeSpaceReserve = freeSpaceReserve
        self.maxEntries = maxEntries
        self.maxPathLength = maxPathLength
        self.maxMetadataSize = maxMetadataSize
    }

    /// The most uncompressed bytes accepted from a blob of `compressedSize` bytes, and why (for the error).
    /// - Parameter compressedSize: The blob's size; nil for an uncompressed layer (no expansion).
    func uncompressedLimit(compressedSize: Int64?) -> (bytes: Int64, description: String) {
        guard let compressedSize, maxExpansionRatio > 0 else { return (maxUncompressedBytes, "uncompressed layer") }
        let product = compressedSize.multipliedReportingOverflow(by: maxExpansionRatio)
        let byRatio = max(expansionFloor, product.overflow ? Int64.max : product.partialValue)
        guard byRatio < maxUncompressedBytes else { return (maxUncompressedBytes, "uncompressed layer") }
        return (byRatio, "uncompressed layer (more than \(maxExpansionRatio) times its \(compressedSize)-byte blob, "
                    + "and over the \(expansionFloor)-byte floor: an archive bomb? see --max-layer-ratio)")
    }
}

/// Settings for ``LayerUnpacker``.
public struct UnpackOptions: Sendable {
    /// The uncompressed digest the config's `rootfs.diff_ids` gives; a mismatch fails the unpack.
    public var expectedDiffID: Digest?
    /// The blob digest the manifest gives; a mismatch fails the unpack. nil: the blob is not hashed (its caller
    /// verified the file already, e.g. as it downloaded it).
    public var expectedDigest: Digest?
    public var limits: UnpackLimits
    /// Set owners from the archive (needs root); otherwise files belong to the caller.
    public var preserveOwnership: Bool
    /// Create character and block devices (needs root); otherwise they are skipped with a warning.
    public var createDevices: Bool
    public var symlinkResolution: SymlinkResolution
    /// Receives warnings (skipped devices, extended attributes the filesystem refused).
    public var warningHandler: (@Sendable (String) -> Void)?

    /// Defaults: ownership and devices when running as root, chroot-style symlink resolution.
    public init(expectedDiffID: Digest? = nil, expectedDigest: Digest? = nil, limits: UnpackLimits = UnpackLimits(),
                preserveOwnership: Bool = geteuid() == 0, createDevices: Bool = geteuid() == 0,
                symlinkResolution: SymlinkResolution = .inRoot,
                warningHandler: (@Sendable (String) -> Void)? = nil) {
        self.expectedDiffID = expectedDiffID
        self.expectedDigest = expectedDigest
        self.limits = limits
        self.preserveOwnership = preserveOwnership
        self.createDevices = createDevices
        self.symlinkResolution = symlinkResolution
        self.warningHandler = warningHandler
    }
}
