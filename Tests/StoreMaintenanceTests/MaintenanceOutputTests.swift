import Logging
import StoreMaintenance
import Testing
import TestSupport

@Suite struct MaintenanceOutputTests {
    @Test func collectedOutputKeepsLinesInOrderAndNoProgress() {
        let output = CollectedOutput()
        output.line("first")
        output.progress(done: 1, total: 2, what: "blobs")
        output.line("second")
        #expect(output.lines == ["first", "second"])
    }

    /// A scheduled collection in the server reports to the log (`LoggerOutput`) and is given the same logger: its
    /// summary was logged twice (seen in the replica's log in Tests/e2e/replicas_e2e.sh).
    @Test func aCollectionReportingToTheLogLogsItsSummaryOnce() throws {
        let b = try StoreBuilder(prefix: "swr-gc-log")
        defer { b.remove() }
        _ = try b.image("log/app", tag: "v1", seed: "1", layers: [Array("layer".utf8)])
        let captured = CapturingLogHandler.Store()
        let logger = Logger(label: "test") { _ in CapturingLogHandler(store: captured) }
        _ = try GarbageCollector(store: b.store, options: GCOptions(deleteUntagged: true, graceSeconds: 0),
                                 output: LoggerOutput(logger: logger), logger: logger).run()
        let summaries = captured.messages.filter { $0.message.hasPrefix("gc: removed") }
        #expect(summaries.count == 1, "\(summaries)")
        // Reporting elsewhere (the CLI, the control socket), the summary still reaches the log.
        let elsewhere = CapturingLogHandler.Store()
        let other = Logger(label: "test") { _ in CapturingLogHandler(store: elsewhere) }
        let output = CollectedOutput()
        _ = try GarbageCollector(store: b.store, options: GCOptions(deleteUntagged: true, graceSeconds: 0),
                                 output: output, logger: other).run()
        #expect(elsewhere.messages.filter { $0.message.hasPrefix("gc: removed") }.count == 1)
        #expect(output.lines.contains { $0.hasPrefix("gc: removed") })
    }
}
