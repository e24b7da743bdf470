import Glibc
import Synchronization
import SystemIO
import Testing

@Suite struct BlockingPoolTests {
    @Test func runsWorkAndReturnsResults() async throws {
        let pool = BlockingPool(threadCount: 2)
        defer { pool.shutdown() }
        let results = try await withThrowingTaskGroup(of: Int.self) { group in
            for i in 0..<50 { group.addTask { try await pool.run { i * i } } }
            return try await group.reduce(0, +)
        }
        #expect(results == (0..<50).map { $0 * $0 }.reduce(0, +))
    }

    @Test func neverRunsMoreThanItsThreadCountAtOnce() async throws {
        let pool = BlockingPool(threadCount: 3)
        defer { pool.shutdown() }
        let counters = Counters()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<12 {
                group.addTask {
                    try await pool.run {
                        let now = counters.running.add(1, ordering: .relaxed).newValue
                        _ = counters.peak.max(now, ordering: .relaxed)
                        usleep(20_000)
                        counters.running.subtract(1, ordering: .relaxed)
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(counters.peak.load(ordering: .relaxed) == 3)
    }

    @Test func errorsReachTheCaller() async {
        let pool = BlockingPool(threadCount: 1)
        defer { pool.shutdown() }
        await #expect(throws: SystemError.self) {
            let _: Int = try await pool.run { throw SystemError("fsync", errno: EIO) }
        }
    }
}

private final class Counters: Sendable {
    let running = Atomic<Int>(0)
    let peak = Atomic<Int>(0)
}
