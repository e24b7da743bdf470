/// The access log: one line per finished exchange, built from its `ExchangeRecord`. On the event loop it only
/// queues the record (a lock and an append, see `LogWriter`); the line is formatted and written on the writer thread.
///
/// Fields, in this order (absent ones left out): `time` (RFC 3339 UTC, ms), `level` (`info`), `msg` (`access`),
/// `client` (address:port), `user` (who the responder authenticated; never a credential), `method`, `target`,
/// `status`, `received` and `sent` (body bytes), `duration_ms`, `route`, `repository`, `reference`, `tls`, `note`
/// (why an exchange ended abnormally).
public struct AccessLog: ExchangeObserver {
    private let writer: LogWriter
    private let isEnabled: @Sendable () -> Bool

    /// - Parameter isEnabled: asked for each exchange; false skips the line (the server ties it to `log.level`,
    ///   as access lines are `info` lines).
    public init(writer: LogWriter, isEnabled: @escaping @Sendable () -> Bool = { true }) {
        self.writer = writer
        self.isEnabled = isEnabled
    }

    public func exchangeCompleted(_ record: ExchangeRecord) {
        guard isEnabled() else { return }
        writer.append(record)
    }

    static func format(_ record: ExchangeRecord, wallNanos: Int64, into builder: inout LogLineBuilder) {
        builder.begin(wallNanos: wallNanos, level: "info", message: "access")
        builder.field("client", .string(record.peer))
        if let user = record.context.user { builder.field("user", .string(user)) }
        builder.field("method", .string(record.method))
        builder.field("target", .string(record.target))
        builder.field("status", .int(Int64(record.status)))
        builder.field("received", .int(record.bytesReceived))
        builder.field("sent", .int(record.bytesSent))
        builder.field("duration_ms", .milliseconds(record.durationNanos))
        if let route = record.context.route { builder.field("route", .string(route)) }
        if let repository = record.context.repository { builder.field("repository", .string(repository)) }
        if let reference = record.context.reference { builder.field("reference", .string(reference)) }
        builder.field("tls", .bool(record.isSecure))
        if let note = record.note { builder.field("note", .string(note)) }
        builder.end()
    }
}
