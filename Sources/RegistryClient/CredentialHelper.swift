import Foundation
import Glibc

/// A docker credential helper: the program `docker-credential-<name>` spoken to with the protocol of
/// docker/docker-credential-helpers (`get`, `store`, `erase` as the only argument; the request on standard input,
/// the answer on standard output).
///
/// ```
/// get:   stdin "registry.example:5000"  → stdout {"ServerURL":"…","Username":"alice","Secret":"…"}
/// store: stdin {"ServerURL":"…","Username":"alice","Secret":"…"}
/// erase: stdin "registry.example:5000"
/// ```
///
/// A `Username` of `<token>` means the secret is an identity token (an OAuth2 refresh token). The program is found
/// on the search path (no shell is involved) and gets ``timeout`` to answer; after that it is killed.
public struct CredentialHelper: Sendable {
    /// The helper's name: the part after `docker-credential-`.
    public var name: String
    /// Folders searched for the program, in order (`$PATH`).
    public var searchPath: [String]
    /// How long the program may take.
    public var timeout: Duration = .seconds(10)

    /// The username helpers use for an identity token.
    static let identityTokenUsername = "<token>"
    /// What helpers print (on standard output, by convention) when they have nothing for the server.
    static let notFoundMessage = "credentials not found in native keychain"

    /// - Parameters:
    ///   - name: As written in `credHelpers` or `credsStore`.
    ///   - environment: Supplies `PATH`; without it, `/usr/local/bin:/usr/bin:/bin`.
    public init(name: String, environment: [String: String]) {
        self.name = name
        let path = environment["PATH"].flatMap { $0.isEmpty ? nil : $0 } ?? "/usr/local/bin:/usr/bin:/bin"
        searchPath = path.split(separator: ":", omittingEmptySubsequences: false).map { $0.isEmpty ? "." : String($0) }
    }

    /// The program's file name.
    public var program: String { "docker-credential-" + name }

    /// The credentials the helper holds for `serverURL`.
    /// - Returns: nil when the helper has none (its "credentials not found" answer).
    /// - Throws: ``CredentialHelperError`` when the program is missing, fails, times out or answers nonsense.
    public func get(serverURL: String) throws(CredentialHelperError) -> Credentials? {
        let output: [UInt8]
        switch try run("get", input: Array(serverURL.utf8)) {
        case .success(let bytes): output = bytes
        case .notFound: return nil
        }
        struct Answer: Decodable {
            var Username: String?
            var Secret: String?
        }
        guard let answer = try? JSONDecoder().decode(Answer.self, from: Data(output)) else {
            throw CredentialHelperError(program, "get: the answer is not the JSON of the credential-helper protocol")
        }
        let username = answer.Username ?? "", secret = answer.Secret ?? ""
        if username.isEmpty && secret.isEmpty { return nil }
        if username == Self.identityTokenUsername {
            return Credentials(username: username, password: secret, identityToken: secret)
        }
        guard !username.isEmpty else { throw CredentialHelperError(program, "get: the answer has a secret but no Username") }
        return Credentials(username: username, password: secret)
    }

    /// Hands credentials to the helper to keep.
    public func store(serverURL: String, credentials: Credentials) throws(CredentialHelperError) {
        let body = ["ServerURL": serverURL, "Username": credentials.username, "Secret": credentials.password]
        let format: JSONSerialization.WritingOptions = [.sortedKeys, .withoutEscapingSlashes]
        guard let json = try? JSONSerialization.data(withJSONObject: body, options: format) else {
            throw CredentialHelperError(program, "store: cannot encode the request")
        }
        if case .notFound = try run("store", input: Array(json)) {
            throw CredentialHelperError(program, "store: \(Self.notFoundMessage)")
        }
    }

    /// Asks the helper to forget `serverURL`.
    /// - Returns: Whether it had credentials for it.
    @discardableResult
    public func erase(serverURL: String) throws(CredentialHelperError) -> Bool {
        if case .notFound = try run("erase", input: Array(serverURL.utf8)) { return false }
        return true
    }

