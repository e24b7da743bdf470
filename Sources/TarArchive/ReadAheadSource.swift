import Glibc
import SystemIO

/// Reads an upstream chain (file → blob hash → decompressor → tar hash) on a thread of its own, a few buffers ahead
/// of the consumer, so that decompressing and hashing the next part of a stream overlaps with what the consumer does
/// with the previous one (unpacking a layer: creating and writing files). Two cores, one stream.
///
/// The producer reads `upstream` to its end (or to the first error, which the consumer meets where the stream
/// breaks off, as it would have reading `upstream` itself). Memory stays bounded: `depth` buffers of `bufferSize`.
///
/// `upstream` belongs to the producer thread until ``finish()`` returns: only then may the caller look at it again
/// (a hashing source's digest, say). Releasing the source early stops the producer and waits for it.
public final class ReadAheadSource: ByteSource {
    private let channel: Channel
    private var thread: pthread_t?
    private var current: (index: Int, count: Int)?
    private var position = 0
    private var ended = false

    /// Starts reading `upstream` ahead on a new thread.
    /// - Parameters:
    ///   - upstream: The stream to read ahead; touch it again only after ``finish()``.
    ///   - bufferSize: Bytes handed over at a time.
    ///   - depth: Buffers in flight (the producer is at most this many ahead).
    public init(_ upstream: ByteSource, bufferSize: Int = 512 << 10, depth: Int = 4) {
        precondition(bufferSize > 0 && depth > 0)
        let channel = Channel(upstream: upstream, bufferSize: bufferSize, depth: depth)
        self.channel = channel
        thread = Thread.start(name: "swc-readahead") { channel.produce() }
    }

    deinit {
        channel.stop()
        join()
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard buffer.count > 0, !ended else { return 0 }
        if let chunk = current, position == chunk.count {
            channel.release(chunk.index)
            current = nil
        }
        if current == nil {
            guard let next = try channel.nextFilled() else {
                ended = true
                return 0
            }
            current = next
            position = 0
        }
        let chunk = current!
        let n = min(buffer.count, chunk.count - position)
        buffer.baseAddress!.copyMemory(from: channel.buffers[chunk.index].baseAddress! + position, byteCount: n)
        position += n
        return n
    }

    /// Reads and discards the rest of the stream, waits for the producer to end, and hands `upstream` back to the
    /// caller (which may then, say, take a hashing source's digest over every byte).
    /// - Throws: The producer's error, if it met one.
    public func finish() throws {
        defer { join() }
        try drain()
        if let error = channel.waitUntilDone() { throw error }
    }

    /// Stops the producer after its current read and waits for it; the stream then ends. For a consumer that gives
    /// up early and must release what `upstream` reads from (a file descriptor) before this source goes away.
    public func cancel() {
        channel.stop()
        join()
        ended = true
    }

    private func join() {
        if let thread {
            pthread_join(thread, nil)
            self.thread = nil
        }
    }

    /// What the two threads share: the buffers and, under the mutex, whose turn each one is.
    private final class Channel: @unchecked Sendable {
        let upstream: ByteSource
        let buffers: [UnsafeMutableRawBufferPointer]
        private var mutex = pthread_mutex_t()
        private var changed = pthread_cond_t()
        /// Filled buffers in stream order: (buffer index, byte count).
        private var filled: [(index: Int, count: Int)] = []
        private var free: [Int]
        private var done = false
        private var error: (any Error)?
        private var stopping = false

        init(upstream: ByteSource, bufferSize: Int, depth: Int) {
            self.upstream = upstream
            buffers = (0..<depth).map { _ in .allocate(byteCount: bufferSize, alignment: 64) }
            free = Array(0..<depth)
            pthread_mutex_init(&mutex, nil)
            pthread_cond_init(&changed, nil)
        }

        deinit {
            pthread_cond_destroy(&changed)
            pthread_mutex_destroy(&mutex)
            for buffer in buffers { buffer.deallocate() }
        }

        /// The next filled buffer; nil at the end of the stream.
        func nextFilled() throws -> (index: Int, count: Int)? {
            pthread_mutex_lock(&mutex)
            defer { pthread_mutex_unlock(&mutex) }
            while filled.isEmpty && !done { pthread_cond_wait(&changed, &mutex) }
            if !filled.isEmpty { return filled.removeFirst() }
            if let error { throw error }
            return nil
        }

        func release(_ index: Int) {
            pthread_mutex_lock(&mutex)
            free.append(index)
            pthread_cond_signal(&changed)
            pthread_mutex_unlock(&mutex)
        }

        /// - Returns: The producer's error, if any.
        func waitUntilDone() -> (any Error)? {
            pthread_mutex_lock(&mutex)
            defer { pthread_mutex_unlock(&mutex) }
            while !done { pthread_cond_wait(&changed, &mutex) }
            return error
        }

        /// Tells the producer to stop after its current read.
        func stop() {
            pthread_mutex_lock(&mutex)
            stopping = true
            pthread_cond_broadcast(&changed)
            pthread_mutex_unlock(&mutex)
        }

        /// The producer thread's loop: fill a free buffer, hand it over, until the end, an error or `stop()`.
        func produce() {
            while true {
                pthread_mutex_lock(&mutex)
                    while free.isEmpty && !stopping { pthread_cond_wait(&changed, &mutex) }
                if stopping {
                    done = true
                    pthread_cond_broadcast(&changed)
                    pthread_mutex_unlock(&mutex)
                    return
                }
                let index = free.removeFirst()
                pthread_mutex_unlock(&mutex)

                var count = 0
                var failure: (any Error)?
                do {
                    count = try upstream.readFully(into: buffers[index])
                } catch {
                    failure = error
                }

                pthread_mutex_lock(&mutex)
                if count > 0 { filled.append((index, count)) } else { free.append(index) }
                // readFully comes back short only at the end of the stream.
                let atEnd = failure != nil || count < buffers[index].count
                if atEnd {
                    error = failure
                    done = true
                }
                pthread_cond_broadcast(&changed)
                pthread_mutex_unlock(&mutex)
                if atEnd { return }
            }
        }
    }
}
