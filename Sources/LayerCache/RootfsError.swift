/// Why a bundle's root filesystem could not be made.
public enum RootfsError: Error, CustomStringConvertible, Sendable, Equatable {
    /// `--overlay` asked for by a non-root user.
    case overlayNeedsRoot
    /// The kernel refused the overlay mount (no overlayfs, no CAP_SYS_ADMIN in this namespace, unsupported
    /// upper filesystem, …).
    case overlayMountFailed(target: String, errno: Int32, reason: String)
    /// The bundle's rootfs directory exists and is not empty.
    case rootfsNotEmpty(String)
    /// Unmounting the bundle's overlay failed.
    case unmountFailed(target: String, errno: Int32, reason: String)

    public var description: String {
        switch self {
        case .overlayNeedsRoot:
            "an overlay rootfs needs root (mount(2) requires CAP_SYS_ADMIN); run as root or use --flatten"
        case let .overlayMountFailed(target, errno, reason):
            "cannot mount overlayfs on \(target): \(reason) (errno \(errno)); "
                + (errno == 1 ? "mounting is not permitted here (no CAP_SYS_ADMIN in this namespace); use --flatten"
                              : "the kernel or the bundle's filesystem cannot host an overlay here; use --flatten")
        case let .rootfsNotEmpty(path):
            "\(path) already exists and is not empty; remove the old bundle first"
        case let .unmountFailed(target, errno, reason):
            "cannot unmount \(target): \(reason) (errno \(errno))"
        }
    }
}
