import BlobStore
import Glibc
import OCIModel
import SystemIO

/// Appends one request's chunks to an S3 upload: a worker thread of its own hashes them (the resumable SHA-256
/// carried in the state), gathers them into parts of at least the chunk size and uploads each as a part of the
/// multipart upload (created with the first part), while the caller goes on receiving.
///
/// - Memory: at most `maxInFlight` bytes queued (then `write` waits: back-pressure) plus the part being gathered
///   (a chunk size, 10 MiB by default), per upload in progress.
/// - At `finish`, bytes that do not fill a part become the tail: inline in the state when small, else a tail
///   object under a key that names the upload's size, never overwriting the tail of a state that may still be
///   persisted; the tail the previous state named is deleted by the next appender, once the new state is the one
///   in use.
/// - After a failure, `finish` describes what is stored (the parts and the gathered bytes written as the tail,
///   or, when even that fails, the state the request started from): the client resumes from its size.
final class S3Appender: BlobAppender, @unchecked Sendable {
    private let client: S3Client
    private let layout: S3Layout
    private let id: UploadID
    private let chunkSize: Int
    private let maxInFlight: Int
    private let original: UploadState

    // Worker thread only:
    private var state: S3UploadState
    private var gathered: [UInt8] = []
    private var wroteAnything = false

    // Guarded by `mutex`:
    private var mutex = pthread_mutex_t()
    private var workAvailable = pthread_cond_t()
    private var queue: [[UInt8]] = []
    private var inFlightBytes = 0
    private var resumeAt = 0
    private var writer: CheckedContinuation<Void, Never>?
    private var finishing = false
    private var finisher: CheckedContinuation<Void, Never>?
    private var finished = false
    private var failure: StoreError?
    private var result: UploadState?
    private var reusable: [[UInt8]] = []

