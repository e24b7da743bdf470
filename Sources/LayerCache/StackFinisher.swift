import CLinuxShim
import Glibc
import SystemIO

/// Finishes built stacks on a thread of its own while the next ones are built: runs each submitted job (measuring
/// a stack and writing its record), in order, and whenever it has nothing queued asks the kernel to write the
/// filesystem back (`syncfs`), so that the disk works while later layers unpack and the flush made before
/// publishing finds little left to do. Flushes requested while one runs are merged into one.
///
/// It only makes the final flush shorter: durability still comes from a `syncfs` made after the last write. A
/// background `syncfs` that fails is reported by ``finish()``: since Linux 5.8 a write-back error is reported once,
/// to the descriptors open when it happened, so the final flush (on a descriptor of its own) might not see it.
final class StackFinisher: @unchecked Sendable {
    private let fd: Int32
    private var mutex = pthread_mutex_t()
    private var changed = pthread_cond_t()
    private var jobs: [@Sendable () throws -> Void] = []
    private var flushWanted = false
    private var stopping = false
    /// `stop()` rather than `finish()`: queued jobs are skipped.
    private var cancelled = false
    private var failure: (any Error)?
    private var thread: pthread_t?

    /// - Parameter path: A directory on the filesystem to flush; nil: no flushing, jobs only.
    init(flushing path: String?) {
        fd = path.map { open($0, O_RDONLY | O_DIRECTORY | O_CLOEXEC) } ?? -1
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&changed, nil)
        thread = Thread.start(name: "swc-finisher") { [self] in run() }
    }

    deinit {
        pthread_cond_destroy(&changed)
        pthread_mutex_destroy(&mutex)
        if fd >= 0 { close(fd) }
    }

    /// Queues `job`; after the first job that throws, the rest are skipped.
    func submit(_ job: @escaping @Sendable () throws -> Void) {
        pthread_mutex_lock(&mutex)
        jobs.append(job)
        pthread_cond_signal(&changed)
        pthread_mutex_unlock(&mutex)
    }

    /// Runs what is queued, then ends the thread (a flush still wanted is dropped: the caller flushes next).
    /// - Throws: The first error a job or a background flush met.
    func finish() throws {
        end(cancelling: false)
        if let failure { throw failure }
    }

    /// Ends the thread without running what is still queued: for leaving early (after a failure). Harmless after
    /// ``finish()``.
    func stop() {
        end(cancelling: true)
    }

    private func end(cancelling: Bool) {
        pthread_mutex_lock(&mutex)
        stopping = true
        if cancelling { cancelled = true }
        pthread_cond_signal(&changed)
        pthread_mutex_unlock(&mutex)
        if let thread { pthread_join(thread, nil) }
        thread = nil
    }

    private func run() {
        pthread_mutex_lock(&mutex)
        while true {
            while jobs.isEmpty && !(flushWanted && fd >= 0) && !stopping { pthread_cond_wait(&changed, &mutex) }
            if !jobs.isEmpty {
                let job = jobs.removeFirst()
                let skip = failure != nil || cancelled
                pthread_mutex_unlock(&mutex)
                var error: (any Error)?
                if !skip {
                    do { try job() } catch let caught { error = caught }
                }
                pthread_mutex_lock(&mutex)
                if failure == nil { failure = error }
                flushWanted = true
                continue
            }
            if stopping { break }
            flushWanted = false
            pthread_mutex_unlock(&mutex)
            let flushed = swshim_syncfs(fd) == 0
            let error = errno
            pthread_mutex_lock(&mutex)
            if !flushed && failure == nil { failure = SystemError("syncfs", errno: error) }
        }
        pthread_mutex_unlock(&mutex)
    }
}
