import Glibc
import Synchronization
import SystemIO
import Testing

@Suite struct PoolLaneTests {
    @Test func processesItemsInOrderOneAtATime() async {
        // Four pool threads, one lane: the lane must still run its items serially, in submission order.
        let pool = BlockingPool(threadCount: 4)
        defer { pool.shutdown() }
        let log = Mutex<[Int]>([])
        let running = Atomic<Int>(0)
        let overlapped = Atomic<Bool>(false)
        let done = Atomic<Int>(0)
        let lane = PoolLane<Int>(pool: pool, burst: 3) { item in
            if running.add(1, ordering: .sequentiallyConsistent).newValue > 1 { overlapped.store(true, ordering: .relaxed) }
            if item % 7 == 0 { usleep(200) }
            log.withLock { $0.append(item) }
            running.subtract(1, ordering: .sequentiallyConsistent)
            done.add(1, ordering: .sequentiallyConsistent)
        }
        for i in 0..<500 { lane.submit(i) }
        await waitUntil { done.load(ordering: .sequentiallyConsistent) == 500 }
        #expect(log.withLock { $0 } == Array(0..<500))
        let didOverlap = overlapped.load(ordering: .relaxed)
        #expect(!didOverlap)
    }

    @Test func yieldsItsThreadAfterABurst() async {
        // One pool thread: a lane with a long queue must let other pool work in between its bursts.
        let pool = BlockingPool(threadCount: 1)
        defer { pool.shutdown() }
        let order = Mutex<[String]>([])
        let gate = Atomic<Bool>(false)
        let lane = PoolLane<Int>(pool: pool, burst: 4) { item in
            while !gate.load(ordering: .sequentiallyConsistent) { usleep(100) }
            order.withLock { $0.append("lane \(item)") }
        }
        for i in 0..<12 { lane.submit(i) }
        pool.execute { order.withLock { $0.append("other") } }
        gate.store(true, ordering: .sequentiallyConsistent)
        await waitUntil { order.withLock { $0.count } == 13 }
        let entries = order.withLock { $0 }
        let other = entries.firstIndex(of: "other")
        #expect(other == 4, "the other job runs after the first burst of 4, not after all 12: \(entries)")
        #expect(entries.filter { $0 != "other" } == (0..<12).map { "lane \($0)" })
    }

    @Test func keepsNoReferenceToProcessedItems() async {
        let pool = BlockingPool(threadCount: 2)
        defer { pool.shutdown() }
        let processed = Atomic<Int>(0)
        let lane = PoolLane<Tracked>(pool: pool) { _ in processed.add(1, ordering: .sequentiallyConsistent) }
        let deinits = Tracked.deinits.load(ordering: .sequentiallyConsistent)
        for _ in 0..<20 { lane.submit(Tracked()) }
        await waitUntil { processed.load(ordering: .sequentiallyConsistent) == 20 }
        await waitUntil { Tracked.deinits.load(ordering: .sequentiallyConsistent) - deinits == 20 }
        let released = Tracked.deinits.load(ordering: .sequentiallyConsistent) - deinits
        #expect(released == 20)
    }
}

private final class Tracked: Sendable {
    static let deinits = Atomic<Int>(0)
    deinit { Self.deinits.add(1, ordering: .sequentiallyConsistent) }
}

/// Polls `condition` for up to five seconds.
private func waitUntil(_ condition: () -> Bool) async {
    for _ in 0..<5000 where !condition() {
        try? await Task.sleep(nanoseconds: 1_000_000)
    }
}
