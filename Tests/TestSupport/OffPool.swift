import Glibc
import SystemIO
import Testing

/// Runs the jobs of the tasks that prefer it (`withTaskExecutorPreference`) on threads of its own instead of
/// Swift's cooperative pool, which has as many threads as cores (two here): a test that blocks there (a synchronous
/// S3 or PostgreSQL call, a raw socket read) holds one of them, and two such tests starve every other suite's
/// tasks for as long as they block.
///
/// A thread is started whenever a job finds none idle, up to `maxThreads`, and kept for the next jobs: the tests
/// here block one another no more than they block the rest (a test that times something waits for no thread).
public final class OffPoolExecutor: TaskExecutor, @unchecked Sendable {
    /// Shared by every suite with `.offCooperativePool`.
    public static let shared = OffPoolExecutor(maxThreads: 32)
    /// Its threads' name, by which a test can tell where it runs.
    public static let threadName = "swt-offpool"

    private let maxThreads: Int
    private var mutex = pthread_mutex_t()
    private var condition = pthread_cond_t()
    private var queue: [UnownedJob] = []
    private var head = 0
    private var threads = 0
    private var idle = 0

    init(maxThreads: Int) {
        self.maxThreads = maxThreads
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&condition, nil)
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        pthread_mutex_lock(&mutex)
        queue.append(job)
        let start = queue.count - head > idle && threads < maxThreads
        if start { threads += 1 }
        pthread_cond_signal(&condition)
        pthread_mutex_unlock(&mutex)
        if start { SystemIO.Thread.start(name: Self.threadName) { [self] in work() } }
    }

    private func work() {
        let executor = asUnownedTaskExecutor()
        pthread_mutex_lock(&mutex)
        while true {
            while head == queue.count {
                idle += 1
                pthread_cond_wait(&condition, &mutex)
                idle -= 1
            }
            let job = queue[head]
            head += 1
            if head == queue.count {
                queue.removeAll(keepingCapacity: true)
                head = 0
            }
            pthread_mutex_unlock(&mutex)
            job.runSynchronously(on: executor)
            pthread_mutex_lock(&mutex)
        }
    }
}

/// A suite (or test) trait: each test runs with `OffPoolExecutor.shared` as its task executor, so that its body,
/// synchronous or not, and whatever it blocks on run off the cooperative pool. The test keeps its task (its
/// task-locals, hence where `#expect` records an issue); only the threads change.
public struct OffCooperativePool: SuiteTrait, TestTrait, TestScoping {
    public var isRecursive: Bool { true }

    public func provideScope(for test: Test, testCase: Test.Case?,
                             performing function: @Sendable () async throws -> Void) async throws {
        try await withTaskExecutorPreference(OffPoolExecutor.shared) {
            // The preference takes effect at the task's next suspension: without one, a synchronous test would
            // start on the pool thread that runs this.
            await Task.yield()
            try await function()
        }
    }
}

extension Trait where Self == OffCooperativePool {
    /// See `OffCooperativePool`.
    public static var offCooperativePool: Self { Self() }
}
