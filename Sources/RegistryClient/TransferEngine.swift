import CCurl
import LibcurlSupport
import Glibc
import Synchronization
import SystemIO

/// Reports progress of one transfer: bytes moved so far and the total expected. Called on the engine thread, so
/// it must be quick (store the numbers, or hop to another task).
public typealias TransferProgress = @Sendable (_ transferred: Int64, _ total: Int64) -> Void

/// Runs HTTP transfers for every ``RegistryClient`` that shares it: one libcurl multi handle driven by one
/// dedicated thread.
///
/// At most `maxParallel` transfers run at once; the others wait in order. Finished transfers leave their
/// connections in the multi handle's cache, so the next request to the same host reuses them (keep-alive, and
/// TLS sessions). Callers `await` their transfer; the thread resumes them as transfers complete.
public final class TransferEngine: Sendable {
    private let core: EngineCore

    /// Starts the engine thread.
    /// - Parameter maxParallel: Transfers running at once (`--jobs`); at least 1.
    public init(maxParallel: Int = 6) {
        core = EngineCore(maxParallel: max(1, maxParallel))
    }

    deinit {
        core.shutdown()
    }

    /// The most transfers that run at once.
    public var maxParallel: Int { core.maxParallel }

    /// Fails queued and running transfers and stops the thread. Safe to call more than once; transfers
    /// submitted afterwards fail at once.
    public func shutdown() {
        core.shutdown()
    }

    /// Performs one request.
    /// - Parameters:
    ///   - request: What to send.
    ///   - sink: Takes the body of the response if it accepts it (``ResponseSink/begin(status:headers:)``).
    /// - Returns: The final response; its `body` is empty when the sink took it.
    /// - Throws: ``TransportError`` when no HTTP response came back (or a callback aborted), `CancellationError`
    ///   never (a cancelled task gets a `TransportError` with abort `.cancelled`).
    func perform(_ request: ClientRequest, sink: (any ResponseSink)? = nil) async throws -> ClientResponse {
        let box = Mutex<Transfer?>(nil)
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<ClientResponse, any Error>) in
                let transfer = Transfer(request: request, sink: sink, continuation: continuation)
                let wasCancelled = box.withLock { slot -> Bool in
                    slot = transfer
                    return Task.isCancelled
                }
                if wasCancelled { transfer.cancelled.store(true, ordering: .relaxed) }
                core.submit(transfer)
            }
        } onCancel: {
            if let transfer = box.withLock({ $0 }) {
                transfer.cancelled.store(true, ordering: .relaxed)
                core.wake()
            }
        }
    }
}

/// The state behind ``TransferEngine``; the thread holds it, not the engine, so dropping the engine stops it.
private final class EngineCore: @unchecked Sendable {
    let maxParallel: Int
    private let multi: UnsafeMutableRawPointer
    private struct Shared {
        var pending: [Transfer] = []
        var pendingHead = 0
        var stopping = false
    }
    private let shared = Mutex(Shared())
    private var thread: pthread_t?
    private let threadLock = Mutex(())

    // Engine-thread state.
    private var running: [UnsafeMutableRawPointer: Transfer] = [:]

    init(maxParallel: Int) {
        initializeLibcurl()
        self.maxParallel = maxParallel
        guard let multi = curl_multi_init() else { fatalError("curl_multi_init: out of memory") }
        self.multi = multi
        // Keep enough idle connections for every parallel transfer to reuse one, plus a few for auth realms.
        _ = swcurl_multi_setopt_long(multi, CURLMOPT_MAXCONNECTS, maxParallel * 2 + 4)
        thread = SystemIO.Thread.start(name: "swcopy-curl") { [self] in self.run() }
    }


    func submit(_ transfer: Transfer) {
        let accepted = shared.withLock { state -> Bool in
            guard !state.stopping else { return false }
            state.pending.append(transfer)
            return true
        }
        if accepted {
            wake()
        } else {
            transfer.fail(TransportError(code: CURLE_ABORTED_BY_CALLBACK, message: "", abort: .engineShutDown))
        }
    }

