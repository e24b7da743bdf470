import Logging

/// A maintenance command's report as log lines (a collection the server runs on its schedule); progress is not
/// logged.
public struct LoggerOutput: MaintenanceOutput {
    public let logger: Logger

    public init(logger: Logger) {
        self.logger = logger
    }

    public func line(_ text: String) {
        logger.info("\(text)")
    }

    public func progress(done: Int, total: Int?, what: String) {}

    public var isLog: Bool { true }
}
