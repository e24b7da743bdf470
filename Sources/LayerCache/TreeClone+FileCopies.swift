import Glibc
import SystemIO

extension TreeClone {
    /// Copies regular files (data, then metadata) on a few threads at once.
    enum FileCopies {
        /// A source path, its copy, and the source's `lstat`.
        typealias Job = (source: RawPath, destination: RawPath, st: stat)

        /// The calling thread and one more per further core, at most four in all.
        static let defaultThreadCount = max(1, min(4, sysconf(Int32(_SC_NPROCESSORS_ONLN))))

        /// Copies every job; the calling thread takes part.
        /// - Returns: Bytes of file data copied.
        /// - Throws: The first error met (the other threads stop taking jobs).
        static func run(_ jobs: [Job], isRoot: Bool, threads: Int) throws -> Int64 {
            if jobs.isEmpty { return 0 }
            let queue = Queue(jobs, isRoot: isRoot)
            let helpers = (1..<max(1, min(threads, jobs.count))).map { _ in
                Thread.start(name: "swc-copy") { queue.work() }
            }
            queue.work()
            for helper in helpers { pthread_join(helper, nil) }
            return try queue.result()
        }

        /// The jobs, handed out one at a time under a mutex, and what came of them.
        private final class Queue: @unchecked Sendable {
            private let jobs: [Job]
            private let isRoot: Bool
            private var mutex = pthread_mutex_t()
            private var next = 0
            private var bytes: Int64 = 0
            private var failure: (any Error)?

            init(_ jobs: [Job], isRoot: Bool) {
                self.jobs = jobs
                self.isRoot = isRoot
                pthread_mutex_init(&mutex, nil)
            }

            deinit { pthread_mutex_destroy(&mutex) }

            func work() {
                var copied: Int64 = 0
                var error: (any Error)?
                while error == nil, let job = take() {
                    do {
                        copied += try TreeClone.copyFileData(from: job.source, to: job.destination)
                        try TreeClone.copyMetadata(from: job.source, to: job.destination, job.st, isRoot: isRoot)
                    } catch let caught {
                        error = caught
                    }
                }
                pthread_mutex_lock(&mutex)
                bytes += copied
                if failure == nil, let error { failure = error }
                if error != nil { next = jobs.count }  // the others stop too
                pthread_mutex_unlock(&mutex)
            }

            private func take() -> Job? {
                pthread_mutex_lock(&mutex)
                defer { pthread_mutex_unlock(&mutex) }
                guard next < jobs.count, failure == nil else { return nil }
                next += 1
                return jobs[next - 1]
            }

            /// After every thread has finished.
            func result() throws -> Int64 {
                if let failure { throw failure }
                return bytes
            }
        }
    }
}