    func wake() {
        _ = curl_multi_wakeup(multi)
    }

    func shutdown() {
        threadLock.withLock { _ in
            shared.withLock { $0.stopping = true }
            wake()
            if let thread {
                if pthread_equal(thread, pthread_self()) != 0 {
                    // Called from a callback on the engine thread: the loop exits on its own.
                    pthread_detach(thread)
                } else {
                    pthread_join(thread, nil)
                }
                self.thread = nil
            }
        }
    }

    /// The engine loop: admit queued transfers up to the limit, drive the multi handle, complete finished
    /// transfers, then sleep in `curl_multi_poll` until a socket is ready, a timer is due or `wake()` is called.
    private func run() {
        while true {
            let (admitted, stopping) = shared.withLock { state -> ([Transfer], Bool) in
                var out: [Transfer] = []
                while running.count + out.count < maxParallel, state.pendingHead < state.pending.count {
                    out.append(state.pending[state.pendingHead])
                    state.pendingHead += 1
                }
                if state.pendingHead > 64 && state.pendingHead * 2 > state.pending.count {
                    state.pending.removeFirst(state.pendingHead)
                    state.pendingHead = 0
                }
                return (out, state.stopping)
            }
            if stopping {
                admitted.forEach { $0.fail(TransportError(code: CURLE_ABORTED_BY_CALLBACK, message: "", abort: .engineShutDown)) }
                drainAndStop()
                return
            }
            for transfer in admitted { start(transfer) }

            var stillRunning: Int32 = 0
            _ = curl_multi_perform(multi, &stillRunning)
            var finished = 0
            var remaining: Int32 = 0
            while let message = curl_multi_info_read(multi, &remaining) {
                guard swcurl_msg_is_done(message) != 0, let easy = message.pointee.easy_handle else { continue }
                let result = swcurl_msg_result(message)
                curl_multi_remove_handle(multi, easy)
                if let transfer = running.removeValue(forKey: easy) {
                    transfer.complete(result: result)
                    finished += 1
                }
            }
            // A finished transfer frees a slot: admit the next one without sleeping.
            let hasWaiting = shared.withLock { $0.pendingHead < $0.pending.count }
            if finished > 0 && hasWaiting { continue }
            // Cancelled transfers stop at their next callback; libcurl calls the progress callback about once a
            // second even on a silent connection, so the poll need not be shorter.
            _ = curl_multi_poll(multi, nil, 0, 1000, nil)
        }
    }

    private func start(_ transfer: Transfer) {
        if transfer.cancelled.load(ordering: .relaxed) {
            transfer.fail(TransportError(code: CURLE_ABORTED_BY_CALLBACK, message: "", abort: .cancelled))
            return
        }
        if let error = transfer.prepare() {
            transfer.fail(error)
            return
        }
        guard let handle = transfer.handle else { return }
        let code = curl_multi_add_handle(multi, handle)
        guard code == CURLM_OK else {
            transfer.fail(TransportError(code: CURLE_FAILED_INIT, message: "curl_multi_add_handle: \(String(cString: curl_multi_strerror(code)))"))
            return
        }
        running[handle] = transfer
    }

    private func drainAndStop() {
        for (handle, transfer) in running {
            curl_multi_remove_handle(multi, handle)
            transfer.fail(TransportError(code: CURLE_ABORTED_BY_CALLBACK, message: "", abort: .engineShutDown))
        }
        running = [:]
        let rest = shared.withLock { state -> [Transfer] in
            let rest = Array(state.pending[state.pendingHead...])
            state.pending = []
            state.pendingHead = 0
            return rest
        }
        rest.forEach { $0.fail(TransportError(code: CURLE_ABORTED_BY_CALLBACK, message: "", abort: .engineShutDown)) }
        curl_multi_cleanup(multi)
    }
}
