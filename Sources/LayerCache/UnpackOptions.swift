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

/// Bounds that make a hostile layer (a zip bomb, a billion tiny files) fail early.
public struct UnpackLimits: Sendable, Hashable {
    /// The largest uncompressed tar stream accepted.
    public var maxUncompressedBytes: Int64
    /// The most entries (headers, whiteouts included) in one layer.
    public var maxEntries: Int
    /// The longest entry name or link target, in bytes.
    public var maxPathLength: Int
    /// The largest PAX extended header or GNU long name, in bytes.
    public var maxMetadataSize: Int

    public init(maxUncompressedBytes: Int64 = 64 << 30, maxEntries: Int = 1_000_000, maxPathLength: Int = 4096,
                maxMetadataSize: Int = 1 << 20) {
        self.maxUncompressedBytes = maxUncompressedBytes
        self.maxEntries = maxEntries
        self.maxPathLength = maxPathLength
        self.maxMetadataSize = maxMetadataSize
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
