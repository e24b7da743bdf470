import CCurl
import Synchronization

/// A libcurl easy handle with its error buffer. Used by one thread at a time: checked out of the pool for one
/// request, then back.
final class EasyHandle: @unchecked Sendable {
    let raw: UnsafeMutableRawPointer
    let errorBuffer: UnsafeMutablePointer<CChar>

    init() {
        guard let raw = curl_easy_init() else { fatalError("curl_easy_init: out of memory") }
        self.raw = raw
        errorBuffer = .allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
    }

    deinit {
        curl_easy_cleanup(raw)
        errorBuffer.deallocate()
    }
}

/// Idle easy handles kept for reuse, so that requests reuse their TCP (and TLS) connections: each handle keeps its
/// own connection cache across `curl_easy_reset`. A request takes one (or makes one), and gives it back when done,
/// so there are about as many handles as threads talking to S3 at once; beyond `capacity` idle ones are freed.
final class EasyHandlePool: Sendable {
    private let idle = Mutex<[EasyHandle]>([])
    private let capacity: Int

    /// libcurl wants `curl_global_init` once per process before threads use it (later calls only count).
    private static let globalInit: Void = {
        let code = swcurl_global_init_all()
        precondition(code == CURLE_OK, "curl_global_init failed: \(code)")
    }()

    init(capacity: Int) {
        _ = Self.globalInit
        self.capacity = max(1, capacity)
    }

    func checkOut() -> EasyHandle {
        idle.withLock { $0.popLast() } ?? EasyHandle()
    }

    func checkIn(_ handle: EasyHandle) {
        // Options go back to their defaults; live connections, DNS and TLS session caches stay.
        curl_easy_reset(handle.raw)
        let dropped: EasyHandle? = idle.withLock { handles in
            guard handles.count < capacity else { return handle }
            handles.append(handle)
            return nil
        }
        _ = dropped  // freed here, outside the lock
    }
}
