/// Tells whether a request body arrives at least at a minimum average rate, with Apache `mod_reqtimeout`'s
/// semantics for `RequestReadTimeout body=<grace>,MinRate=<rate>`: from the first body byte, the body may take
/// `grace` seconds plus one second per `rate` bytes received. A client that trickles a byte every few seconds
/// (which a timeout "without progress" never cuts) falls behind that deadline once the grace is used up, while
/// any client sending faster than `rate` only gains time.
///
/// Time in which the engine itself does not read (the handler is behind and the connection stopped reading,
/// back-pressure) is not the client's fault: it is left out of the elapsed time.
struct BodyRateMeter {
    /// Body bytes received so far (data only, not chunk framing).
    private(set) var bytes: Int64 = 0
    /// When the first body byte arrived.
    private var start: UInt64 = 0
    /// Time not reading since `start`, closed pauses only.
    private var pausedNanos: UInt64 = 0
    /// The start of the pause in progress, if reading is paused now.
    private var pausedSince: UInt64?

    /// Counts `count` body bytes received at `now`; the first ones start the clock.
    mutating func received(_ count: Int, now: UInt64) {
        guard count > 0 else { return }
        if bytes == 0 {
            start = now
            // A pause before the first byte (say, waiting for the handler to ask for a `100-continue` body)
            // is not part of the body's time.
            pausedNanos = 0
            pausedSince = pausedSince.map { _ in now }
        }
        bytes += Int64(count)
    }

    /// Notes whether the engine is reading the body now.
    mutating func setPaused(_ paused: Bool, now: UInt64) {
        if paused {
            if pausedSince == nil { pausedSince = now }
        } else if let since = pausedSince {
            if bytes > 0 { pausedNanos &+= now &- since }
            pausedSince = nil
        }
    }

    /// True when the body is behind the minimum rate: more than `grace + bytes / minRate` seconds of reading
    /// time have passed since its first byte. Never before the first byte (the body timeout covers a client that
    /// sends nothing), never while paused, never with a `minRate` of 0.
    func isTooSlow(now: UInt64, minRate: Double, grace: Double) -> Bool {
        guard minRate > 0, bytes > 0, pausedSince == nil, now > start else { return false }
        let elapsed = Double(now - start) - Double(pausedNanos)
        let allowed = (grace + Double(bytes) / minRate) * 1e9
        return elapsed > allowed
    }
}
