import Synchronization

/// Bounds the credential checks that need real work (a bcrypt, a token's signature) waiting for the authentication
/// pool: eight per client address (clients open several connections at once: podman pushes three blobs in parallel,
/// each after its own token request), 64 in all. Without it, one address could queue a hundred bcrypts
/// before its first failure counts against it (the rate limiter counts failures once they are known), and every new
/// login would wait behind them; with it, the excess is refused at once (429 for the address, 503 when the pool is
/// full) and a real user's login waits for at most `total` checks.
final class AuthenticationGate: Sendable {
    enum Entry: Equatable {
        case admitted
        /// This address has `perAddress` checks in flight.
        case addressBusy
        /// `total` checks are in flight.
        case full
    }

    let perAddress: Int
    let total: Int
    private let state = Mutex<(inFlight: [String: Int], total: Int)>(([:], 0))

    init(perAddress: Int = 8, total: Int = 64) {
        self.perAddress = perAddress
        self.total = total
    }

    /// Takes a slot for `address`; `leave` gives it back.
    func enter(_ address: String) -> Entry {
        state.withLock { s in
            if s.inFlight[address, default: 0] >= perAddress { return .addressBusy }
            if s.total >= total { return .full }
            s.inFlight[address, default: 0] += 1
            s.total += 1
            return .admitted
        }
    }

    func leave(_ address: String) {
        state.withLock { s in
            let left = s.inFlight[address, default: 1] - 1
            s.inFlight[address] = left > 0 ? left : nil
            s.total -= 1
        }
    }

    /// Checks in flight (tests).
    var inFlight: Int { state.withLock { $0.total } }
}
