import Foundation
import PostgresMetadata
import Testing
import TestSupport

@Suite(.offCooperativePool, .enabled(if: TestPostgres.enabled), .serialized)
struct PGNotificationListenerTests {
    /// What a listener reported, in order.
    final class Recorder: @unchecked Sendable {
        private let lock = NSLock()
        private var events: [String] = []
        func record(_ event: String) { lock.withLock { events.append(event) } }
        var all: [String] { lock.withLock { events } }

        /// Waits up to 10 s for `predicate` to hold over the events.
        func wait(_ predicate: ([String]) -> Bool) -> Bool {
            for _ in 0..<1000 {
                if predicate(all) { return true }
                usleep(10_000)
            }
            return false
        }
    }

    static func listen(_ database: TestDatabase, _ recorder: Recorder) -> PGNotificationListener {
        PGNotificationListener(settings: database.settings, channel: "swregistry changes", callbacks: .init(
            onNotification: { recorder.record("n:" + $0) },
            onLost: { _ in recorder.record("lost") },
            onListening: { recorder.record("listening") }),
            minimumBackoff: .milliseconds(20), heartbeat: .milliseconds(500))
    }

    @Test func deliversEveryPayloadInOrder() throws {
        try withTestDatabase { database in
            let recorder = Recorder()
            let listener = Self.listen(database, recorder)
            defer { listener.stop() }
            #expect(recorder.wait { $0 == ["listening"] })
            #expect(listener.isListening)
            let sender = try database.connect()
            for index in 0..<50 {
                try sender.query("SELECT pg_notify($1, $2)", ["swregistry changes", .text("repo/\(index)")])
            }
            // Notifications sent inside a transaction arrive at its commit, and not at all after a rollback.
            try sender.transaction { c in try c.query("SELECT pg_notify('swregistry changes', 'committed')") }
            struct Abort: Error {}
            _ = try? sender.transaction { c in
                try c.query("SELECT pg_notify('swregistry changes', 'rolled back')")
                throw Abort()
            }
            try sender.query("SELECT pg_notify('swregistry changes', 'last')")
            let expected = ["listening"] + (0..<50).map { "n:repo/\($0)" } + ["n:committed", "n:last"]
            #expect(recorder.wait { $0.count >= expected.count })
            #expect(recorder.all == expected)
        }
    }

    @Test func aLostSessionIsReportedThenListenedAgain() throws {
        try withTestDatabase { database in
            let recorder = Recorder()
            let listener = Self.listen(database, recorder)
            defer { listener.stop() }
            #expect(recorder.wait { $0 == ["listening"] })
            try database.terminate(pid: listener.backendPID)
            #expect(recorder.wait { $0 == ["listening", "lost", "listening"] })
            let sender = try database.connect()
            try sender.query("SELECT pg_notify('swregistry changes', 'after')")
            #expect(recorder.wait { $0.last == "n:after" })
            #expect(recorder.all == ["listening", "lost", "listening", "n:after"])
        }
    }

    @Test func anUnreachableServerIsReportedLostAndRetried() throws {
        var settings = PGConnectionSettings(host: "127.0.0.1", port: 1, user: "x", dbname: "x")
        settings.connectTimeout = .seconds(1)
        let recorder = Recorder()
        let listener = PGNotificationListener(settings: settings, channel: "c", callbacks: .init(
            onNotification: { recorder.record("n:" + $0) },
            onLost: { _ in recorder.record("lost") }),
            minimumBackoff: .milliseconds(10), maximumBackoff: .milliseconds(40))
        #expect(recorder.wait { $0.count >= 3 })
        listener.stop()
        let after = recorder.all.count
        usleep(100_000)
        #expect(recorder.all.count == after, "a callback ran after stop()")
        #expect(Set(recorder.all) == ["lost"])
        #expect(!listener.isListening)
    }
}
