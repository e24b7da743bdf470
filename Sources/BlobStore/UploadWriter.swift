import CLinuxShim
import Glibc
import OCIModel
import Synchronization
import SystemIO

/// Streams one request's chunks into an upload session off the event loop, pipelined with receiving: while the
/// loop reads the next chunk from the socket, earlier ones are hashed on one pool thread and written on
/// another, both from the same immutable buffer.
///
/// - Order: chunks are written at consecutive offsets, one at a time, in submission order (one `PoolLane`);
///   the hash is fed in the same order on a second lane.
/// - Back-pressure: `write` returns at once while less than `maxInFlight` bytes are queued, and otherwise
///   suspends until the lanes are down to half of it; the caller then stops reading its body, and the HTTP
///   engine stops reading the socket.
/// - Buffers: a chunk whose hash and write are both done is handed back by `reclaim`, uniquely referenced, so
///   that the caller can fill it again instead of allocating.
/// - Write-back: every `writeBackWindow` bytes the writer starts the kernel's write-back of what it wrote
///   (`sync_file_range`), and waits for what it started two windows earlier. Dirty pages stay bounded and the
///   disk works while the upload arrives, so the `fsync` at commit is short instead of flushing the whole blob.
/// - Crash safety is unchanged: bytes go to the session's data file, and the blob becomes visible only at
///   commit (fsync, rename, directory fsync). The running hash covers exactly the bytes in the data file: when a
///   write fails, the session forgets its hash (commit rehashes the file) and the file is cut back to what was
///   written.
///
/// Use from one task: `write` each chunk, then always `finish` (also after a failure), which waits until the
/// lanes are done with the session's descriptor.
///
/// It writes to a descriptor, not to an `Upload` as such: `FileBlobStorage` streams its upload data through the
/// same writer (`init(fd:size:hasher:pool:…finished:)`), with its own bookkeeping when the writer is done.
public final class UploadWriter: BlobAppender, @unchecked Sendable {
    /// One chunk on its way through both lanes.
    final class Chunk: @unchecked Sendable {
        /// Immutable while the lanes read it; taken out by the lane that finishes last (under the writer's lock).
        var bytes: [UInt8]
        let offset: Int64
        /// Lanes still working on the chunk; guarded by the writer's lock.
        var lanesLeft = 2

        init(bytes: [UInt8], offset: Int64) {
            self.bytes = bytes
            self.offset = offset
        }
    }

    private struct State {
        var inFlightBytes = 0
        var waiter: CheckedContinuation<Void, Never>?
        var resumeAt = 0
        var reusable: [[UInt8]] = []
        var failure: SystemError?
        /// End of the bytes written contiguously from the session's start.
        var writtenEnd: Int64
    }

    /// Bytes queued but not yet both hashed and written, above which `write` waits.
    public let maxInFlight: Int
    /// Bytes between two `sync_file_range` calls; 0 leaves write-back to the kernel.
    public let writeBackWindow: Int64
    private let fd: Int32
    private let hasher: DigestHasher?
    private let state: Mutex<State>
    /// Next offset to queue at; used by the caller's task only.
    private var nextOffset: Int64
    /// Write-back progress; used by the write lane only.
    private var writeBackStarted: Int64
    private var writeBackWaited: Int64
    private var lanes: (write: PoolLane<Chunk>, hash: PoolLane<Chunk>)?
    /// Called once by `finish`, with the end of what was written and whether a write failed (the hash is then
    /// not to be trusted, and the file was cut back): records the outcome, returns the upload state's `data`.
    private let finished: @Sendable (_ written: Int64, _ failed: Bool) -> [UInt8]

    /// - Parameters:
    ///   - upload: an acquired session; keep it acquired until `finish` returns.
    ///   - pool: the threads that hash and write.
    ///   - maxInFlight: bytes queued at most before `write` waits.
    ///   - writeBackWindow: bytes between write-back starts (0: none).
    public convenience init(_ upload: Upload, pool: BlockingPool, maxInFlight: Int = 4 << 20, writeBackWindow: Int64 = 8 << 20) {
        self.init(fd: upload.fd, size: upload.size, hasher: upload.hasher, pool: pool, maxInFlight: maxInFlight,
                  writeBackWindow: writeBackWindow) { written, failed in
            upload.size = written
            // The hash ran ahead of the failed write: drop it (commit rehashes the file).
            if failed { upload.hasher = nil }
            return []
        }
    }

    /// - Parameters:
    ///   - fd: the data file, open for writing until `finish` returns (the caller closes it).
    ///   - size: the bytes already in it: chunks are written from there.
    ///   - hasher: the running hash of those bytes, fed with every chunk; nil when unknown.
    ///   - finished: called once by `finish` (see the property).
    init(fd: Int32, size: Int64, hasher: DigestHasher?, pool: BlockingPool, maxInFlight: Int = 4 << 20,
         writeBackWindow: Int64 = 8 << 20, finished: @escaping @Sendable (_ written: Int64, _ failed: Bool) -> [UInt8]) {
        self.maxInFlight = max(maxInFlight, 1)
        self.writeBackWindow = writeBackWindow
        self.fd = fd
        self.hasher = hasher
        self.finished = finished
        nextOffset = size
        writeBackStarted = size
        writeBackWaited = size
        state = Mutex(State(writtenEnd: size))
        // The lanes hold the writer until `finish` lets them go.
        lanes = (PoolLane(pool: pool) { self.writeChunk($0) }, PoolLane(pool: pool) { self.hashChunk($0) })
    }

