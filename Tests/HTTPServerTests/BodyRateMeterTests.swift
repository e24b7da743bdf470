import Testing
@testable import HTTPServer

/// The minimum body rate, on a clock the test drives (nanoseconds).
@Suite struct BodyRateMeterTests {
    static let second: UInt64 = 1_000_000_000

    @Test func nothingIsTooSlowBeforeTheFirstByteOrWithoutARate() {
        var meter = BodyRateMeter()
        #expect(!meter.isTooSlow(now: 1000 * Self.second, minRate: 500, grace: 1))
        meter.received(1, now: 0)
        #expect(meter.isTooSlow(now: 1000 * Self.second, minRate: 500, grace: 1))
        #expect(!meter.isTooSlow(now: 1000 * Self.second, minRate: 0, grace: 1))
    }

    /// A byte every two seconds never stalls for long, but falls behind `grace + bytes / rate` once the grace is
    /// spent: at 500 bytes/s and a 60 s grace, the 31st byte (60 s after the first) is the last one allowed.
    @Test func tricklingBodyFallsBehindAfterTheGrace() {
        var meter = BodyRateMeter()
        var cutAt: UInt64?
        for i in 0..<100 {
            let now = UInt64(i) * 2 * Self.second
            meter.received(1, now: now)
            if meter.isTooSlow(now: now + Self.second, minRate: 500, grace: 60) {
                cutAt = now + Self.second
                break
            }
        }
        #expect(cutAt == 61 * Self.second)
    }

    @Test func bodyAtTheRateKeepsUpForever() {
        var meter = BodyRateMeter()
        // 600 bytes a second against a minimum of 500, for an hour, checked just before each second's bytes.
        for i in 0..<3600 {
            let now = UInt64(i) * Self.second
            #expect(!meter.isTooSlow(now: now, minRate: 500, grace: 1))
            meter.received(600, now: now)
        }
    }

    /// Time in which the engine does not read (back-pressure) is left out: the handler being slow is not the
    /// client's fault.
    @Test func pausesDoNotCount() {
        var meter = BodyRateMeter()
        meter.received(100, now: 0)  // allowed: 1 s + 100 / 100 = 2 s of reading time
        meter.setPaused(true, now: Self.second)
        #expect(!meter.isTooSlow(now: 50 * Self.second, minRate: 100, grace: 1), "paused now")
        meter.setPaused(false, now: 50 * Self.second)
        #expect(!meter.isTooSlow(now: 50 * Self.second + Self.second / 2, minRate: 100, grace: 1))
        #expect(meter.isTooSlow(now: 51 * Self.second + Self.second / 10, minRate: 100, grace: 1))
    }

    /// A pause before the first byte (a `100-continue` body the handler has not asked for yet) is not body time.
    @Test func pauseBeforeTheFirstByteIsNotSubtracted() {
        var meter = BodyRateMeter()
        meter.setPaused(true, now: 0)
        meter.setPaused(false, now: 30 * Self.second)
        meter.received(100, now: 31 * Self.second)
        #expect(!meter.isTooSlow(now: 33 * Self.second, minRate: 100, grace: 1))
        #expect(meter.isTooSlow(now: 33 * Self.second + 1, minRate: 100, grace: 1))
    }
}
