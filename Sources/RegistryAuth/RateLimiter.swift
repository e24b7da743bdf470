import Glibc
import Synchronization

/// Abuse limits: failed authentications per client address and per user name (a password guesser is slowed down
/// whether it rotates users or addresses), and optionally every request per client address.
///
/// Each key has a token bucket: `failuresPerMinute` failures may come at once, then one more every
/// `60 / failuresPerMinute` seconds. A key whose bucket is full again is forgotten, and the number of keys is
/// bounded (`maxKeys`): past it the keys idle longest go first, so memory stays bounded whatever the number of
/// addresses or names an attacker uses.
///
/// Thread-safe: requests on every event loop share one limiter.
public final class RateLimiter: Sendable {
    /// Failed authentications allowed per minute per address and per user; 0: no limit.
    public let failuresPerMinute: Int
    /// Requests allowed per second per address; 0: no limit.
    public let requestsPerSecond: Int
    private let failures: Mutex<TokenBuckets>
    private let requests: Mutex<TokenBuckets>
    private let clock: @Sendable () -> Double
    /// When the last failure was recorded (`clock` milliseconds); see `mayLimitAuthentication`.
    private let lastFailureMillis = Atomic<Int64>(Int64.min / 2)

    /// - Parameters:
    ///   - failuresPerMinute: failed authentications per minute per client address and per user name (0: off).
    ///   - requestsPerSecond: requests per second per client address (0: off).
    ///   - maxKeys: most addresses and names remembered by each of the two limits.
    ///   - clock: seconds on a monotonic clock (tests move it).
    public init(failuresPerMinute: Int = 10, requestsPerSecond: Int = 0, maxKeys: Int = 65536,
                clock: @escaping @Sendable () -> Double = RateLimiter.monotonicSeconds) {
        self.failuresPerMinute = max(0, failuresPerMinute)
        self.requestsPerSecond = max(0, requestsPerSecond)
        failures = Mutex(TokenBuckets(capacity: Double(self.failuresPerMinute),
                                      refillPerSecond: Double(self.failuresPerMinute) / 60, maxKeys: maxKeys))
        requests = Mutex(TokenBuckets(capacity: Double(self.requestsPerSecond),
                                      refillPerSecond: Double(self.requestsPerSecond), maxKeys: maxKeys))
        self.clock = clock
    }

    /// Seconds since an arbitrary start, on `CLOCK_MONOTONIC` (wall-clock jumps must not unblock anyone).
    public static func monotonicSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// Whether credentials from `address` (or for `user`) may be checked now.
    /// - Returns: nil when they may; else the seconds to wait (`Retry-After`), at least 1.
    public func authenticationRetryAfter(address: String, user: String? = nil) -> Int? {
        guard failuresPerMinute > 0 else { return nil }
        let now = clock()
        return failures.withLock { buckets in
            let byAddress = buckets.retryAfter(Self.addressKey(address), now: now)
            let byUser = user.flatMap { buckets.retryAfter(Self.userKey($0), now: now) }
            switch (byAddress, byUser) {
            case (nil, nil): return nil
            case let (a?, u?): return max(a, u)
            case let (a?, nil): return a
            case let (nil, u?): return u
            }
        }
    }

    /// Whether any failure was recorded within the last minute: if not, every bucket is full and no credentials
    /// can be limited, so the caller may skip `authenticationRetryAfter` (and making the client's address string).
    public var mayLimitAuthentication: Bool {
        guard failuresPerMinute > 0 else { return false }
        let last = lastFailureMillis.load(ordering: .relaxed)
        // A bucket refills from empty in 60 s; one more second for rounding.
        return Int64(clock() * 1000) - last < 61_000
    }

    /// Counts one failed authentication against `address` and, when the claimed name is known, `user`.
    public func recordFailure(address: String, user: String?) {
        guard failuresPerMinute > 0 else { return }
        let now = clock()
        lastFailureMillis.store(Int64(now * 1000), ordering: .relaxed)
        failures.withLock { buckets in
            buckets.take(Self.addressKey(address), now: now)
            if let user { buckets.take(Self.userKey(user), now: now) }
        }
    }

    /// Counts one request from `address`.
    /// - Returns: nil when it is admitted; else the seconds to wait (`Retry-After`), at least 1.
    public func admitRequest(address: String) -> Int? {
        guard requestsPerSecond > 0 else { return nil }
        let now = clock()
        return requests.withLock { buckets in
            if let wait = buckets.retryAfter(address, now: now) { return wait }
            buckets.take(address, now: now)
            return nil
        }
    }

    /// Keys in use by the failure limit (for tests of the memory bound).
    var trackedFailureKeys: Int { failures.withLock { $0.count } }

    // Addresses and user names share one table; prefixes keep a user named like an address apart from it.
    private static func addressKey(_ address: String) -> String { "a " + address }
    private static func userKey(_ user: String) -> String { "u " + user }
}

/// Token buckets by key, with forgetting (see `RateLimiter`).
struct TokenBuckets {
    private struct Bucket {
        var tokens: Double
        var updated: Double
    }

    let capacity: Double
    let refillPerSecond: Double
    let maxKeys: Int
    private var buckets: [String: Bucket] = [:]
    /// The size at which the next sweep of refilled buckets happens: sweeps cost O(keys), so they come after
    /// the table has grown by as much again (amortised O(1) per insertion).
    private var sweepAt = 1024

    init(capacity: Double, refillPerSecond: Double, maxKeys: Int) {
        self.capacity = capacity
        self.refillPerSecond = refillPerSecond
        self.maxKeys = max(1, maxKeys)
    }

    var count: Int { buckets.count }

    private func tokens(_ bucket: Bucket, now: Double) -> Double {
        min(capacity, bucket.tokens + max(0, now - bucket.updated) * refillPerSecond)
    }

    /// nil when `key` has a token left; else the whole seconds until it has one.
    func retryAfter(_ key: String, now: Double) -> Int? {
        guard let bucket = buckets[key] else { return nil }
        let available = tokens(bucket, now: now)
        guard available < 1 else { return nil }
        // The epsilon keeps float noise (2.0000000001 s) from adding a whole second.
        return max(1, Int(((1 - available) / refillPerSecond - 1e-6).rounded(.up)))
    }

    /// Takes a token from `key` (none left stays at none).
    mutating func take(_ key: String, now: Double) {
        if var bucket = buckets[key] {
            bucket.tokens = max(0, tokens(bucket, now: now) - 1)
            bucket.updated = now
            buckets[key] = bucket
            return
        }
        if buckets.count >= min(sweepAt, maxKeys) { sweep(now: now) }
        buckets[key] = Bucket(tokens: max(0, capacity - 1), updated: now)
    }

    /// Forgets full buckets (they are the same as none); if the table is still at its bound, forgets the half
    /// that has been idle longest.
    private mutating func sweep(now: Double) {
        buckets = buckets.filter { tokens($0.value, now: now) < capacity }
        if buckets.count >= maxKeys {
            let keep = buckets.sorted { $0.value.updated > $1.value.updated }.prefix(maxKeys / 2)
            buckets = Dictionary(uniqueKeysWithValues: keep.map { ($0.key, $0.value) })
        }
        sweepAt = max(1024, buckets.count * 2)
    }
}
