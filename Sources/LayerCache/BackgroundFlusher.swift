import CLinuxShim
import Glibc
import SystemIO

/// Keeps the disk writing back a filesystem while the cache builds stacks on it, so that the `syncfs` made before
/// publishing finds little left to do: each ``kick()`` (a stack is built) asks a thread of its own for one more
/// `syncfs`, which runs while the next layer unpacks. Kicks that arrive during a flush are merged into one.
///
/// It only makes the final flush shorter: durability still comes from a `syncfs` made after the last write.
final class BackgroundFlusher: @unchecked Sendable {
    private let fd: Int32
    private var mutex = pthread_mutex_t()
    private var changed = pthread_cond_t()
    private var pending = false
    private var stopping = false
    private var thread: pthread_t?

    /// Starts the thread; nil when `path` cannot be opened (the final flush will report that).
    init?(filesystemOf path: String) {
        fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&changed, nil)
        thread = Thread.start(name: "swc-flusher") { [self] in run() }
    }

    deinit {
        pthread_cond_destroy(&changed)
        pthread_mutex_destroy(&mutex)
        close(fd)
    }

    /// Asks for a flush of what has been written so far.
    func kick() {
        pthread_mutex_lock(&mutex)
        pending = true
        pthread_cond_signal(&changed)
        pthread_mutex_unlock(&mutex)
    }

    /// Waits for a flush in progress, then ends the thread (a pending kick is dropped: the caller flushes next).
    func stop() {
        pthread_mutex_lock(&mutex)
        stopping = true
        pthread_cond_signal(&changed)
        pthread_mutex_unlock(&mutex)
        if let thread { pthread_join(thread, nil) }
        thread = nil
    }

    private func run() {
        while true {
            pthread_mutex_lock(&mutex)
            while !pending && !stopping { pthread_cond_wait(&changed, &mutex) }
            let flush = pending && !stopping
            pending = false
            pthread_mutex_unlock(&mutex)
            guard flush else { return }
            // Errors are left to the final syncfs, which reports them.
            _ = swshim_syncfs(fd)
        }
    }
}
