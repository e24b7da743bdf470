import CCrypt
import Glibc
import SystemIO

/// The users of an Apache htpasswd file, bcrypt entries only (as distribution's `auth.htpasswd`).
///
/// Lines are `user:hash`; blank lines and lines starting with `#` are skipped. Any hash that is not bcrypt (`$2y$`,
/// `$2b$`, `$2a$`) is refused when the file is loaded, with its `file:line`: `{SHA}` is unsalted SHA-1, `$apr1$` and
/// `$1$` are MD5, crypt(3) DES keeps 8 characters of a password, and a plain password is just that — accepting any of
/// them would quietly weaken every deployment that copied an old file.
public struct HtpasswdFile: Sendable {
    /// User name → bcrypt hash, as written.
    let hashes: [String: String]
    /// The path the entries were read from.
    public let path: String
    /// Something the caller should log at warning level (the file is readable by other users), or nil.
    public let warning: String?

    /// The user names, sorted (for `config print` and tests; never the hashes).
    public var users: [String] { hashes.keys.sorted() }

    /// Reads and checks the file.
    /// - Throws: `AuthError` naming `path:line` for a malformed line, a duplicate user or a non-bcrypt hash, or the
    ///   system error when the file cannot be read.
    public init(path: String) throws(AuthError) {
        let bytes: [UInt8]?
        do {
            bytes = try FileSystem.read(path, maxBytes: 16 << 20)
        } catch {
            throw AuthError("htpasswd \(path): \(error)")
        }
        guard let bytes else { throw AuthError("htpasswd \(path): no such file") }
        try self.init(contents: bytes, path: path)
        var st = stat()
        self = HtpasswdFile(hashes: hashes, path: path, decoyHash: decoyHash, warning: stat(path, &st) == 0 && st.st_mode & 0o004 != 0
            ? "htpasswd \(path) is readable by other users (mode \(String(st.st_mode & 0o777, radix: 8))): "
                + "chmod o-r it so that its bcrypt hashes cannot be attacked offline"
            : nil)
    }

