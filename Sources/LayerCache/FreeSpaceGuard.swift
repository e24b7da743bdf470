import Glibc
import Synchronization
import SystemIO

/// Stops unpacking or copying before the filesystem fills up: the free space (`statvfs`'s `f_bavail`, what an
/// unprivileged user may still use, so root's reserved blocks stay untouched too) must stay above a reserve.
///
/// Checked once before the work starts and again after every ``checkInterval`` bytes written (shared by every
/// thread using the guard), so the free space can drop below the reserve by at most that much before the work
/// stops. A layer of holes costs no space and is not charged; every entry is charged at least a block.
public final class FreeSpaceGuard: Sendable {
    /// The default reserve: 1 GiB kept free on the cache's (and the bundle's) filesystem.
    public static let defaultReserve: Int64 = 1 << 30
    /// Bytes written between two checks.
    static let checkInterval: Int64 = 8 << 20
    /// What one entry (an inode, a directory block) is charged at least.
    static let entryCost: Int64 = 4096

    /// A path on the filesystem being filled.
    public let path: String
    /// Bytes that must stay free; 0 disables the checks.
    public let reserve: Int64
    private let sinceCheck = Mutex<Int64>(0)

    public init(path: String, reserve: Int64 = FreeSpaceGuard.defaultReserve) {
        self.path = path
        self.reserve = reserve
    }

    /// Checks now.
    /// - Throws: ``FreeSpaceError`` when less than the reserve is free; `SystemError` when `statvfs` fails.
    public func check() throws {
        guard reserve > 0 else { return }
        var st = statvfs()
        guard statvfs(path, &st) == 0 else { throw SystemError("statvfs \(path)", errno: errno) }
        let available = Int64(st.f_bavail).multipliedReportingOverflow(by: Int64(st.f_frsize))
        let free = available.overflow ? Int64.max : available.partialValue
        if free < reserve { throw FreeSpaceError(path: path, available: free, reserve: reserve) }
    }

    /// Records `bytes` written (to disk: holes are not charged), and checks when enough has been written since the
    /// last check.
    /// - Throws: ``FreeSpaceError`` or `SystemError`, as ``check()``.
    public func charge(_ bytes: Int64) throws {
        guard reserve > 0 else { return }
        let due = sinceCheck.withLock { total in
            total += bytes
            guard total >= Self.checkInterval else { return false }
            total = 0
            return true
        }
        if due { try check() }
    }
}

/// The filesystem's free space dropped below the reserve swcopy keeps.
public struct FreeSpaceError: Error, CustomStringConvertible, Sendable, Equatable {
    /// A path on the filesystem concerned.
    public var path: String
    /// Bytes still available there.
    public var available: Int64
    /// Bytes that must stay free.
    public var reserve: Int64

    public var description: String {
        "not enough free space on the filesystem of \(path): \(Self.format(available)) available, "
            + "less than the \(Self.format(reserve)) kept free (--min-free-space, $SWCOPY_MIN_FREE_SPACE)"
    }

    /// Bytes in the largest binary unit that keeps a number of at least 1 (`1.5 GiB`).
    static func format(_ bytes: Int64) -> String {
        let units = ["bytes", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(bytes)
        var unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        let tenths = Int((value * 10).rounded())
        return unit == 0 ? "\(bytes) bytes" : "\(tenths / 10).\(tenths % 10) \(units[unit])"
    }
}
