import CCurl
import LibcurlSupport
import Synchronization

/// Idle easy handles kept for reuse, so that requests reuse their TCP (and TLS) connections: each handle keeps its
/// own connection cache across `curl_easy_reset`. A request takes one (or makes one), and gives it back when done,
/// so there are about as many handles as threads talking to S3 at once; beyond `capacity` idle ones are freed.
final class EasyHandlePool: Sendable {
    private let idle = Mutex<[CurlEasyHandle]>([])
    private let capacity: Int

    init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    func checkOut() -> CurlEasyHandle {
        guard let handle = idle.withLock({ $0.popLast() }) ?? CurlEasyHandle() else { fatalError("curl_easy_init: out of memory") }
        return handle
    }

    func checkIn(_ handle: CurlEasyHandle) {
        // Options go back to their defaults; live connections, DNS and TLS session caches stay.
        curl_easy_reset(handle.raw)
        let dropped: CurlEasyHandle? = idle.withLock { handles in
            guard handles.count < capacity else { return handle }
            handles.append(handle)
            return nil
        }
        _ = dropped  // freed here, outside the lock
    }
}