    init(client: S3Client, layout: S3Layout, id: UploadID, state: S3UploadState, original: UploadState,
         chunkSize: Int) {
        self.client = client
        self.layout = layout
        self.id = id
        self.state = state
        self.original = original
        self.chunkSize = chunkSize
        maxInFlight = max(chunkSize, 4 << 20)
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&workAvailable, nil)
        let thread = SystemIO.Thread.start(name: "swr-s3-append") { self.work() }
        pthread_detach(thread)
    }

    deinit {
        pthread_cond_destroy(&workAvailable)
        pthread_mutex_destroy(&mutex)
    }

    // MARK: - Caller

    func write(_ chunk: [UInt8]) async throws(StoreError) {
        pthread_mutex_lock(&mutex)
        if let failure {
            pthread_mutex_unlock(&mutex)
            throw failure
        }
        guard !chunk.isEmpty, !finishing else {
            pthread_mutex_unlock(&mutex)
            return
        }
        queue.append(chunk)
        inFlightBytes += chunk.count
        let mustWait = inFlightBytes > maxInFlight
        pthread_cond_signal(&workAvailable)
        pthread_mutex_unlock(&mutex)
        if mustWait {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                pthread_mutex_lock(&mutex)
                if inFlightBytes <= maxInFlight / 2 || self.failure != nil {
                    pthread_mutex_unlock(&mutex)
                    continuation.resume()
                    return
                }
                resumeAt = maxInFlight / 2
                writer = continuation
                pthread_mutex_unlock(&mutex)
            }
        }
        pthread_mutex_lock(&mutex)
        let failed = self.failure
        pthread_mutex_unlock(&mutex)
        if let failed { throw failed }
    }

    func reclaim() -> [[UInt8]] {
        pthread_mutex_lock(&mutex)
        let all = reusable
        reusable = []
        pthread_mutex_unlock(&mutex)
        return all
    }

    func finish() async -> (UploadState, StoreError?) {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            pthread_mutex_lock(&mutex)
            finishing = true
            if finished {
                pthread_mutex_unlock(&mutex)
                continuation.resume()
                return
            }
            finisher = continuation
            pthread_cond_signal(&workAvailable)
            pthread_mutex_unlock(&mutex)
        }
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return (result ?? original, failure)
    }

    // MARK: - Worker

    private func work() {
        prepare()
        while true {
            pthread_mutex_lock(&mutex)
            while queue.isEmpty && !finishing { pthread_cond_wait(&workAvailable, &mutex) }
            guard !queue.isEmpty else {
                pthread_mutex_unlock(&mutex)
                break
            }
            let chunk = queue.removeFirst()
            let failed = failure != nil
            pthread_mutex_unlock(&mutex)

            if !failed { append(chunk) }

            pthread_mutex_lock(&mutex)
            inFlightBytes -= chunk.count
            if reusable.count < 8 {
                var buffer = chunk
                buffer.removeAll(keepingCapacity: true)
                reusable.append(buffer)
            }
            var wake: CheckedContinuation<Void, Never>?
            if let waiting = writer, inFlightBytes <= resumeAt || failure != nil {
                wake = waiting
                writer = nil
            }
            pthread_mutex_unlock(&mutex)
            wake?.resume()
        }
        let outcome = conclude()
        pthread_mutex_lock(&mutex)
        result = outcome
        finished = true
        let wake = finisher
        finisher = nil
        let waitingWriter = writer
        writer = nil
        pthread_mutex_unlock(&mutex)
        waitingWriter?.resume()
        wake?.resume()
    }

    private func fail(_ error: StoreError) {
        pthread_mutex_lock(&mutex)
        if failure == nil { failure = error }
        let wake = writer
        writer = nil
        pthread_mutex_unlock(&mutex)
        wake?.resume()
    }

    /// Takes the tail back into the gathering buffer (the next part starts with it), and deletes the tail object
    /// the previous state superseded: this state is persisted, since an appender was made from it.
    private func prepare() {
        if let superseded = state.supersededTailSize {
            // Best effort: a leftover is removed with the upload's folder at commit or abort anyway.
            try? client.deleteObject(layout.uploadTail(id, size: superseded))
            state.supersededTailSize = nil
        }
        gathered.reserveCapacity(chunkSize + (1 << 20))
        switch state.tail {
        case .none:
            break
        case .inline(let bytes):
            gathered.append(contentsOf: bytes)
        case .object(let size, let length):
            do throws(S3Error) {
                let bytes = try client.getObjectBytes(layout.uploadTail(id, size: size), limit: Int(length))
                guard bytes.count == Int(length) else {
                    fail(.unavailable("upload \(id): its tail object has \(bytes.count) bytes, not \(length)"))
                    return
                }
                gathered.append(contentsOf: bytes)
            } catch {
                fail(error.isNotFound ? .uploadUnknown(id.value) : S3BlobStorage.storeError(error, "upload \(id)"))
            }
        }
    }

    private func append(_ chunk: [UInt8]) {
        wroteAnything = true
        chunk.withUnsafeBytes { state.hash.update($0) }
        gathered.append(contentsOf: chunk)
        if gathered.count >= chunkSize { uploadGathered() }
    }

    /// Uploads the gathered bytes as the next part.
    private func uploadGathered() {
        guard state.partCount < 10_000 else {
            fail(.sizeInvalid("an S3 upload has at most 10,000 parts of \(chunkSize) bytes (storage.s3.chunksize)"))
            return
        }
        do throws(S3Error) {
            let multipartID: String
            if let existing = state.multipartID {
                multipartID = existing
            } else {
                multipartID = try client.createMultipartUpload(layout.uploadData(id))
                state.multipartID = multipartID
            }
            let number = state.partCount + 1
            let etag = try client.uploadPart(layout.uploadData(id), uploadID: multipartID, partNumber: number,
                                             bytes: gathered)
            state.partCount = number
            state.partETags?.append(etag)
            state.partBytes += Int64(gathered.count)
            gathered.removeAll(keepingCapacity: true)
        } catch {
            fail(error.isNotFound ? .uploadUnknown(id.value) : S3BlobStorage.storeError(error, "upload \(id)"))
        }
    }

    /// The state to persist: parts plus the gathered bytes as the new tail.
    private func conclude() -> UploadState {
        guard wroteAnything else { return original }
        let previousTail = state.tail
        if gathered.isEmpty {
            state.tail = .none
        } else if gathered.count <= S3UploadState.inlineTailLimit {
            state.tail = .inline(gathered)
        } else {
            let size = state.partBytes + Int64(gathered.count)
            do throws(S3Error) {
                try client.putObject(layout.uploadTail(id, size: size), bytes: gathered)
                state.tail = .object(size: size, length: Int64(gathered.count))
            } catch {
                fail(S3BlobStorage.storeError(error, "upload \(id)"))
                return original
            }
        }
        if case .object(let size, _) = previousTail, previousTail != state.tail { state.supersededTailSize = size }
        return UploadState(size: state.size, data: state.encoded())
    }
}
