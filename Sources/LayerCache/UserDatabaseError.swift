/// Why an image's `Config.User` could not be resolved.
public enum UserDatabaseError: Error, CustomStringConvertible, Sendable, Equatable {
    case malformed(String)
    case unknownUser(String)
    case unknownGroup(String)
    case noPasswdFile(user: String)
    case noGroupFile(group: String)
    case unreadable(path: String, reason: String)

    public var description: String {
        switch self {
        case let .malformed(spec):
            "image user '\(spec)' is malformed: expected user, uid, user:group or uid:gid"
        case let .unknownUser(name):
            "image user '\(name)' is not in the image's /etc/passwd"
        case let .unknownGroup(name):
            "image group '\(name)' is not in the image's /etc/group"
        case let .noPasswdFile(user):
            "image user '\(user)' is a name, but the image has no /etc/passwd to resolve it"
        case let .noGroupFile(group):
            "image group '\(group)' is a name, but the image has no /etc/group to resolve it"
        case let .unreadable(path, reason):
            "cannot read the image's \(path): \(reason)"
        }
    }
}
