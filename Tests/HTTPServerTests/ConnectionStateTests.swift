@testable import HTTPServer
import SystemIO
import Testing

/// The arrows of `ConnectionState`'s diagram, and the moves it forbids (which trap in debug builds).
struct ConnectionStateTests {
    private static func states() -> [ConnectionState] {
        let exchange = Exchange(body: RequestBody(connection: nil, framing: .none), keepAlive: true,
                                expectContinue: false, now: 0)
        return [.handshaking(since: 0, wants: .readable), .awaitingHead(headerStart: nil), .exchanging(exchange),
                .rejecting, .lingering(deadline: 0, budget: 0), .closed]
    }

    @Test func onlyTheDiagramsArrowsAreAllowed() {
        let arrows: Set<String> = [
            "handshaking→handshaking", "handshaking→awaitingHead", "handshaking→rejecting",
            "awaitingHead→awaitingHead", "awaitingHead→exchanging", "awaitingHead→rejecting",
            "exchanging→awaitingHead", "exchanging→lingering",
            "rejecting→lingering", "lingering→lingering",
            "handshaking→closed", "awaitingHead→closed", "exchanging→closed", "rejecting→closed", "lingering→closed",
        ]
        for from in Self.states() {
            for to in Self.states() {
                let arrow = "\(from.name)→\(to.name)"
                #expect(from.allows(to) == arrows.contains(arrow), "\(arrow)")
            }
        }
    }

    @Test func anExchangeStartsStreamingItsBody() {
        let exchange = Exchange(body: RequestBody(connection: nil, framing: .length(10)), keepAlive: true,
                                expectContinue: true, now: 5)
        guard case .streaming = exchange.input else {
            Issue.record("input \(exchange.input)")
            return
        }
        #expect(exchange.input.bodyOpen)
        #expect(!Exchange.Input.complete.bodyOpen && !Exchange.Input.ended(byPeer: true).bodyOpen)
        #expect(Exchange.Input.draining(budget: 1).bodyOpen)
    }
}