    // MARK: - Running the program

    private enum Outcome { case success([UInt8]), notFound }

    /// The program's path: the first executable `docker-credential-<name>` on the search path.
    func locate() throws(CredentialHelperError) -> String {
        // A name with a slash would leave the search path (credsStore: "../../tmp/x").
        guard !name.isEmpty, !name.contains("/") else { throw CredentialHelperError(program, "not a valid helper name") }
        for folder in searchPath {
            let candidate = folder + "/" + program
            var st = stat()
            if stat(candidate, &st) == 0, st.st_mode & S_IFMT == S_IFREG, access(candidate, X_OK) == 0 {
                return candidate
            }
        }
        throw CredentialHelperError(program, "not found on the search path \(searchPath.joined(separator: ":")) "
                                    + "(install it, or remove it from credHelpers/credsStore in the auth file)")
    }

    /// Runs `program action` with `input` on its standard input.
    private func run(_ action: String, input: [UInt8]) throws(CredentialHelperError) -> Outcome {
        let path = try locate()
        // The request is written into the socket before the program starts and our end is closed: it fits the
        // socket's buffer (requests are a URL or a small JSON), so the write cannot block, and a program that exits
        // without reading cannot raise SIGPIPE in this process.
        guard input.count < 60_000 else { throw CredentialHelperError(program, "\(action): request too large") }
        // Socket pairs rather than pipes: they are made close-on-exec atomically (SOCK_CLOEXEC; Glibc's module has no
        // pipe2), so children that other threads spawn meanwhile cannot inherit an end (a copy of a write end would
        // keep our reads from ever seeing end of file). Index 0 is the helper's end, 1 ours.
        var stdinPair: [Int32] = [-1, -1], stdoutPair: [Int32] = [-1, -1], stderrPair: [Int32] = [-1, -1]
        let kind = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        guard socketpair(AF_UNIX, kind, 0, &stdinPair) == 0 else { throw systemFailure(action, "socketpair") }
        defer { for fd in stdinPair where fd >= 0 { close(fd) } }
        guard socketpair(AF_UNIX, kind, 0, &stdoutPair) == 0 else { throw systemFailure(action, "socketpair") }
        defer { for fd in stdoutPair where fd >= 0 { close(fd) } }
        guard socketpair(AF_UNIX, kind, 0, &stderrPair) == 0 else { throw systemFailure(action, "socketpair") }
        defer { for fd in stderrPair where fd >= 0 { close(fd) } }
        var written = 0
        while written < input.count {
            let n = input.withUnsafeBytes { write(stdinPair[1], $0.baseAddress! + written, $0.count - written) }
            if n < 0 {
                if errno == EINTR { continue }
                throw systemFailure(action, "write")
            }
            written += n
        }
        close(stdinPair[1])
        stdinPair[1] = -1

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        // dup2 onto 0/1/2 clears close-on-exec for the program's own copies.
        posix_spawn_file_actions_adddup2(&actions, stdinPair[0], 0)
        posix_spawn_file_actions_adddup2(&actions, stdoutPair[0], 1)
        posix_spawn_file_actions_adddup2(&actions, stderrPair[0], 2)
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup(path), strdup(action), nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        var spawned: Int32 = 0
        for attempt in 0..<5 {
            spawned = posix_spawn(&pid, path, &actions, nil, argv, environ)
            // ETXTBSY: a process forked at the moment the helper file was being written still held it open for
            // writing (until its exec closed the close-on-exec descriptor); that passes in microseconds.
            guard spawned == ETXTBSY, attempt < 4 else { break }
            usleep(20_000)
        }
        guard spawned == 0 else {
            throw CredentialHelperError(program, "\(action): cannot start \(path): \(String(cString: strerror(spawned)))")
        }
        // Our copies of the helper's ends go, so that its exit is our end of file.
        close(stdinPair[0])
        close(stdoutPair[0])
        close(stderrPair[0])
        stdinPair[0] = -1
        stdoutPair[0] = -1
        stderrPair[0] = -1

        let deadline = ContinuousClock.now + timeout
        let (stdout, stderr, complete) = collect(stdoutPair[1], stderrPair[1], until: deadline)
        let status = complete ? reap(pid, until: deadline) : nil
        guard let status else {
            kill(pid, SIGKILL)
            _ = reap(pid, until: nil)
            throw CredentialHelperError(program, "\(action): no answer within \(timeout) (killed)")
        }
        if status == 0 { return .success(stdout) }
        // Helpers print their error on standard output (docker-credential-helpers' convention), some on stderr.
        let message = [stdout, stderr].map {
            String(decoding: $0.prefix(400), as: UTF8.self).split(whereSeparator: \.isNewline).joined(separator: " ")
                .trimmingCharacters(in: .whitespaces)
        }.first { !$0.isEmpty } ?? ""
        if message.contains(Self.notFoundMessage) { return .notFound }
        let exit = status > 128 ? "killed by signal \(status - 128)" : "exit status \(status)"
        throw CredentialHelperError(program, "\(action) failed (\(exit))" + (message.isEmpty ? "" : ": \(message)"))
    }

