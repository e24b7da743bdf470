import BlobStore
import Glibc
import SystemIO

/// A blob's bytes streamed from S3 to the HTTP engine: a thread of its own runs the (blocking) GET and hands the
/// pieces over through a small bounded queue; `next()` takes them. When the queue is full the GET's callback
/// waits, libcurl stops reading the socket, and TCP slows S3 down: a slow client never makes the replica buffer
/// more than ``capacity`` bytes.
final class S3BlobStream: BlobByteStream, @unchecked Sendable {
    /// Bytes queued at most between the GET and the engine.
    static let capacity = 4 << 20
    /// Pieces are gathered up to this size before they are queued (curl hands 16-512 KiB at a time).
    static let pieceSize = 256 << 10

    private var mutex = pthread_mutex_t()
    private var spaceAvailable = pthread_cond_t()
    // Guarded by `mutex`:
    private var queue: [[UInt8]] = []
    private var queuedBytes = 0
    private var waiter: CheckedContinuation<Void, Never>?
    private var done = false
    private var failure: StoreError?
    private var cancelled = false

    private init() {
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&spaceAvailable, nil)
    }

    deinit {
        pthread_cond_destroy(&spaceAvailable)
        pthread_mutex_destroy(&mutex)
    }

    /// Starts streaming `range` (half-open, non-empty) of `key`.
    static func open(_ client: S3Client, key: String, range: Range<Int64>, digest: String) -> S3BlobStream {
        let stream = S3BlobStream()
        let expected = range.count
        let thread = SystemIO.Thread.start(name: "swr-s3-get") {
            var pending: [UInt8] = []
            var received: Int64 = 0
            var outcome: StoreError?
            do throws(S3Error) {
                try client.getObject(key, range: .from(range.lowerBound, through: range.upperBound - 1),
                                     head: { head in
                                         guard head.contentLength == Int64(expected) else {
                                             throw S3Error.invalidResponse("\(digest): S3 sent \(head.contentLength) bytes for a \(expected)-byte range")
                                         }
                                     },
                                     body: { chunk in
                                         received += Int64(chunk.count)
                                         pending.append(contentsOf: chunk)
                                         if pending.count >= pieceSize {
                                             guard stream.push(pending) else { throw S3Error.aborted("cancelled") }
                                             pending = []
                                             pending.reserveCapacity(pieceSize + (512 << 10))
                                         }
                                     })
                if !pending.isEmpty, !stream.push(pending) { throw .aborted("cancelled") }
                if received != Int64(expected) {
                    outcome = .unavailable("\(digest): S3 ended the stream after \(received) of \(expected) bytes")
                }
            } catch {
                outcome = error.isNotFound ? .unavailable("\(digest) vanished from S3 while being read")
                    : .unavailable("reading \(digest) from S3: \(error)")
            }
            stream.finish(outcome)
        }
        pthread_detach(thread)
        return stream
    }

    /// Queues a piece, waiting while the queue is full. - Returns: false once cancelled.
    private func push(_ piece: [UInt8]) -> Bool {
        pthread_mutex_lock(&mutex)
        while queuedBytes >= Self.capacity && !cancelled { pthread_cond_wait(&spaceAvailable, &mutex) }
        let accepted = !cancelled
        if accepted {
            queue.append(piece)
            queuedBytes += piece.count
        }
        let wake = waiter
        waiter = nil
        pthread_mutex_unlock(&mutex)
        wake?.resume()
        return accepted
    }

    private func finish(_ error: StoreError?) {
        pthread_mutex_lock(&mutex)
        done = true
        failure = error
        let wake = waiter
        waiter = nil
        pthread_mutex_unlock(&mutex)
        wake?.resume()
    }

    func next() async throws -> [UInt8]? {
        while true {
            pthread_mutex_lock(&mutex)
            if !queue.isEmpty {
                let piece = queue.removeFirst()
                queuedBytes -= piece.count
                pthread_cond_signal(&spaceAvailable)
                pthread_mutex_unlock(&mutex)
                return piece
            }
            if done {
                let failure = self.failure
                pthread_mutex_unlock(&mutex)
                if let failure { throw failure }
                return nil
            }
            pthread_mutex_unlock(&mutex)
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                pthread_mutex_lock(&mutex)
                if !queue.isEmpty || done {
                    pthread_mutex_unlock(&mutex)
                    continuation.resume()
                    return
                }
                waiter = continuation
                pthread_mutex_unlock(&mutex)
            }
        }
    }

    func cancel() {
        pthread_mutex_lock(&mutex)
        cancelled = true
        queue = []
        queuedBytes = 0
        pthread_cond_broadcast(&spaceAvailable)
        pthread_mutex_unlock(&mutex)
    }
}
