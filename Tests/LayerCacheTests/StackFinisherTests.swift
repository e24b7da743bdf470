import Glibc
import Synchronization
import SystemIO
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

    @Test("stop() (leaving early) ends the thread and skips what is still queued; stop() after finish() is harmless")
    func stopEarly() throws {
        let ran = Mutex(0)
        let finisher = StackFinisher(flushing: nil)
        let gate = Mutex(false)
        finisher.submit { while !gate.withLock({ $0 }) { usleep(1000) } }  // holds the thread until released
        for _ in 0..<3 { finisher.submit { ran.withLock { $0 += 1 } } }
        let releaser = Thread.start(name: "gate") {
            usleep(20_000)
            gate.withLock { $0 = true }
        }
        finisher.stop()
        pthread_join(releaser, nil)
        #expect(ran.withLock { $0 } == 0)

        let other = StackFinisher(flushing: "/nonexistent/path")  // cannot flush: jobs still run
        for _ in 0..<3 { other.submit { ran.withLock { $0 += 1 } } }
        try other.finish()
        other.stop()
        #expect(ran.withLock { $0 } == 3)
    }
}
