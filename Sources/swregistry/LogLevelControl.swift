import Logging
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

    /// Logs to standard error at the shared level.
    static func bootstrap(level: Logger.Level) {
        shared.level = level
        LoggingSystem.bootstrap { label in LevelFollowingHandler(inner: StreamLogHandler.standardError(label: label)) }
    }
}

/// A handler whose level is `LogLevelControl.shared`'s; setting it on one logger changes nothing.
private struct LevelFollowingHandler: LogHandler {
    var inner: StreamLogHandler

    init(inner: StreamLogHandler) {
        self.inner = inner
        self.inner.logLevel = .trace  // the filtering is done here, by `logLevel`
    }

    var logLevel: Logger.Level {
        get { LogLevelControl.shared.level }
        set {}
    }

    var metadata: Logger.Metadata {
        get { inner.metadata }
        set { inner.metadata = newValue }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { inner[metadataKey: key] }
        set { inner[metadataKey: key] = newValue }
    }

    func log(event: LogEvent) { inner.log(event: event) }
}