    /// Parses htpasswd text; `path` only names the source in errors.
    public init(contents: [UInt8], path: String) throws(AuthError) {
        var hashes: [String: String] = [:]
        var lineNumber = 0
        for rawLine in contents.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            lineNumber += 1
            let line = String(decoding: rawLine, as: UTF8.self).trimmingWhitespace
            if line.isEmpty || line.hasPrefix("#") { continue }
            let place = "htpasswd \(path):\(lineNumber)"
            guard let colon = line.firstIndex(of: ":") else {
                throw AuthError("\(place): expected user:hash")
            }
            let user = String(line[..<colon])
            let hash = String(line[line.index(after: colon)...])
            guard !user.isEmpty else { throw AuthError("\(place): empty user name") }
            guard Self.isBcrypt(hash) else {
                throw AuthError("\(place): user \"\(user)\": \(Self.formatName(hash)) refused; only bcrypt "
                    + "entries ($2y$, $2b$, $2a$) are accepted: recreate it with `htpasswd -B`")
            }
            // bcrypt costs 2^cost rounds. `htpasswd -C` stops at 17 (seconds a check); a dearer entry would make
            // each login, and the decoy checked for unknown users (any request with Basic credentials), cost minutes
            // to days of CPU, and loading the file would hang on hashing that decoy.
            if let cost = Int(hash.dropFirst(4).prefix(2)), cost > Self.maxCost {
                throw AuthError("\(place): user \"\(user)\": bcrypt cost \(cost) is above \(Self.maxCost) (each check would "
                    + "take minutes or more): recreate it with `htpasswd -B -C 10`")
            }
            guard hashes.updateValue(hash, forKey: user) == nil else {
                throw AuthError("\(place): user \"\(user)\" appears twice")
            }
        }
        // The decoy costs what the dearest entry costs (`htpasswd -B` writes cost 5, not 10): an unknown user then
        // takes at least as long as a known one with a wrong password.
        let cost = hashes.values.compactMap { Int($0.dropFirst(4).prefix(2)) }.max() ?? 10
        self.init(hashes: hashes, path: path,
                  decoyHash: Self.makeBcryptHash(password: Base64.encodeURL(randomBytes(18)), cost: cost) ?? "",
                  warning: nil)
    }

    private init(hashes: [String: String], path: String, decoyHash: String, warning: String?) {
        self.hashes = hashes
        self.path = path
        self.decoyHash = decoyHash
        self.warning = warning
    }

    /// A bcrypt hash of a random password at the cost of the file's dearest entry, checked for unknown users.
    let decoyHash: String

    /// The dearest bcrypt cost accepted: `htpasswd -C`'s own upper bound.
    public static let maxCost = 17

    /// Checks a password against the user's bcrypt hash (libxcrypt's `crypt_r`, then a constant-time compare).
    /// Costs one bcrypt computation (tens to hundreds of milliseconds) whether or not the user exists, so that the
    /// time taken does not tell which user names exist.
    public func verify(user: String, password: String) -> Bool {
        let known = hashes[user]
        let ok = Self.bcryptMatches(password: password, hash: known ?? decoyHash)
        return known != nil && ok
    }


    /// A new `$2b$` hash of `password` with a random salt (libxcrypt's `crypt_gensalt_rn` reads the OS's random
    /// source when given no bytes). nil when libxcrypt refuses (cost out of range, NUL in the password).
    public static func makeBcryptHash(password: String, cost: Int) -> String? {
        guard !password.utf8.contains(0) else { return nil }
        var salt = [CChar](repeating: 0, count: Int(CRYPT_GENSALT_OUTPUT_SIZE))
        guard crypt_gensalt_rn("$2b$", UInt(cost), nil, 0, &salt, Int32(salt.count)) != nil else { return nil }
        guard let data = calloc(1, MemoryLayout<crypt_data>.size)?.assumingMemoryBound(to: crypt_data.self) else {
            return nil
        }
        defer {
            explicit_bzero(data, MemoryLayout<crypt_data>.size)
            free(data)
        }
        guard let result = crypt_r(password, salt, data) else { return nil }
        let hash = String(cString: result)
        return isBcrypt(hash) ? hash : nil
    }

    /// crypt_r over `password` with `hash` as setting, compared in constant time with `hash`.
    static func bcryptMatches(password: String, hash: String) -> Bool {
        // crypt(3) takes a C string: a password with a NUL byte would be truncated, so it cannot match.
        guard !password.utf8.contains(0), isBcrypt(hash) else { return false }
        // struct crypt_data is 32 KiB: on the heap, zeroed (crypt_r requires `initialized` = 0 on first use).
        guard let data = calloc(1, MemoryLayout<crypt_data>.size)?.assumingMemoryBound(to: crypt_data.self) else {
            return false
        }
        defer {
            // The output and scratch areas held the password's hash: wipe before freeing.
            explicit_bzero(data, MemoryLayout<crypt_data>.size)
            free(data)
        }
        guard let result = crypt_r(password, hash, data) else { return false }
        let computed = Array(UnsafeRawBufferPointer(start: result, count: strlen(result)).bindMemory(to: UInt8.self))
        // libxcrypt reports failure with a string starting with `*`, which can never equal a `$2…` hash.
        return constantTimeEquals(computed, Array(hash.utf8))
    }

    /// `$2a$`/`$2b$`/`$2y$`, a two-digit cost 04…31, `$`, then 53 characters of bcrypt's base64 (salt and hash).
    static func isBcrypt(_ hash: String) -> Bool {
        let b = Array(hash.utf8)
        guard b.count == 60, b[0] == UInt8(ascii: "$"), b[1] == UInt8(ascii: "2"),
              [UInt8(ascii: "a"), UInt8(ascii: "b"), UInt8(ascii: "y")].contains(b[2]),
              b[3] == UInt8(ascii: "$"), b[6] == UInt8(ascii: "$"),
              let cost = Int(String(decoding: b[4..<6], as: UTF8.self)), (4...31).contains(cost)
        else { return false }
        return b[7...].allSatisfy { c in
            c == UInt8(ascii: ".") || c == UInt8(ascii: "/") || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c)
                || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(c) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(c)
        }
    }

    /// Words the format of a refused hash for the error message (never the hash itself).
    static func formatName(_ hash: String) -> String {
        if hash.hasPrefix("{SHA}") { return "a SHA-1 ({SHA}) hash" }
        if hash.hasPrefix("$apr1$") { return "an Apache MD5 ($apr1$) hash" }
        if hash.hasPrefix("$1$") { return "an MD5-crypt ($1$) hash" }
        if hash.hasPrefix("$5$") || hash.hasPrefix("$6$") { return "a SHA-crypt (\(hash.prefix(3))) hash" }
        if hash.hasPrefix("$2") { return "a malformed bcrypt hash" }
        if hash.hasPrefix("$") { return "an unsupported crypt hash" }
        if hash.utf8.count == 13 { return "a crypt(3) DES hash or a plain-text password" }
        return "a plain-text password or unknown hash format"
    }
}

extension String {
    var trimmingWhitespace: Substring {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" }
        guard let start = firstIndex(where: { !isSpace($0) }), let end = lastIndex(where: { !isSpace($0) }) else {
            return ""
        }
        return self[start...end]
    }
}
