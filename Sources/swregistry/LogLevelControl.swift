import Glibc
import HTTPServer
import Logging
import Metrics
import Synchronization

/// The process's log level, changeable while it runs (a SIGHUP reload of `log.level`). Every handler made by
/// `bootstrap` reads it on each log call, so a new level applies to loggers that already exist.
final class LogLevelControl: Sendable {
    static let shared = LogLevelControl()

    private let raw = Atomic<Int>(LogLevelControl.index(of: .info))

    var level: Logger.Level {
        get { Logger.Level.allCases[raw.load(ordering: .relaxed)] }
        set { raw.store(Self.index(of: newValue), ordering: .relaxed) }
    }

    private static func index(of level: Logger.Level) -> Int { Logger.Level.allCases.firstIndex(of: level)! }

    /// Sends every log line, at the shared level, through one `LogWriter` to standard error in `format`.
    /// - Returns: the writer, which the access log shares and which must be stopped (flushed) before exit.
    static func bootstrap(level: Logger.Level, format: LogFormat) -> LogWriter {
        shared.level = level
        let writer = LogWriter(sink: FileDescriptorLogSink(descriptor: STDERR_FILENO), format: format) { dropped in
            // Made here, on the rare drop, not at start: a handle made before the metrics backend is bootstrapped
            // would stay a no-op.
            Counter(label: "swregistry_access_log_dropped_total").increment(by: dropped)
        }
        LoggingSystem.bootstrap { label in WriterLogHandler(writer: writer) }
        return writer
    }
}

/// A swift-log handler that queues each line on the process's `LogWriter` (so log lines and access lines share
/// one order and one output) and whose level is `LogLevelControl.shared`'s: setting it on one logger changes
/// nothing, a SIGHUP reload changes it for all.
struct WriterLogHandler: LogHandler {
    let writer: LogWriter
    var metadata: Logger.Metadata = [:]

    var logLevel: Logger.Level {
        get { LogLevelControl.shared.level }
        set {}
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let merged = event.metadata.map { metadata.merging($0) { _, new in new } } ?? metadata
        var fields = merged.sorted { $0.key < $1.key }.map { ($0.key, $0.value.description) }
        if let error = event.error { fields.append(("error", "\(error)")) }
        writer.log(level: event.level.rawValue, message: event.message.description, metadata: fields)
        // A critical line usually comes right before the process exits: it is on the output when `log` returns.
        if event.level == .critical { writer.flush() }
    }
}
