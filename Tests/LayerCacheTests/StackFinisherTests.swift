import Glibc
import Synchronization
import Testing
@testable import LayerCache

@Suite("StackFinisher: jobs off the building thread")
struct StackFinisherTests {
    struct JobFailed: Error {}

    @Test("jobs run in order on another thread, with flushes in between")
    func order() throws {
        let scratch = ScratchDirectory("finisher")
        let finisher = StackFinisher(flushing: scratch.path)
        let seen = Mutex<[Int]>([])
        let caller = pthread_self()
        let onOtherThread = Mutex(true)
        for i in 0..<20 {
            finisher.submit {
                if pthread_equal(pthread_self(), caller) != 0 { onOtherThread.withLock { $0 = false } }
                seen.withLock { $0.append(i) }
            }
            if i % 5 == 0 { usleep(2000) }  // let it go idle and flush now and then
        }
        try finisher.finish()
        #expect(seen.withLock { $0 } == Array(0..<20))
        #expect(onOtherThread.withLock { $0 })
    }

    @Test("the first error is rethrown by finish(), and the jobs after it are skipped")
    func firstErrorWins() throws {
        let finisher = StackFinisher(flushing: nil)
        let ran = Mutex<[Int]>([])
        finisher.submit { ran.withLock { $0.append(1) } }
        finisher.submit { throw JobFailed() }
        finisher.submit { ran.withLock { $0.append(3) } }
        #expect(throws: JobFailed.self) { try finisher.finish() }
        #expect(ran.withLock { $0 } == [1])
    }

    @Test("stop() without finish() (leaving early) ends the thread and runs what was queued")
    func stopEarly() throws {
        let ran = Mutex(0)
        do {
            let finisher = StackFinisher(flushing: "/nonexistent/path")  // cannot flush: jobs still run
            for _ in 0..<3 { finisher.submit { ran.withLock { $0 += 1 } } }
            finisher.stop()
            finisher.stop()  // twice is harmless (a defer after finish())
        }
        #expect(ran.withLock { $0 } == 3)
    }
}
