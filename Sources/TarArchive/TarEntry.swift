/// A point in time with nanosecond precision, as PAX `mtime` records carry it.
public struct TarTimestamp: Sendable, Hashable, Comparable {
    /// Seconds since the Unix epoch (may be negative).
    public var seconds: Int64
    /// 0 ..< 1_000_000_000.
    public var nanoseconds: UInt32

    public init(seconds: Int64, nanoseconds: UInt32 = 0) {
        self.seconds = seconds
        self.nanoseconds = nanoseconds
    }

    /// The Unix epoch, the fixed mtime of reproducible layers.
    public static let epoch = TarTimestamp(seconds: 0)

    public static func < (lhs: TarTimestamp, rhs: TarTimestamp) -> Bool {
        (lhs.seconds, lhs.nanoseconds) < (rhs.seconds, rhs.nanoseconds)
    }
}

/// One member of a tar archive: its header, with PAX and GNU extensions already applied.
///
/// The content of a regular file is not part of the value: ``TarReader`` streams it, ``TarWriter`` takes it after
/// ``TarWriter/append(_:)``.
public struct TarEntry: Sendable, Hashable {
    /// The kinds of file a tar archive can carry (sockets cannot be archived).
    public enum Kind: Sendable, Hashable, CustomStringConvertible {
        case regular, hardLink, symbolicLink, characterDevice, blockDevice, directory, fifo

        public var description: String {
            switch self {
            case .regular: "regular file"
            case .hardLink: "hard link"
            case .symbolicLink: "symbolic link"
            case .characterDevice: "character device"
            case .blockDevice: "block device"
            case .directory: "directory"
            case .fifo: "FIFO"
            }
        }
    }

    public var kind: Kind
    /// The member name as archived (relative by convention; directories may end in `/`).
    public var path: String
    /// The target of a symbolic link (any string) or hard link (another member's path); empty otherwise.
    public var linkTarget: String
    /// Permission bits plus setuid, setgid and sticky (`0o7777` at most).
    public var mode: UInt32
    public var uid: Int64
    public var gid: Int64
    /// `uname`: informational; image-spec says to ignore it where numeric ids exist.
    public var userName: String
    /// `gname`: informational.
    public var groupName: String
    /// Content size in bytes; 0 for everything but regular files.
    public var size: Int64
    /// `mtime`, with sub-second precision when a PAX header carried it.
    public var modificationTime: TarTimestamp
    public var deviceMajor: UInt32
    public var deviceMinor: UInt32
    /// Extended attributes (PAX `SCHILY.xattr.<name>`), values as raw bytes.
    public var xattrs: [String: [UInt8]]

    public init(kind: Kind, path: String, linkTarget: String = "", mode: UInt32 = 0o644, uid: Int64 = 0, gid: Int64 = 0,
                userName: String = "", groupName: String = "", size: Int64 = 0,
                modificationTime: TarTimestamp = .epoch, deviceMajor: UInt32 = 0, deviceMinor: UInt32 = 0,
                xattrs: [String: [UInt8]] = [:]) {
        self.kind = kind
        self.path = path
        self.linkTarget = linkTarget
        self.mode = mode
        self.uid = uid
        self.gid = gid
        self.userName = userName
        self.groupName = groupName
        self.size = size
        self.modificationTime = modificationTime
        self.deviceMajor = deviceMajor
        self.deviceMinor = deviceMinor
        self.xattrs = xattrs
    }

    /// Whether the entry carries content blocks in the archive.
    public var hasContent: Bool { kind == .regular }
}
