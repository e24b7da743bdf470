import Glibc
import SystemIO

/// Runs one blocking call on a thread of its own; ``wait()`` joins it and rethrows what it threw.
final class BackgroundCall: @unchecked Sendable {
    private var thread: pthread_t?
    private var failure: (any Error)?

    init(_ body: @escaping @Sendable () throws -> Void) {
        thread = Thread.start(name: "swc-call") { [self] in
            do { try body() } catch { failure = error }
        }
    }

    /// Waits for the call to end (once). - Throws: What the call threw.
    func wait() throws {
        if let thread {
            pthread_join(thread, nil)
            self.thread = nil
        }
        if let failure { throw failure }
    }
}
