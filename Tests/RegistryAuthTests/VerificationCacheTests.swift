@testable import RegistryAuth
import Testing

@Suite struct VerificationCacheTests {
    @Test func entriesExpireAndTheSizeStaysBounded() {
        let cache = VerificationCache<Int>(capacity: 8)
        cache.store(1, for: [1], expires: 110, now: 100)
        #expect(cache.value(for: [1], now: 109) == 1)
        #expect(cache.value(for: [1], now: 110) == nil)
        cache.store(2, for: [2], expires: 100, now: 100)  // already expired: not stored
        #expect(cache.count == 0)
        for i in 0..<100 { cache.store(i, for: [UInt8(i), 9], expires: 1000 + Int64(i), now: 100) }
        #expect(cache.count <= 8)
        // The most recent entries (latest expiry) survive the evictions.
        #expect(cache.value(for: [99, 9], now: 100) == 99)
        #expect(cache.hits == 2)
    }
}
