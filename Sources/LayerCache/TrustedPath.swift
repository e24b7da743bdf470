import Glibc
import SystemIO

/// Resolves the path of a directory swcopy is about to fill with private trees (a bundle, the cache root) so that
/// no other local user can redirect it, then or later.
///
/// swcopy (often root) checks a bundle directory and then writes `rootfs/` (setuid files, devices) and
/// `config.json` into it by path. Had another user any say over a directory on that path, they could rename the
/// checked directory away after the check and put their own in its place (or repoint a symlink), and receive the
/// image's setuid tree in a directory they can enter. So the path is walked from `/` one component at a time,
/// without following anything blindly, and every directory on it must be *trusted*, the rule of OpenSSH's
/// StrictModes and sudo: owned by root or by the effective user, and not writable by group or others unless it is
/// sticky (in a sticky directory such as `/tmp` only an entry's owner may rename or remove it). A symlink met on
/// the way is followed only when it is owned by root or the effective user (it lies in a trusted directory, so only
/// they can change it). Once every ancestor is trusted, no other user can change what the path names: the
/// operations made by path afterwards are as safe as ones made through a descriptor.
enum TrustedPath {
    /// Symlinks followed before giving up, as the kernel's `MAXSYMLINKS`.
    static let maxSymlinks = 40

    /// The absolute path `path` names, with no symlink, `.` or `..` left in it, whose every ancestor directory is
    /// trusted (see ``TrustedPath``). The final component itself (which may be missing) is not checked: the caller
    /// opens it with `O_NOFOLLOW` and checks its owner.
    ///
    /// - Parameters:
    ///   - path: Absolute, or relative to the current directory.
    ///   - createParents: Create missing ancestors (mode 0755: they hold nothing but the path), each checked as it
    ///     is made; without it, a missing ancestor ends the walk and the rest of `path` is appended as written
    ///     (nothing is there to trust or to redirect).
    ///   - followFinalSymlink: Follow a (trusted) symlink in the final component too; without it such a
    ///     symlink is refused, as `O_NOFOLLOW` would.
    /// - Throws: ``TrustedPathError`` for an untrusted ancestor or symlink; `SystemError` (`ENOTDIR`, `ELOOP`, …)
    ///   when the path cannot be walked.
    static func resolve(_ path: String, createParents: Bool, followFinalSymlink: Bool) throws -> String {
        let absolute = try BundleDirectory.absolutePath(path)
        var pending = Array(absolute.split(separator: "/").map(String.init).reversed())
        var resolved: [String] = []
        var symlinks = 0
        func joined(_ components: [String]) -> String { "/" + components.joined(separator: "/") }
        try checkTrusted(directory: "/", of: absolute)
        while let name = pending.popLast() {
            if name == "." { continue }
            if name == ".." {
                // The physical parent, already checked: `..` after a symlink leads where the kernel leads.
                if !resolved.isEmpty { resolved.removeLast() }
                continue
            }
            let candidate = joined(resolved + [name])
            let isFinal = pending.isEmpty
            var st = stat()
            if lstat(candidate, &st) != 0 {
                guard errno == ENOENT else { throw SystemError("lstat \(candidate)", errno: errno) }
                if isFinal {
                    resolved.append(name)
                    break
                }
                guard createParents else {
                    return lexical(resolved + [name], then: pending.reversed())
                }
                // The directory it goes in is trusted, so only we (or root) can have made it meanwhile; whoever
                // did, it is checked below like any other.
                if mkdir(candidate, 0o755) == 0 {
                    try FileSystem.syncDirectory(joined(resolved))
                } else if errno != EEXIST {
                    throw SystemError("mkdir \(candidate)", errno: errno)
                }
                guard lstat(candidate, &st) == 0 else { throw SystemError("lstat \(candidate)", errno: errno) }
            }
            if st.st_mode & S_IFMT == S_IFLNK {
                guard !isFinal || followFinalSymlink else { throw TrustedPathError.finalSymlink(candidate) }
                let user = geteuid()
                guard st.st_uid == 0 || st.st_uid == user else {
                    throw TrustedPathError.symlinkOwnedByAnotherUser(path: absolute, link: candidate, owner: st.st_uid,
                                                                    user: user)
                }
                symlinks += 1
                guard symlinks <= maxSymlinks else { throw SystemError("resolve \(absolute)", errno: ELOOP) }
                let target = try readLink(candidate)
                if target.hasPrefix("/") { resolved.removeAll() }
                pending.append(contentsOf: target.split(separator: "/").map(String.init).reversed())
                continue
            }
            resolved.append(name)
            if isFinal { break }
            guard st.st_mode & S_IFMT == S_IFDIR else { throw SystemError("walk \(candidate)", errno: ENOTDIR) }
            try checkTrusted(directory: candidate, of: absolute, st)
        }
        return joined(resolved)
    }

    /// Throws unless `directory` (an ancestor of `path`) is trusted: owned by root or the effective user, and not
    /// writable by group or others unless sticky.
    static func checkTrusted(directory: String, of path: String, _ known: stat? = nil) throws {
        var st = known ?? stat()
        if known == nil, lstat(directory, &st) != 0 { throw SystemError("lstat \(directory)", errno: errno) }
        let user = geteuid()
        guard st.st_uid == 0 || st.st_uid == user else {
            throw TrustedPathError.ancestorOwnedByAnotherUser(path: path, ancestor: directory, owner: st.st_uid,
                                                              user: user)
        }
        if st.st_mode & 0o022 != 0 && st.st_mode & S_ISVTX == 0 {
            throw TrustedPathError.ancestorWritableByOthers(path: path, ancestor: directory,
                                                            mode: UInt32(st.st_mode & 0o7777))
        }
    }

    /// `resolved` followed by `rest` resolved lexically (`.` dropped, `..` drops the component before it).
    private static func lexical(_ resolved: [String], then rest: [String]) -> String {
        var components = resolved
        for name in rest where name != "." {
            if name == ".." {
                if !components.isEmpty { components.removeLast() }
            } else {
                components.append(name)
            }
        }
        return "/" + components.joined(separator: "/")
    }

    private static func readLink(_ path: String) throws -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlink(path, &buffer, buffer.count - 1)
        guard count >= 0 else { throw SystemError("readlink \(path)", errno: errno) }
        return String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
