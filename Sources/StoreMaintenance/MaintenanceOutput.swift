import Glibc
import Synchronization

/// Where a maintenance command (`gc`, `verify`, `du`) reports: lines for the report, and progress for a person
/// watching a terminal. The same command writes to standard output when run by the CLI and to the control socket
/// when it runs inside the server.
public protocol MaintenanceOutput: Sendable {
    /// One line of the report (no newline).
    func line(_ text: String)
    /// How far the work is: `done` of `total` (nil when not known) units of `what` ("blobs", "repositories").
    /// Shown on a terminal and replaced by the next call; never part of the report.
    func progress(done: Int, total: Int?, what: String)
    /// True when the lines go to the log already (`LoggerOutput`): what a command would also log (a collection's
    /// summary) is then not logged a second time.
    var isLog: Bool { get }
}

extension MaintenanceOutput {
    public var isLog: Bool { false }
}

/// Writes the report to standard output; progress goes to standard error, only when that is a terminal.
public final class StandardOutput: MaintenanceOutput {
    private let showsProgress: Bool
    /// The last time progress was drawn, monotonic nanoseconds: redrawn at most ten times a second.
    private let lastDrawn = Mutex<UInt64>(0)

    public init() {
        showsProgress = isatty(STDERR_FILENO) == 1
    }

    public func line(_ text: String) {
        clearProgress()
        Self.write(STDOUT_FILENO, text + "\n")
    }

    public func progress(done: Int, total: Int?, what: String) {
        guard showsProgress else { return }
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let nanos = UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
        let due = lastDrawn.withLock { last in
            guard nanos &- last >= 100_000_000 || (total != nil && done == total) else { return false }
            last = nanos
            return true
        }
        guard due else { return }
        let text = total.map { total in
            "\(done)/\(total) \(what) (\(total == 0 ? 100 : done * 100 / total)%)"
        } ?? "\(done) \(what)"
        Self.write(STDERR_FILENO, "\r\u{1B}[K" + text)
    }

    private func clearProgress() {
        guard showsProgress, lastDrawn.withLock({ $0 }) != 0 else { return }
        Self.write(STDERR_FILENO, "\r\u{1B}[K")
    }

    /// Writes all of `text`, unbuffered (stdio's globals are not concurrency-safe in Swift 6).
    private static func write(_ fd: Int32, _ text: String) {
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return }
            bytes = bytes.dropFirst(n)
        }
    }
}

/// Keeps the report's lines (tests, and the server collecting a command's output).
public final class CollectedOutput: MaintenanceOutput {
    private let collected = Mutex<[String]>([])

    public init() {}

    public var lines: [String] { collected.withLock { $0 } }

    public func line(_ text: String) {
        collected.withLock { $0.append(text) }
    }

    public func progress(done: Int, total: Int?, what: String) {}
}
