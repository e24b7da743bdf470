import Glibc
import Synchronization

/// Seconds since the epoch (wall clock: token `exp`/`nbf` claims are wall-clock times).
func currentUnixTime() -> Int64 {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    return Int64(now.tv_sec)
}

/// Results of expensive credential checks (bcrypt, signature verification), keyed by a SHA-256 of everything the
/// result depends on, each kept until its own expiry and the whole bounded in size. Only successes are stored: a
/// failure is recomputed each time, so the cache can never turn a wrong password into a right one.
final class VerificationCache<Value: Sendable>: Sendable {
    private struct Entry {
        var value: Value
        var expires: Int64
    }
    private struct State {
        var entries: [[UInt8]: Entry] = [:]
        var hits = 0
    }

    private let state = Mutex(State())
    let capacity: Int

    init(capacity: Int) {
        precondition(capacity > 0)
        self.capacity = capacity
    }

    /// The value stored under `key` if it has not expired at `now`.
    func value(for key: [UInt8], now: Int64 = currentUnixTime()) -> Value? {
        state.withLock { state in
            guard let entry = state.entries[key] else { return nil }
            guard now < entry.expires else {
                state.entries[key] = nil
                return nil
            }
            state.hits += 1
            return entry.value
        }
    }

    /// Stores `value` until `expires` (Unix seconds). When full, expired entries go first, then the eighth of the
    /// entries closest to expiry: an attacker filling the cache costs the others a recomputation, never an error.
    func store(_ value: Value, for key: [UInt8], expires: Int64, now: Int64 = currentUnixTime()) {
        guard expires > now else { return }
        state.withLock { state in
            if state.entries[key] == nil, state.entries.count >= capacity {
                state.entries = state.entries.filter { $0.value.expires > now }
                if state.entries.count >= capacity {
                    let victims = state.entries.sorted { $0.value.expires < $1.value.expires }
                        .prefix(max(1, capacity / 8)).map(\.key)
                    for key in victims { state.entries[key] = nil }
                }
            }
            state.entries[key] = Entry(value: value, expires: expires)
        }
    }

    /// How many lookups were answered from the cache (for tests and metrics).
    var hits: Int { state.withLock { $0.hits } }
    var count: Int { state.withLock { $0.entries.count } }
}