    /// Queues a chunk to be hashed and appended; waits while `maxInFlight` bytes are queued.
    /// - Throws: `StoreError.io` once a write has failed (later chunks are dropped).
    public func write(_ bytes: [UInt8]) async throws(StoreError) {
        if let failure = state.withLock({ $0.failure }) { throw .io(failure) }
        guard !bytes.isEmpty, let lanes else { return }
        let chunk = Chunk(bytes: bytes, offset: nextOffset)
        nextOffset += Int64(bytes.count)
        let mustWait = state.withLock { s -> Bool in
            s.inFlightBytes += bytes.count
            return s.inFlightBytes > maxInFlight
        }
        lanes.write.submit(chunk)
        lanes.hash.submit(chunk)
        if mustWait { await waitUntil(inFlightAtMost: maxInFlight / 2) }
        if let failure = state.withLock({ $0.failure }) { throw .io(failure) }
    }

    /// Buffers whose chunks are done, emptied with their capacity kept, for the caller to fill again.
    public func reclaim() -> [[UInt8]] {
        state.withLock { s in
            let all = s.reusable
            s.reusable = []
            return all
        }
    }

    /// Waits until every queued chunk is hashed and written, then records the session's new size.
    /// - Returns: the session's state and the first write failure, or nil.
    public func finish() async -> (UploadState, StoreError?) {
        await waitUntil(inFlightAtMost: 0)
        lanes = nil
        let (failure, written) = state.withLock { ($0.failure, $0.writtenEnd) }
        // After a failure, any partial chunk past what was written contiguously is cut.
        if failure != nil { _ = ftruncate(fd, off_t(written)) }
        let uploadState = UploadState(size: written, data: finished(written, failure != nil))
        return (uploadState, failure.map { .io($0) })
    }

    // MARK: - Waiting

    private func waitUntil(inFlightAtMost limit: Int) async {
        if state.withLock({ $0.inFlightBytes <= limit }) { return }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let ready = state.withLock { s -> Bool in
                if s.inFlightBytes <= limit { return true }
                s.waiter = continuation
                s.resumeAt = limit
                return false
            }
            if ready { continuation.resume() }
        }
    }

    /// Marks one lane done with `chunk`; the last lane frees its bytes for reuse and may wake the caller.
    private func laneDone(_ chunk: Chunk, failure: SystemError? = nil, writtenEnd: Int64? = nil) {
        let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
            if let failure, s.failure == nil { s.failure = failure }
            if let writtenEnd { s.writtenEnd = writtenEnd }
            chunk.lanesLeft -= 1
            guard chunk.lanesLeft == 0 else { return nil }
            s.inFlightBytes -= chunk.bytes.count
            var bytes = chunk.bytes
            chunk.bytes = []
            if s.reusable.count < 8 {
                bytes.removeAll(keepingCapacity: true)
                s.reusable.append(bytes)
            }
            guard let waiter = s.waiter, s.inFlightBytes <= s.resumeAt else { return nil }
            s.waiter = nil
            return waiter
        }
        waiter?.resume()
    }

    private var failed: Bool { state.withLock { $0.failure != nil } }

    // MARK: - Lanes

    private func hashChunk(_ chunk: Chunk) {
        if let hasher, !failed {
            chunk.bytes.withUnsafeBytes { hasher.update($0) }
        }
        laneDone(chunk)
    }

    private func writeChunk(_ chunk: Chunk) {
        if failed {
            laneDone(chunk)
            return
        }
        var done = 0
        let error: SystemError? = chunk.bytes.withUnsafeBytes { raw -> SystemError? in
            while done < raw.count {
                let n = pwrite(fd, raw.baseAddress! + done, raw.count - done, off_t(chunk.offset + Int64(done)))
                if n < 0 {
                    if errno == EINTR { continue }
                    return SystemError("write upload", errno: errno)
                }
                done += n
            }
            return nil
        }
        let end = chunk.offset + Int64(done)
        if error == nil { startWriteBack(upTo: end) }
        laneDone(chunk, failure: error, writtenEnd: end)
    }

    /// Starts write-back of each full window written, and waits for the window two before it: at most about
    /// three windows are dirty or in flight, and the disk writes while the rest of the upload arrives.
    /// Errors are ignored: this is advice to the kernel; the `fsync` at commit is what makes the blob durable.
    private func startWriteBack(upTo end: Int64) {
        guard writeBackWindow > 0, end - writeBackStarted >= writeBackWindow else { return }
        _ = swshim_sync_file_range(fd, writeBackStarted, end - writeBackStarted, swshim_SYNC_FILE_RANGE_WRITE)
        writeBackStarted = end
        let settled = writeBackStarted - 2 * writeBackWindow
        if settled > writeBackWaited {
            _ = swshim_sync_file_range(fd, writeBackWaited, settled - writeBackWaited,
                                       swshim_SYNC_FILE_RANGE_WAIT_BEFORE | swshim_SYNC_FILE_RANGE_WRITE
                                           | swshim_SYNC_FILE_RANGE_WAIT_AFTER)
            writeBackWaited = settled
        }
    }
}
