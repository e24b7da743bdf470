import Foundation
import Glibc
import OCIModel

/// An auth file in the format skopeo, podman and docker share:
///
/// ```json
/// {"auths": {"registry.example:5000": {"auth": "base64(user:password)"}},
///  "credHelpers": {"gcr.io": "gcloud"}, "credsStore": "pass"}
/// ```
///
/// Other keys (`HttpHeaders`, other registries' entries and their extra fields) are kept as they are when the
/// file is rewritten.
///
/// Look-up order (``lookup(registry:authFile:environment:)``): the files `--authfile`, `$REGISTRY_AUTH_FILE`,
/// `${XDG_RUNTIME_DIR}/containers/auth.json`, `~/.docker/config.json`; within each file the credential helper named
/// for the registry in `credHelpers`, then the `auths` entry, then the default helper `credsStore` (see
/// ``CredentialHelper``); the first answer wins. ``login(registry:credentials:authFile:options:engine:)`` checks the
/// credentials with a ping, then hands them to the registry's helper (`credHelpers`, else `credsStore`) or writes
/// them into `auths` atomically with mode 0600; ``logout(registry:authFile:environment:)`` erases them.
public struct AuthFile: Sendable {
    /// The file this value was read from and is saved to.
    public let path: String
    private var root: [String: JSONValue]

