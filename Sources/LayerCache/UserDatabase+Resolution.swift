extension UserDatabase {
    /// A resolved `process.user`.
    public struct ResolvedUser: Sendable, Equatable {
        public var uid: UInt32
        public var gid: UInt32
        /// Supplementary groups; empty when none apply.
        public var additionalGids: [UInt32]

        public init(uid: UInt32, gid: UInt32, additionalGids: [UInt32] = []) {
            self.uid = uid
            self.gid = gid
            self.additionalGids = additionalGids
        }
    }

    /// Resolves an image's `Config.User` as image-spec `conversion.md` says.
    ///
    /// - `""` → `0:0` (the image names no user; root, as Docker runs it).
    /// - `uid` → that uid; the gid is the uid's primary group from `/etc/passwd` when it has an entry, else 0.
    /// - `name` → uid and primary gid from `/etc/passwd`, and `additionalGids` from the `/etc/group` entries that
    ///   list the name as a member (the only form conversion.md lets set them).
    /// - `user:group` with either side a number or a name → numbers are copied verbatim; names are looked up.
    ///   A group given explicitly means no additional gids.
    ///
    /// - Throws: ``UserDatabaseError`` when a name is not found (conversion.md: the converter MUST return an error)
    ///   or the string is malformed.
    public func resolve(_ spec: String) throws -> ResolvedUser {
        if spec.isEmpty { return ResolvedUser(uid: 0, gid: 0) }
        let parts = spec.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        let userPart = parts[0], groupPart = parts.count > 1 ? parts[1] : nil
        if userPart.isEmpty || groupPart?.isEmpty == true || groupPart?.contains(":") == true {
            throw UserDatabaseError.malformed(spec)
        }

        let uid: UInt32, primaryGid: UInt32, name: String?
        if let number = Self.number(userPart) {
            uid = number
            let entry = users?.first { $0.uid == number }
            primaryGid = entry?.gid ?? 0
            name = nil  // numeric: conversion.md says leave additionalGids alone
        } else {
            guard let users else { throw UserDatabaseError.noPasswdFile(user: String(userPart)) }
            guard let entry = users.first(where: { $0.name == userPart }) else {
                throw UserDatabaseError.unknownUser(String(userPart))
            }
            uid = entry.uid
            primaryGid = entry.gid
            name = entry.name
        }

        guard let groupPart else {
            var additional: [UInt32] = []
            if let name {
                for group in groups ?? [] where group.members.contains(name) && !additional.contains(group.gid) {
                    additional.append(group.gid)
                }
            }
            return ResolvedUser(uid: uid, gid: primaryGid, additionalGids: additional)
        }
        if let gid = Self.number(groupPart) { return ResolvedUser(uid: uid, gid: gid) }
        guard let groups else { throw UserDatabaseError.noGroupFile(group: String(groupPart)) }
        guard let group = groups.first(where: { $0.name == groupPart }) else {
            throw UserDatabaseError.unknownGroup(String(groupPart))
        }
        return ResolvedUser(uid: uid, gid: group.gid)
    }

    /// A decimal id: digits only, below 2³²−1 (`(uid_t)-1` means "no change" to the kernel).
    private static func number(_ text: Substring) -> UInt32? {
        guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
              let value = UInt32(text), value != UInt32.max else { return nil }
        return value
    }
}
