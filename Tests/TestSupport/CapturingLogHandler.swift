import Logging
import Synchronization

/// A log handler that keeps messages in memory, for tests that check what was logged.
public struct CapturingLogHandler: LogHandler {
    public final class Store: Sendable {
        private let lines = Mutex<[(Logger.Level, String)]>([])
        public init() {}
        func append(_ level: Logger.Level, _ message: String) { lines.withLock { $0.append((level, message)) } }
        public var messages: [(level: Logger.Level, message: String)] { lines.withLock { $0.map { (level: $0.0, message: $0.1) } } }
    }

    public let store: Store
    public var logLevel: Logger.Level = .trace
    public var metadata: Logger.Metadata = [:]

    public init(store: Store) { self.store = store }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        store.append(event.level, event.message.description)
    }
}
