import CLinuxShim
import Glibc

/// A bounded set of threads for blocking work (`fsync`, large renames, directory walks), so that such work never
/// runs on an event loop.
///
/// Work queues without bound, but at most `threadCount` items run at once; callers bound the queue themselves
/// (for example with the server's connection limit).
public final class BlockingPool: @unchecked Sendable {
    public let threadCount: Int
    private var mutex = pthread_mutex_t()
    private var condition = pthread_cond_t()
    private var queue: [@Sendable () -> Void] = []
    private var head = 0
    private var stopping = false
    private var threads: [pthread_t] = []

    public init(threadCount: Int) {
        precondition(threadCount > 0)
        self.threadCount = threadCount
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&condition, nil)
        for _ in 0..<threadCount {
            threads.append(Thread.start(name: "swr-blocking") { [unowned self] in self.work() })
        }
    }

    deinit {
        pthread_cond_destroy(&condition)
        pthread_mutex_destroy(&mutex)
    }

    /// Queues `body` to run on a pool thread.
    public func execute(_ body: @escaping @Sendable () -> Void) {
        pthread_mutex_lock(&mutex)
        queue.append(body)
        pthread_cond_signal(&condition)
        pthread_mutex_unlock(&mutex)
    }

    /// Runs `body` on a pool thread and returns its result to the awaiting task.
    public func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, Error>) in
            execute { continuation.resume(with: Result { try body() }) }
        }
    }

    /// Finishes the queued work, then stops the threads.
    public func shutdown() {
        pthread_mutex_lock(&mutex)
        stopping = true
        pthread_cond_broadcast(&condition)
        pthread_mutex_unlock(&mutex)
        for thread in threads { pthread_join(thread, nil) }
        threads = []
    }

    private func work() {
        while true {
            pthread_mutex_lock(&mutex)
            while head == queue.count && !stopping {
                pthread_cond_wait(&condition, &mutex)
            }
            if head == queue.count {
                pthread_mutex_unlock(&mutex)
                return
            }
            let item = queue[head]
            head += 1
            if head > 1024 && head * 2 > queue.count {
                queue.removeFirst(head)
                head = 0
            }
            pthread_mutex_unlock(&mutex)
            item()
        }
    }
}

/// Starts named POSIX threads; Foundation's `Thread` is not needed for this.
public enum Thread {
    private final class Box {
        let body: () -> Void
        init(_ body: @escaping () -> Void) { self.body = body }
    }

    /// Starts a joinable thread running `body`.
    @discardableResult
    public static func start(name: String, _ body: @escaping () -> Void) -> pthread_t {
        var thread = pthread_t()
        let box = Unmanaged.passRetained(Box(body)).toOpaque()
        let rc = pthread_create(&thread, nil, { raw in
            let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
            box.body()
            return nil
        }, box)
        precondition(rc == 0, "pthread_create failed: \(rc)")
        _ = swshim_set_thread_name(thread, String(name.prefix(15)))
        return thread
    }
}
