import Glibc

/// A bounded queue from one blocking producer thread (a libcurl transfer's write callback, say) to the engine, which
/// pulls the bytes with `next()` as a `ResponseStreamReader`.
///
/// The producer `push`es bytes and is blocked while `bound` bytes wait in the queue, so a client that reads slowly
/// throttles the producer (and, through libcurl, the object store's TCP connection) instead of filling memory; it
/// ends with `finish()` or `fail(_:)`. When the engine stops reading (`cancel()`: the client went away, or the
/// response failed), the queue is dropped and every `push` returns false: the producer should stop its transfer.
///
/// Small pushes are appended to the last queued chunk, up to `chunkCapacity` bytes, so the engine writes the socket
/// in large pieces (one `send` per 128 KiB rather than per 16 KiB libcurl callback) when it is the slower side.
///
/// `push` blocks: never call it from an event-loop thread. A producer that waits for a slow client holds its thread
/// for as long as the client takes, so its thread pool must allow for that.
public final class BlockingStreamBridge: ResponseStreamReader, @unchecked Sendable {
    /// The queue's default bound: enough to keep a fast client busy while the producer catches up, small enough
    /// for thousands of concurrent downloads.
    public static let defaultBound = 4 << 20
    /// The size small pushes are gathered into.
    static let chunkCapacity = 128 << 10

    /// The most bytes the queue holds: a push waits while the queue is not empty and would grow past this.
    public let bound: Int

    // All of the state below is guarded by `mutex`.
    private var mutex = pthread_mutex_t()
    /// Signalled when the queue shrinks or the stream stops: a blocked producer re-checks.
    private var room = pthread_cond_t()
    private var chunks: [[UInt8]] = []
    private var head = 0
    private var queued = 0
    private var peak = 0
    private var finished = false
    private var failure: (any Error)?
    private var cancelled = false
    /// The consumer's `next()` waiting for bytes or the end.
    private var waiter: CheckedContinuation<Void, any Error>?

    /// - Parameter bound: the most bytes queued at once (a single push larger than this still goes through, alone).
    public init(bound: Int = BlockingStreamBridge.defaultBound) {
        precondition(bound > 0)
        self.bound = bound
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&room, nil)
    }

    deinit {
        pthread_cond_destroy(&room)
        pthread_mutex_destroy(&mutex)
    }

    // MARK: - Producer side

    /// Queues a copy of `bytes`, first waiting while the queue is full.
    /// - Returns: false when the consumer cancelled (or the stream already ended): stop producing.
    public func push(_ bytes: UnsafeRawBufferPointer) -> Bool {
        pthread_mutex_lock(&mutex)
        while !cancelled && failure == nil && !finished && queued > 0 && queued + bytes.count > bound {
            pthread_cond_wait(&room, &mutex)
        }
        guard !cancelled && failure == nil && !finished else {
            pthread_mutex_unlock(&mutex)
            return false
        }
        if bytes.isEmpty {
            pthread_mutex_unlock(&mutex)
            return true
        }
        if head < chunks.count, chunks[chunks.count - 1].count + bytes.count <= Self.chunkCapacity {
            chunks[chunks.count - 1].append(contentsOf: bytes)
        } else {
            var chunk: [UInt8] = []
            chunk.reserveCapacity(max(bytes.count, Self.chunkCapacity))
            chunk.append(contentsOf: bytes)
            chunks.append(chunk)
        }
        queued += bytes.count
        peak = max(peak, queued)
        let consumer = waiter
        waiter = nil
        pthread_mutex_unlock(&mutex)
        consumer?.resume()
        return true
    }

    /// Queues `bytes` (see `push(_:)` for raw bytes).
    public func push(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { push($0) }
    }

    /// Ends the stream: the consumer gets what is queued, then the end.
    public func finish() {
        end(failing: nil)
    }

    /// Ends the stream with `error`: the consumer's next `next()` throws it, whatever is still queued.
    public func fail(_ error: any Error) {
        end(failing: error)
    }

    /// True once the consumer cancelled: a producer can poll it (from libcurl's progress callback, say) to abort
    /// a transfer that stalls before its next push.
    public var isCancelled: Bool {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return cancelled
    }

    /// The most bytes the queue ever held at once.
    public var peakQueuedBytes: Int {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return peak
    }

    // MARK: - Consumer side

    /// The next queued chunk, waiting for the producer when the queue is empty; nil at the end.
    /// - Throws: the producer's error (`fail`), or `CancellationError` after `cancel()`.
    public func next() async throws -> [UInt8]? {
        while true {
            pthread_mutex_lock(&mutex)
            if let failure {
                pthread_mutex_unlock(&mutex)
                throw failure
            }
            if cancelled {
                pthread_mutex_unlock(&mutex)
                throw CancellationError()
            }
            if head < chunks.count {
                let chunk = chunks[head]
                chunks[head] = []
                head += 1
                if head == chunks.count {
                    chunks.removeAll(keepingCapacity: true)
                    head = 0
                }
                queued -= chunk.count
                pthread_cond_signal(&room)
                pthread_mutex_unlock(&mutex)
                return chunk
            }
            if finished {
                pthread_mutex_unlock(&mutex)
                return nil
            }
            pthread_mutex_unlock(&mutex)
            // Re-checked under the lock inside: the producer may have pushed (or ended) since.
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                pthread_mutex_lock(&mutex)
                if head < chunks.count || finished || failure != nil || cancelled {
                    pthread_mutex_unlock(&mutex)
                    continuation.resume()
                } else {
                    waiter = continuation
                    pthread_mutex_unlock(&mutex)
                }
            }
        }
    }

    /// Stops the stream: drops what is queued, wakes a blocked producer (its push returns false) and a waiting
    /// `next()` (it throws `CancellationError`).
    public func cancel() {
        pthread_mutex_lock(&mutex)
        cancelled = true
        chunks = []
        head = 0
        queued = 0
        pthread_cond_broadcast(&room)
        let consumer = waiter
        waiter = nil
        pthread_mutex_unlock(&mutex)
        consumer?.resume()
    }

    /// Marks the end, a failure when `error` is not nil (the first end wins), and wakes whoever waits.
    private func end(failing error: (any Error)?) {
        pthread_mutex_lock(&mutex)
        if !finished && failure == nil && !cancelled {
            if let error {
                failure = error
                // Nothing queued will be read: let it go now.
                chunks = []
                head = 0
                queued = 0
            } else {
                finished = true
            }
        }
        pthread_cond_broadcast(&room)
        let consumer = waiter
        waiter = nil
        pthread_mutex_unlock(&mutex)
        consumer?.resume()
    }
}
