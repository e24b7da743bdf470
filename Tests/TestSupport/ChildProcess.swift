import Glibc

/// A child process with its stdout on a pipe, for end-to-end tests of the real executables.
public final class ChildProcess {
    public let pid: pid_t
    private let stdoutFD: Int32
    private var buffered: [UInt8] = []
    private var reaped: Int32?

    /// Starts `path` with `arguments`; stderr goes to `stderrPath` (or /dev/null).
    public init(_ path: String, _ arguments: [String], stderrPath: String = "/dev/null") throws {
        var pipeFDs: [Int32] = [0, 0]
        // Close-on-exec: children other tests spawn at the same moment must not inherit this pipe.
        guard pipe(&pipeFDs) == 0 else { throw ChildProcessError("pipe failed") }
        _ = fcntl(pipeFDs[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(pipeFDs[1], F_SETFD, FD_CLOEXEC)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, pipeFDs[1], 1)
        posix_spawn_file_actions_addclose(&actions, pipeFDs[0])
        posix_spawn_file_actions_addopen(&actions, 2, stderrPath, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, path, &actions, nil, argv, environ)
        Glibc.close(pipeFDs[1])
        guard rc == 0 else {
            Glibc.close(pipeFDs[0])
            throw ChildProcessError("posix_spawn \(path): \(rc)")
        }
        self.pid = pid
        stdoutFD = pipeFDs[0]
    }

    deinit {
        if reaped == nil {
            kill(pid, SIGKILL)
            _ = try? waitForExit(timeoutSeconds: 5)
        }
        Glibc.close(stdoutFD)
    }

    /// Reads stdout until a line contains `marker` (or the timeout passes); returns that line.
    public func readLine(containing marker: String, timeoutSeconds: Double = 30) throws -> String {
        let deadline = Double(time(nil)) + timeoutSeconds
        while true {
            if let nl = buffered.firstIndex(of: 10) {
                let line = String(decoding: buffered[..<nl], as: UTF8.self)
                buffered.removeFirst(nl + 1)
                if line.contains(marker) { return line }
                continue
            }
            var pfd = pollfd(fd: stdoutFD, events: Int16(POLLIN), revents: 0)
            let left = Int32(max(0, (deadline - Double(time(nil))) * 1000))
            // A signal (SIGCHLD from another test's child, in this multithreaded test process) interrupts poll and
            // read: that is neither a timeout nor the end of the output.
            let ready = poll(&pfd, 1, left)
            if ready < 0 && errno == EINTR { continue }
            guard ready > 0 else { throw ChildProcessError("timed out waiting for '\(marker)'") }
            var chunk = [UInt8](repeating: 0, count: 4096)
            let n = read(stdoutFD, &chunk, chunk.count)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw ChildProcessError("stdout closed before '\(marker)'") }
            buffered.append(contentsOf: chunk[0..<n])
        }
    }

    public func signal(_ signal: Int32) { kill(pid, signal) }

    /// Waits for the process to exit. - Returns: its exit status, or 128+signal when killed by a signal.
    public func waitForExit(timeoutSeconds: Double = 30) throws -> Int32 {
        if let reaped { return reaped }
        let deadline = Double(time(nil)) + timeoutSeconds
        while true {
            var status: Int32 = 0
            let r = waitpid(pid, &status, WNOHANG)
            if r == pid {
                let code = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
                reaped = code
                return code
            }
            if Double(time(nil)) > deadline { throw ChildProcessError("process \(pid) did not exit") }
            usleep(20_000)
        }
    }

    /// The directory of the test binary; SwiftPM puts the products beside it.
    public static var productsDirectory: String {
        var path = CommandLine.arguments[0]
        if let slash = path.lastIndex(of: "/") { path = String(path[..<slash]) } else { path = "." }
        // The Swift Testing runner may live inside a .xctest bundle directory.
        while path.hasSuffix(".xctest") || path.contains(".xctest/") {
            guard let slash = path.lastIndex(of: "/") else { break }
            path = String(path[..<slash])
        }
        return path
    }
}

public struct ChildProcessError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
