/// Why swcopy will not fill a directory at a path: another user could redirect the path (see ``TrustedPath``).
public enum TrustedPathError: Error, CustomStringConvertible, Sendable, Equatable {
    /// A directory on the path belongs to another user, who could rename what is below it and put their own.
    case ancestorOwnedByAnotherUser(path: String, ancestor: String, owner: UInt32, user: UInt32)
    /// A directory on the path is writable by group or others and not sticky: they could rename what is below it.
    case ancestorWritableByOthers(path: String, ancestor: String, mode: UInt32)
    /// A symlink on the path belongs to another user, who could repoint it.
    case symlinkOwnedByAnotherUser(path: String, link: String, owner: UInt32, user: UInt32)
    /// The directory itself is named by a symlink (refused, as `O_NOFOLLOW` does).
    case finalSymlink(String)

    private static let advice = "use a directory whose every ancestor is owned by root or by you and not writable "
        + "by others (a sticky directory such as /tmp is fine), e.g. one made with mktemp -d"

    public var description: String {
        switch self {
        case let .ancestorOwnedByAnotherUser(path, ancestor, owner, user):
            "\(path): its ancestor \(ancestor) belongs to uid \(owner), not to root or uid \(user) running swcopy: "
                + "its owner could swap the directory below it while swcopy fills it; " + Self.advice
        case let .ancestorWritableByOthers(path, ancestor, mode):
            "\(path): its ancestor \(ancestor) is writable by others (mode 0\(String(mode, radix: 8))) and not "
                + "sticky: they could swap the directory below it while swcopy fills it; " + Self.advice
        case let .symlinkOwnedByAnotherUser(path, link, owner, user):
            "\(path): the symlink \(link) belongs to uid \(owner), not to root or uid \(user) running swcopy: its "
                + "owner could repoint it; name the directory it leads to instead"
        case let .finalSymlink(path):
            "\(path) is a symlink: swcopy makes the directory it names private and fills it, so it must be the "
                + "directory itself; name the directory the link leads to instead"
        }
    }
}