    /// Reads both pipes until both reach end of file, the deadline passes, or one holds more than 1 MiB.
    /// - Returns: The bytes and whether both pipes were read to their end.
    private func collect(_ out: Int32, _ err: Int32, until deadline: ContinuousClock.Instant)
        -> ([UInt8], [UInt8], Bool)
    {
        var buffers: [[UInt8]] = [[], []]
        var open = [true, true]
        var chunk = [UInt8](repeating: 0, count: 16384)
        while open[0] || open[1] {
            let left = deadline - ContinuousClock.now
            guard left > .zero else { return (buffers[0], buffers[1], false) }
            var fds = [pollfd(fd: open[0] ? out : -1, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: open[1] ? err : -1, events: Int16(POLLIN), revents: 0)]
            let milliseconds = left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000 + 1
            let ready = poll(&fds, 2, Int32(min(milliseconds, 60_000)))
            if ready < 0 && errno == EINTR { continue }
            if ready < 0 { return (buffers[0], buffers[1], false) }
            for index in 0..<2 where open[index] && fds[index].revents != 0 {
                let n = chunk.withUnsafeMutableBytes { read(fds[index].fd, $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                if n <= 0 {
                    open[index] = false
                } else {
                    buffers[index] += chunk[0..<n]
                    if buffers[index].count > 1 << 20 { return (buffers[0], buffers[1], false) }
                }
            }
        }
        return (buffers[0], buffers[1], true)
    }

    /// Waits for the program to exit (until the deadline, if any).
    /// - Returns: Its exit status, 128 + signal when a signal ended it, nil when the deadline passed.
    private func reap(_ pid: pid_t, until deadline: ContinuousClock.Instant?) -> Int32? {
        while true {
            var status: Int32 = 0
            let r = waitpid(pid, &status, deadline == nil ? 0 : WNOHANG)
            if r == pid { return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f) }
            if r < 0 && errno != EINTR { return -1 }
            if let deadline, ContinuousClock.now > deadline { return nil }
            if deadline != nil { usleep(2_000) }
        }
    }

    private func systemFailure(_ action: String, _ call: String) -> CredentialHelperError {
        CredentialHelperError(program, "\(action): \(call): \(String(cString: strerror(errno)))")
    }
}

/// A credential helper that is missing, failed, timed out or answered something unreadable.
public struct CredentialHelperError: Error, Sendable, CustomStringConvertible {
    /// `docker-credential-<name>`.
    public var program: String
    public var message: String
    public var description: String { "credential helper \(program): \(message)" }

    init(_ program: String, _ message: String) {
        self.program = program
        self.message = message
    }
}
