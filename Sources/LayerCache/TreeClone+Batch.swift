import CLinuxShim
import Glibc
import SystemIO

extension TreeClone {
    /// The names one directory of a clone receives, made by one thread (``run(_:isRoot:threads:)``).
    enum Batch {
        /// A source path, its copy, and the source's `lstat`.
        typealias FileCopy = (source: RawPath, destination: RawPath, st: stat)

        /// Hard links from `source/name` to `destination/name`.
        case links(source: RawPath, destination: RawPath, names: [[CChar]])
        /// Regular files copied (data, then metadata).
        case copies([FileCopy])

        /// The calling thread and one more per further core, at most four in all.
        static let defaultThreadCount = max(1, min(4, sysconf(Int32(_SC_NPROCESSORS_ONLN))))

        /// Makes the names of one batch.
        /// - Returns: Bytes of file data copied.
        func run(isRoot: Bool, space: FreeSpaceGuard?) throws -> Int64 {
            switch self {
            case .links(let source, let destination, let names):
                let sourceFD = try Self.openDirectory(source)
                defer { close(sourceFD) }
                let destinationFD = try Self.openDirectory(destination)
                defer { close(destinationFD) }
                var copied: Int64 = 0
                for name in names {
                    let nameZ = name + [0]
                    if linkat(sourceFD, nameZ, destinationFD, nameZ, 0) == 0 { continue }
                    let error = errno
                    let from = source.appending(name), to = destination.appending(name)
                    // EMLINK: the inode has the most links this filesystem allows; an independent copy is correct too.
                    guard error == EMLINK else { throw SystemError("link \(from) → \(to)", errno: error) }
                    guard let st = from.lstatOrNil() else { throw SystemError("lstat \(from)", errno: errno) }
                    copied += try TreeClone.copyEntry(from, to, st, isRoot: isRoot, space: space)
                }
                return copied
            case .copies(let files):
                var copied: Int64 = 0
                for file in files {
                    try space?.charge(FreeSpaceGuard.entryCost)
                    copied += try TreeClone.copyFileData(from: file.source, to: file.destination, space: space)
                    try TreeClone.copyMetadata(from: file.source, to: file.destination, file.st, isRoot: isRoot)
                }
                return copied
            }
        }

        static func openDirectory(_ path: RawPath) throws -> Int32 {
            let fd = open(path.bytes, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard fd >= 0 else { throw SystemError("open \(path)", errno: errno) }
            return fd
        }

        /// Runs every batch, on up to `threads` threads (the calling thread takes part).
        /// - Returns: Bytes of file data copied.
        /// - Throws: The first error met (the other threads stop taking batches).
        static func run(_ batches: [Batch], isRoot: Bool, space: FreeSpaceGuard? = nil, threads: Int) throws -> Int64 {
            if batches.isEmpty { return 0 }
            let queue = Queue(batches, isRoot: isRoot, space: space)
            let helpers = (1..<max(1, min(threads, batches.count))).map { _ in
                Thread.start(name: "swc-clone") { queue.work() }
            }
            queue.work()
            for helper in helpers { pthread_join(helper, nil) }
            return try queue.result()
        }

        /// The batches, handed out one at a time under a mutex, and what came of them.
        private final class Queue: @unchecked Sendable {
            private let batches: [Batch]
            private let isRoot: Bool
            private let space: FreeSpaceGuard?
            private var mutex = pthread_mutex_t()
            private var next = 0
            private var bytes: Int64 = 0
            private var failure: (any Error)?

            init(_ batches: [Batch], isRoot: Bool, space: FreeSpaceGuard?) {
                self.batches = batches
                self.isRoot = isRoot
                self.space = space
                pthread_mutex_init(&mutex, nil)
            }

            deinit { pthread_mutex_destroy(&mutex) }

            func work() {
                var copied: Int64 = 0
                var error: (any Error)?
                while error == nil, let batch = take() {
                    do { copied += try batch.run(isRoot: isRoot, space: space) } catch let caught { error = caught }
                }
                pthread_mutex_lock(&mutex)
                bytes += copied
                if failure == nil, let error { failure = error }
                pthread_mutex_unlock(&mutex)
            }

            private func take() -> Batch? {
                pthread_mutex_lock(&mutex)
                defer { pthread_mutex_unlock(&mutex) }
                guard next < batches.count, failure == nil else { return nil }
                next += 1
                return batches[next - 1]
            }

            /// After every thread has finished.
            func result() throws -> Int64 {
                if let failure { throw failure }
                return bytes
            }
        }
    }
}
