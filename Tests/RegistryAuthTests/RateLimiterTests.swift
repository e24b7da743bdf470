@testable import RegistryAuth
import Synchronization
import Testing

/// A clock the test moves.
final class ManualClock: Sendable {
    private let now = Mutex(1000.0)
    func advance(_ seconds: Double) { now.withLock { $0 += seconds } }
    var read: @Sendable () -> Double { { [self] in now.withLock { $0 } } }
}

@Suite struct RateLimiterTests {
    @Test func theEleventhFailureInAMinuteIsRefusedUntilABucketTokenIsBack() {
        let clock = ManualClock()
        let limiter = RateLimiter(failuresPerMinute: 10, clock: clock.read)
        for _ in 0..<10 {
            #expect(limiter.authenticationRetryAfter(address: "10.0.0.1") == nil)
            limiter.recordFailure(address: "10.0.0.1", user: "alice")
        }
        // One token comes back every 6 s.
        #expect(limiter.authenticationRetryAfter(address: "10.0.0.1") == 6)
        #expect(limiter.authenticationRetryAfter(address: "10.0.0.2") == nil, "another address is not affected")
        #expect(limiter.authenticationRetryAfter(address: "10.0.0.2", user: "alice") == 6, "but the user is")
        #expect(limiter.authenticationRetryAfter(address: "10.0.0.2", user: "bob") == nil)
        clock.advance(4)
        #expect(limiter.authenticationRetryAfter(address: "10.0.0.1") == 2)
        clock.advance(2)
        #expect(limiter.authenticationRetryAfter(address: "10.0.0.1") == nil)
        limiter.recordFailure(address: "10.0.0.1", user: nil)
        #expect(limiter.authenticationRetryAfter(address: "10.0.0.1") == 6)
        // After a minute without failures everything is forgiven.
        clock.advance(60)
        #expect(limiter.authenticationRetryAfter(address: "10.0.0.1", user: "alice") == nil)
    }

    @Test func zeroTurnsTheLimitsOff() {
        let limiter = RateLimiter(failuresPerMinute: 0, requestsPerSecond: 0)
        for _ in 0..<100 { limiter.recordFailure(address: "a", user: "u") }
        #expect(limiter.authenticationRetryAfter(address: "a", user: "u") == nil)
        #expect(limiter.admitRequest(address: "a") == nil)
    }

    @Test func requestsPerSecondPerAddress() {
        let clock = ManualClock()
        let limiter = RateLimiter(failuresPerMinute: 10, requestsPerSecond: 5, clock: clock.read)
        for _ in 0..<5 { #expect(limiter.admitRequest(address: "a") == nil) }
        #expect(limiter.admitRequest(address: "a") == 1)
        #expect(limiter.admitRequest(address: "b") == nil)
        clock.advance(0.2)
        #expect(limiter.admitRequest(address: "a") == nil)
        #expect(limiter.admitRequest(address: "a") == 1)
    }

    @Test func memoryStaysBoundedUnderManyAddresses() {
        let clock = ManualClock()
        let limiter = RateLimiter(failuresPerMinute: 10, maxKeys: 5000, clock: clock.read)
        for i in 0..<50_000 {
            limiter.recordFailure(address: "10.\(i >> 16).\((i >> 8) & 255).\(i & 255)", user: nil)
            clock.advance(0.001)
        }
        #expect(limiter.trackedFailureKeys <= 5000)
        // An offender is still remembered while fewer than half the bound of newer addresses come after it.
        for _ in 0..<10 { limiter.recordFailure(address: "offender", user: nil) }
        for i in 0..<2000 {
            clock.advance(0.001)
            limiter.recordFailure(address: "later-\(i)", user: nil)
        }
        #expect(limiter.trackedFailureKeys <= 5000)
        #expect(limiter.authenticationRetryAfter(address: "offender") != nil)
    }

    @Test func concurrentUseCountsEveryFailure() async {
        let clock = ManualClock()
        let limiter = RateLimiter(failuresPerMinute: 1000, clock: clock.read)
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<8 {
                group.addTask { for _ in 0..<125 { limiter.recordFailure(address: "x", user: nil) } }
            }
        }
        #expect(limiter.authenticationRetryAfter(address: "x") != nil, "1000 failures used the whole bucket")
    }
}
