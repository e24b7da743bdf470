import CLinuxShim
import Glibc
import OCIModel

/// Writes a blob download into a file while hashing it and checking its size, so that nothing unverified is ever
/// taken for the blob. Keeps what it has written across attempts: a resumed download (`206` from the offset
/// asked for) continues the same hash; a full answer (`200`) starts over.
final class BlobFileSink: ResponseSink {
    /// Why the sink stopped a transfer.
    enum Failure: Equatable {
        /// More bytes arrived than the descriptor's size.
        case tooLong(Int64)
        /// The registry declared a length that is not the descriptor's size.
        case wrongLength(Int64)
        /// A 206 that does not continue where the file ends.
        case rangeMismatch(String)
        /// Writing the file failed.
        case io(call: String, errno: Int32)
    }

    let fd: Int32
    let size: Int64
    let algorithm: Digest.Algorithm
    let progress: TransferProgress?
    private(set) var hasher: DigestHasher
    /// Bytes written to the file and hashed so far.
    private(set) var written: Int64 = 0
    /// Set when the sink aborted the last transfer.
    private(set) var failure: Failure?
    /// Where write-back was last started: the caller's final fsync then only waits for the tail.
    private var writeBackStarted: Int64 = 0
    static let writeBackWindow: Int64 = 8 << 20

    init(fd: Int32, descriptor: Descriptor, progress: TransferProgress?) {
        self.fd = fd
        size = descriptor.size
        algorithm = descriptor.digest.algorithm
        self.progress = progress
        hasher = DigestHasher(descriptor.digest.algorithm)
    }

    /// Forgets everything written: truncates the file and starts a new hash.
    /// - Returns: false if the file could not be truncated (``failure`` says why).
    @discardableResult
    func reset() -> Bool {
        hasher = DigestHasher(algorithm)
        written = 0
        writeBackStarted = 0
        if ftruncate(fd, 0) != 0 {
            failure = .io(call: "ftruncate", errno: errno)
            return false
        }
        return true
    }

    /// Clears the failure of the previous attempt.
    func prepareAttempt() {
        failure = nil
    }

    /// Finishes the hash of a complete file.
    func finalize() -> Digest {
        hasher.finalize()
    }

    func begin(status: Int, headers: [(name: String, value: String)]) -> SinkDecision {
        func header(_ name: String) -> String? {
            headers.first { $0.name.lowercased() == name }?.value
        }
        switch status {
        case 200:
            // The whole blob, whatever was asked: start over.
            if written > 0 && !reset() { return .abort }
            if let length = header("content-length").flatMap({ Int64($0) }), length != size {
                failure = .wrongLength(length)
                return .abort
            }
            return .accept
        case 206:
            guard let range = header("content-range"), let start = Self.rangeStart(range), start == written else {
                failure = .rangeMismatch(header("content-range") ?? "no Content-Range")
                return .abort
            }
            return .accept
        default:
            return .decline
        }
    }

    func write(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard written + Int64(bytes.count) <= size else {
            failure = .tooLong(written + Int64(bytes.count))
            return false
        }
        var done = 0
        while done < bytes.count {
            let n = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(written) + off_t(done))
            if n < 0 {
                if errno == EINTR { continue }
                failure = .io(call: "pwrite", errno: errno)
                return false
            }
            done += n
        }
        hasher.update(bytes)
        written += Int64(bytes.count)
        if written - writeBackStarted >= Self.writeBackWindow {
            // Start (never wait for) write-back of what is complete, so the disk works while the network does.
            _ = swshim_sync_file_range(fd, writeBackStarted, written - writeBackStarted, swshim_SYNC_FILE_RANGE_WRITE)
            writeBackStarted = written
        }
        progress?(written, size)
        return true
    }

    /// The first byte position of `Content-Range: bytes <start>-<end>/<total>`.
    static func rangeStart(_ header: String) -> Int64? {
        RangeHeaders.contentRangeStart(header)
    }
}
