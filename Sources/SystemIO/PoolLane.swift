import Synchronization

/// A serial queue without a thread of its own: items submitted to a lane are processed one at a time, in the
/// order they were submitted, on whichever `BlockingPool` thread is free.
///
/// A lane holds a pool thread only while it has items. After `burst` items it gives the thread back (it
/// re-queues itself at the end of the pool's queue), so that a long stream, such as the chunks of a 1 GiB
/// upload, does not keep other blocking work (an `fsync`, a manifest write) waiting behind it.
///
/// ```swift
/// let lane = PoolLane<Chunk>(pool: pool) { chunk in write(chunk) }
/// lane.submit(first)
/// lane.submit(second)   // runs after `first` has been processed, never at the same time
/// ```
public final class PoolLane<Item: Sendable>: Sendable {
    private struct State {
        var items: [Item?] = []
        var head = 0
        /// A drain is queued on the pool or running.
        var scheduled = false
    }

    private let pool: BlockingPool
    private let burst: Int
    private let process: @Sendable (Item) -> Void
    private let state = Mutex(State())

    /// - Parameters:
    ///   - pool: where the items run.
    ///   - burst: items processed before the lane yields its pool thread.
    ///   - process: the work for one item; it runs on a pool thread, one item at a time.
    public init(pool: BlockingPool, burst: Int = 16, _ process: @escaping @Sendable (Item) -> Void) {
        precondition(burst > 0)
        self.pool = pool
        self.burst = burst
        self.process = process
    }

    /// Queues an item; it is processed after every item submitted before it.
    public func submit(_ item: Item) {
        let schedule = state.withLock { s -> Bool in
            s.items.append(item)
            if s.scheduled { return false }
            s.scheduled = true
            return true
        }
        if schedule { pool.execute { self.drain() } }
    }

    private func drain() {
        for _ in 0..<burst {
            let next = state.withLock { s -> Item? in
                guard s.head < s.items.count else {
                    s.items.removeAll(keepingCapacity: true)
                    s.head = 0
                    s.scheduled = false
                    return nil
                }
                // The slot is cleared so that the lane keeps no reference to an item it has processed.
                let item = s.items[s.head].take()
                s.head += 1
                if s.head >= 64 && s.head * 2 >= s.items.count {
                    s.items.removeFirst(s.head)
                    s.head = 0
                }
                return item
            }
            guard let next else { return }
            process(next)
        }
        // Still scheduled: continue behind whatever else was queued on the pool meanwhile.
        pool.execute { self.drain() }
    }
}
