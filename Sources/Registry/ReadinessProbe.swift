import BlobStore
import Glibc
import HTTPServer
import OCIModel
import Synchronization
import SystemIO

/// Whether the registry can take traffic, for `/readyz` (Kubernetes readiness probes, load balancers): it is not
/// shutting down and its storage takes a write. (The configuration is loaded by the time anything can ask: the
/// server starts listening only after it, and a reload that fails keeps the running one.)
///
/// The write test creates, writes one byte to and unlinks a file in the store's `tmp/`: it fails on a read-only
/// or full filesystem, a missing or unwritable folder. It runs off the event loop, at most once a second
/// whatever the number of probes (the result is kept for a second), and a caller waits for it at most
/// `patience`: a storage that hangs (a dead NFS server) makes the registry not ready, rather than the probe hang.
public final class ReadinessProbe: Sendable {
    public enum Status: Sendable, Equatable {
        case ready
        case notReady(reason: String)
    }

    private struct State {
        var shuttingDown = false
        /// The last test's result (nil: writable) and when it finished.
        var last: String?
        var checkedAt: UInt64?
        /// When the test under way started; nil: none is.
        var startedAt: UInt64?
        var waiters: [Int: CheckedContinuation<Status, Never>] = [:]
        var nextWaiter = 0
    }

    private let state = Mutex(State())
    private let check: @Sendable () -> String?
    private let execute: @Sendable (@escaping @Sendable () -> Void) -> Void
    let interval: UInt64
    let patience: UInt64

    /// - Parameters:
    ///   - directory: the store's `tmp/`, where the test file is made.
    ///   - pool: where the test runs (it may block on a sick filesystem).
    public convenience init(directory: String, pool: BlockingPool) {
        self.init(check: { Self.writeTest(in: directory) }, execute: { pool.execute($0) })
    }

    /// - Parameters:
    ///   - storage: the registry's storage, whose `readinessProblem` is the test.
    ///   - pool: where the test runs (it may block on a sick filesystem or an unreachable backend).
    public convenience init(storage: any RegistryStorage, pool: BlockingPool) {
        self.init(check: { storage.readinessProblem() }, execute: { pool.execute($0) })
    }

    /// - Parameters:
    ///   - check: the storage test: nil when the storage is writable, else why not.
    ///   - execute: runs the test off the caller's thread.
    init(check: @escaping @Sendable () -> String?, execute: @escaping @Sendable (@escaping @Sendable () -> Void) -> Void,
         interval: Double = 1, patience: Double = 2) {
        self.check = check
        self.execute = execute
        self.interval = UInt64(interval * 1e9)
        self.patience = UInt64(patience * 1e9)
    }

    /// From now on the registry is not ready: called when a shutdown begins, so that a load balancer stops sending
    /// new requests while those in flight finish.
    public func beginShutdown() {
        state.withLock { $0.shuttingDown = true }
    }

    public var isShuttingDown: Bool { state.withLock { $0.shuttingDown } }

    /// The registry's readiness: from a storage test at most `interval` old, else from a new one.
    public func status() async -> Status {
        enum Next { case answer(Status), wait(startTest: Bool) }
        let now = Clock.monotonicNanos()
        let next = state.withLock { s -> Next in
            if s.shuttingDown { return .answer(.notReady(reason: "shutting down")) }
            if let startedAt = s.startedAt {
                if now &- startedAt >= patience { return .answer(Self.hung(now &- startedAt)) }
                return .wait(startTest: false)
            }
            if let checkedAt = s.checkedAt, now &- checkedAt < interval { return .answer(Self.status(s.last)) }
            s.startedAt = now
            return .wait(startTest: true)
        }
        switch next {
        case .answer(let status):
            return status
        case .wait(let startTest):
            if startTest { execute { [self] in finish(check()) } }
            return await wait()
        }
    }

    /// Waits for the test under way, at most `patience`.
    private func wait() async -> Status {
        await withCheckedContinuation { (continuation: CheckedContinuation<Status, Never>) in
            let id = state.withLock { s -> Int? in
                // The test may have finished between the decision and now.
                guard s.startedAt != nil else { return nil }
                let id = s.nextWaiter
                s.nextWaiter += 1
                s.waiters[id] = continuation
                return id
            }
            guard let id else {
                continuation.resume(returning: state.withLock { Self.status($0.last) })
                return
            }
            let patience = patience
            Task {
                try? await Task.sleep(nanoseconds: patience)
                let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
                waiter?.resume(returning: Self.hung(patience))
            }
        }
    }

    private func finish(_ result: String?) {
        let waiters = state.withLock { s -> [CheckedContinuation<Status, Never>] in
            s.last = result
            s.checkedAt = Clock.monotonicNanos()
            s.startedAt = nil
            let waiters = Array(s.waiters.values)
            s.waiters.removeAll()
            return waiters
        }
        let status = state.withLock { Self.status($0.shuttingDown ? "shutting down" : result) }
        for waiter in waiters { waiter.resume(returning: status) }
    }

    private static func status(_ failure: String?) -> Status {
        failure.map { .notReady(reason: $0) } ?? .ready
    }

    private static func hung(_ nanos: UInt64) -> Status {
        .notReady(reason: "the storage has not completed a test write for \(nanos / 1_000_000_000) s")
    }

    /// The `/readyz` answer: 200 `{"status":"ok"}`, or 503 with the reason.
    public func response() async -> Response {
        switch await status() {
        case .ready:
            return Response(status: .ok, headers: Self.headers, bytes: Array(#"{"status":"ok"}"#.utf8))
        case .notReady(let reason):
            let body = JSONValue.object(["status": .string("unavailable"), "reason": .string(reason)])
            return Response(status: .serviceUnavailable, headers: Self.headers, bytes: JSONCoding.encodeInfallibly(body))
        }
    }

    private static let headers = HTTPHeaders([("Content-Type", "application/json"), ("Cache-Control", "no-store")])

    /// See `BlobStore.writeTest(in:)`.
    static func writeTest(in directory: String) -> String? {
        BlobStore.writeTest(in: directory)
    }
}
