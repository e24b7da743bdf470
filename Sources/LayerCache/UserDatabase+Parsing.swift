extension UserDatabase {
    /// Parses `/etc/passwd`: `name:password:uid:gid:gecos:home:shell`. Comments, blank lines, NIS `+`/`-` entries
    /// and malformed lines (as glibc does) are skipped.
    public static func parsePasswd(_ text: String) -> [User] {
        lines(text).compactMap { fields in
            guard fields.count >= 4, let name = fields.first, isName(name),
                  let uid = UInt32(fields[2]), let gid = UInt32(fields[3]) else { return nil }
            return User(name: String(name), uid: uid, gid: gid, home: fields.count > 5 ? String(fields[5]) : "")
        }
    }

    /// Parses `/etc/group`: `name:password:gid:member,member`.
    public static func parseGroup(_ text: String) -> [Group] {
        lines(text).compactMap { fields in
            guard fields.count >= 3, let name = fields.first, isName(name), let gid = UInt32(fields[2]) else { return nil }
            let members = fields.count > 3
                ? fields[3].split(separator: ",").map { String($0.trimmingSpaces()) }.filter { !$0.isEmpty } : []
            return Group(name: String(name), gid: gid, members: members)
        }
    }

    private static func lines(_ text: String) -> [[Substring]] {
        text.split(whereSeparator: { $0 == "\n" || $0 == "\r\n" }).compactMap { line in
            let trimmed = line.trimmingSpaces()
            if trimmed.isEmpty || trimmed.hasPrefix("#") { return nil }
            return trimmed.split(separator: ":", omittingEmptySubsequences: false)
        }
    }

    private static func isName(_ name: Substring) -> Bool {
        !name.isEmpty && !name.hasPrefix("+") && !name.hasPrefix("-")
    }
}

extension Substring {
    func trimmingSpaces() -> Substring {
        var s = self
        while let first = s.first, first == " " || first == "\t" { s = s.dropFirst() }
        while let last = s.last, last == " " || last == "\t" { s = s.dropLast() }
        return s
    }
}