    /// Reads an auth file; a missing file reads as empty.
    /// - Throws: ``AuthFileError`` if the file exists but cannot be read or is not a JSON object.
    public init(path: String) throws(AuthFileError) {
        self.path = path
        guard let bytes = try Self.readIfPresent(path) else {
            root = [:]
            return
        }
        if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) {
            root = [:]
            return
        }
        guard case .object(let object)? = try? JSONDecoder().decode(JSONValue.self, from: Data(bytes)) else {
            throw AuthFileError("\(path) is not a JSON object")
        }
        root = object
    }

    // MARK: - Entries

    /// The credentials stored for a registry (`host[:port]`), if any.
    ///
    /// Keys are matched exactly first, then without scheme and path (`https://host/v1/` matches `host`).
    /// An entry's `auth` (base64 `user:password`) is read, or else its `username` and `password` fields.
    public func credentials(for registry: String) -> Credentials? {
        guard case .object(let auths)? = root["auths"] else { return nil }
        let wanted = Self.normalize(registry)
        let keys = auths.keys.sorted()
        let match = keys.first { $0 == registry } ?? keys.first { Self.normalize($0) == wanted }
        guard let key = match, case .object(let entry)? = auths[key] else { return nil }
        if case .string(let token)? = entry["identitytoken"], !token.isEmpty {
            // docker login's OAuth2 form: the entry's user name (if any) with a refresh token.
            var user = CredentialHelper.identityTokenUsername
            if case .string(let auth)? = entry["auth"], let decoded = Base64.decode(auth),
               let parsed = Credentials(parsing: String(decoding: decoded, as: UTF8.self)) { user = parsed.username }
            return Credentials(username: user, password: token, identityToken: token)
        }
        if case .string(let auth)? = entry["auth"], !auth.isEmpty {
            guard let decoded = Base64.decode(auth) else { return nil }
            return Credentials(parsing: String(decoding: decoded, as: UTF8.self))
        }
        if case .string(let user)? = entry["username"], case .string(let password)? = entry["password"], !user.isEmpty {
            return Credentials(username: user, password: password)
        }
        return nil
    }

    /// Stores credentials for a registry, replacing any entry under the same (normalized) name; other fields of
    /// an existing entry are kept.
    public mutating func setCredentials(_ credentials: Credentials, for registry: String) {
        var auths: [String: JSONValue] = [:]
        if case .object(let existing)? = root["auths"] { auths = existing }
        var entry: [String: JSONValue] = [:]
        if case .object(let old)? = auths[registry] { entry = old }
        for key in auths.keys where key != registry && Self.normalize(key) == Self.normalize(registry) {
            auths[key] = nil
        }
        entry["auth"] = .string(credentials.basicToken)
        entry["username"] = nil
        entry["password"] = nil
        auths[registry] = .object(entry)
        root["auths"] = .object(auths)
    }

    /// Removes every entry for a registry.
    /// - Returns: Whether there was one.
    @discardableResult
    public mutating func removeCredentials(for registry: String) -> Bool {
        guard case .object(var auths)? = root["auths"] else { return false }
        let keys = auths.keys.filter { $0 == registry || Self.normalize($0) == Self.normalize(registry) }
        for key in keys { auths[key] = nil }
        root["auths"] = .object(auths)
        return !keys.isEmpty
    }

    /// The credential helper that keeps a registry's credentials: its `credHelpers` entry, else `credsStore`.
    /// - Returns: The helper's name (after `docker-credential-`), or nil when the file names none.
    public func helperName(for registry: String) -> String? {
        registryHelperName(for: registry) ?? defaultHelperName
    }

    /// The registry's own helper (`credHelpers`), matched as `auths` keys are.
    func registryHelperName(for registry: String) -> String? {
        guard case .object(let helpers)? = root["credHelpers"] else { return nil }
        let wanted = Self.normalize(registry)
        let keys = helpers.keys.sorted()
        guard let key = keys.first(where: { $0 == registry }) ?? keys.first(where: { Self.normalize($0) == wanted }),
              case .string(let name)? = helpers[key], !name.isEmpty
        else { return nil }
        return name
    }

    /// The default helper (`credsStore`).
    var defaultHelperName: String? {
        guard case .string(let name)? = root["credsStore"], !name.isEmpty else { return nil }
        return name
    }

    /// The server URL a helper knows a registry by: `host[:port]`, and Docker Hub's historical
    /// `https://index.docker.io/v1/` (what docker login stores it under).
    public static func helperServerURL(_ registry: String) -> String {
        let host = normalize(registry)
        return host == "docker.io" ? "https://index.docker.io/v1/" : host
    }

    /// This file's credentials for a registry: `credHelpers`, then `auths` (containers/image's order), then docker's
    /// default helper `credsStore` (an empty `auths` entry, as docker writes beside a `credsStore`, defers to it).
    /// - Throws: ``CredentialHelperError`` when a helper named here is missing or fails (a helper that has nothing
    ///   for the registry is not an error).
    public func resolveCredentials(for registry: String, environment: [String: String]) throws -> Credentials? {
        if let name = registryHelperName(for: registry) {
            if let found = try CredentialHelper(name: name, environment: environment)
                .get(serverURL: Self.helperServerURL(registry)) { return found }
        }
        if let found = credentials(for: registry) { return found }
        if let name = defaultHelperName {
            return try CredentialHelper(name: name, environment: environment).get(serverURL: Self.helperServerURL(registry))
        }
        return nil
    }

    /// Writes the file atomically (temporary file, fsync, rename, directory fsync) with mode 0600, creating its
    /// folder (0700) if needed.
    public func save() throws(AuthFileError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(JSONValue.object(root)) else {
            throw AuthFileError("cannot encode \(path)")
        }
        try Self.writeAtomically(Array(data) + [0x0A], to: path)
    }

    // MARK: - Look-up

    /// The files searched for credentials, in order.
    /// - Parameters:
    ///   - authFile: `--authfile`, searched first.
    ///   - environment: Supplies `REGISTRY_AUTH_FILE`, `XDG_RUNTIME_DIR` and `HOME`.
    public static func searchPaths(authFile: String?, environment: [String: String]) -> [String] {
        var paths: [String] = []
        if let authFile, !authFile.isEmpty { paths.append(authFile) }
        if let file = environment["REGISTRY_AUTH_FILE"], !file.isEmpty { paths.append(file) }
        if let runtime = environment["XDG_RUNTIME_DIR"], !runtime.isEmpty { paths.append(runtime + "/containers/auth.json") }
        if let home = environment["HOME"], !home.isEmpty { paths.append(home + "/.docker/config.json") }
        return paths
    }

    /// The file `login` writes and `logout` edits: the first of `--authfile`, `$REGISTRY_AUTH_FILE`,
    /// `${XDG_RUNTIME_DIR}/containers/auth.json`, `~/.docker/config.json`.
    public static func writePath(authFile: String?, environment: [String: String]) throws(AuthFileError) -> String {
        guard let path = searchPaths(authFile: authFile, environment: environment).first else {
            throw AuthFileError("no auth file location: pass --authfile or set REGISTRY_AUTH_FILE, XDG_RUNTIME_DIR or HOME")
        }
        return path
    }

    /// The credentials for a registry from the first auth file that has them (its helpers included).
    /// - Throws: ``AuthFileError`` for a file that exists but is unreadable or malformed; ``CredentialHelperError``
    ///   for a helper that is missing or fails.
    public static func lookup(registry: String, authFile: String?, environment: [String: String]) throws -> Credentials? {
        for path in searchPaths(authFile: authFile, environment: environment) {
            if let credentials = try AuthFile(path: path).resolveCredentials(for: registry, environment: environment) {
                return credentials
            }
        }
        return nil
    }

    // MARK: - Login and logout

    /// Where ``login(registry:credentials:authFile:options:engine:)`` put the credentials.
    public enum Destination: Sendable, Equatable, CustomStringConvertible {
        /// The `auths` entry of this file.
        case file(String)
        /// This credential helper (`docker-credential-…`), configured in the file.
        case helper(program: String, configuredIn: String)

        public var description: String {
            switch self {
            case .file(let path): path
            case .helper(let program, let file): "\(program) (configured in \(file))"
            }
        }
    }

    /// Checks credentials against the registry (a ping that authenticates), then stores them: through the
    /// registry's credential helper when the auth file names one, else in the file's `auths`.
    /// - Returns: Where they were stored.
    /// - Throws: ``RegistryClientError`` if the registry refuses them (nothing is stored then), ``AuthFileError``
    ///   if the file cannot be written, ``CredentialHelperError`` if the helper fails.
    @discardableResult
    public static func login(registry: String, credentials: Credentials, authFile: String? = nil,
                             options: ClientOptions = ClientOptions(), engine: TransferEngine) async throws -> Destination {
        var options = options
        options.credentials = credentials
        options.registryToken = nil
        let client = RegistryClient(registry: registry, options: options, engine: engine)
        try await client.ping()
        let environment = options.environment ?? ProcessInfo.processInfo.environment
        let path = try writePath(authFile: authFile ?? options.authFile, environment: environment)
        var file = try AuthFile(path: path)
        if let name = file.helperName(for: client.registry) {
            let helper = CredentialHelper(name: name, environment: environment)
            try helper.store(serverURL: helperServerURL(client.registry), credentials: credentials)
            // An older `auths` entry would be found before a `credsStore` helper's: drop it.
            if file.removeCredentials(for: normalize(client.registry)) { try file.save() }
            return .helper(program: helper.program, configuredIn: path)
        }
        file.setCredentials(credentials, for: client.registry)
        try file.save()
        return .file(path)
    }

    /// Removes a registry's credentials from the auth file `login` writes, and from its credential helper when the
    /// file names one.
    /// - Returns: Whether there were any.
    /// - Throws: ``AuthFileError``, or ``CredentialHelperError`` when the helper is missing or fails.
    @discardableResult
    public static func logout(registry: String, authFile: String? = nil,
                              environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Bool {
        let path = try writePath(authFile: authFile, environment: environment)
        var file = try AuthFile(path: path)
        var found = false
        if let name = file.helperName(for: registry) {
            found = try CredentialHelper(name: name, environment: environment).erase(serverURL: helperServerURL(registry))
        }
        if file.removeCredentials(for: normalize(registry)) {
            try file.save()
            found = true
        }
        return found
    }

    // MARK: - Helpers

    /// `https://host:5000/v1/` → `host:5000`; Docker Hub's names → `docker.io`.
    static func normalize(_ key: String) -> String {
        var text = Substring(key)
        for prefix in ["https://", "http://"] where text.hasPrefix(prefix) { text = text.dropFirst(prefix.count) }
        let host = String(text.prefix { $0 != "/" }).lowercased()
        switch host {
        case "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com": return "docker.io"
        default: return host
        }
    }

    private static func readIfPresent(_ path: String) throws(AuthFileError) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT || errno == ENOTDIR { return nil }
            throw AuthFileError("cannot open \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16384)
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n == 0 { return out }
            if n < 0 {
                if errno == EINTR { continue }
                throw AuthFileError("cannot read \(path): \(String(cString: strerror(errno)))")
            }
            out += buffer[0..<n]
            if out.count > 4 << 20 { throw AuthFileError("\(path) is larger than 4 MiB; not an auth file") }
        }
    }

    private static func writeAtomically(_ bytes: [UInt8], to path: String) throws(AuthFileError) {
        let directory = path.lastIndex(of: "/").map { String(path[..<$0]) }.flatMap { $0.isEmpty ? "/" : $0 } ?? "."
        try makeDirectories(directory)
        var template = Array((path + ".tmp-XXXXXX").utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { throw AuthFileError("cannot create a temporary file beside \(path): \(String(cString: strerror(errno)))") }
        let temporary = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        var failure: String?
        if fchmod(fd, 0o600) != 0 { failure = "chmod: \(String(cString: strerror(errno)))" }
        var offset = 0
        while failure == nil && offset < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 {
                if errno == EINTR { continue }
                failure = "write: \(String(cString: strerror(errno)))"
            } else {
                offset += n
            }
        }
        if failure == nil && fsync(fd) != 0 { failure = "fsync: \(String(cString: strerror(errno)))" }
        close(fd)
        if failure == nil && rename(temporary, path) != 0 { failure = "rename: \(String(cString: strerror(errno)))" }
        if let failure {
            unlink(temporary)
            throw AuthFileError("cannot write \(path): \(failure)")
        }
        let dirfd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dirfd >= 0 {
            fsync(dirfd)
            close(dirfd)
        }
    }

    private static func makeDirectories(_ path: String) throws(AuthFileError) {
        var st = stat()
        if stat(path, &st) == 0 { return }
        if let slash = path.lastIndex(of: "/"), slash != path.startIndex {
            try makeDirectories(String(path[..<slash]))
        }
        if mkdir(path, 0o700) != 0 && errno != EEXIST {
            throw AuthFileError("cannot create \(path): \(String(cString: strerror(errno)))")
        }
    }
}

/// An auth file that cannot be read, parsed or written.
public struct AuthFileError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
