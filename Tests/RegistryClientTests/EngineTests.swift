import Foundation
import Glibc
import OCIModel
import RegistryClient
import Testing

/// The transfer engine itself: bounded parallelism, connection reuse, cancellation, shutdown.
@Suite struct EngineTests {
    /// A server answering `GET /v2/` after `delay`.
    private func slowServer(_ delay: Duration) throws -> FaultServer {
        try FaultServer { request, connection, _ in
            if delay > .zero { usleep(UInt32(delay.components.seconds * 1_000_000 + delay.components.attoseconds / 1_000_000_000_000)) }
            connection.respond(200, headers: [("Docker-Distribution-API-Version", "registry/2.0")], body: Array("{}".utf8))
        }
    }

    @Test func parallelismIsBoundedAndQueuedTransfersAllComplete() async throws {
        let server = try slowServer(.milliseconds(300))
        defer { server.stop() }
        let engine = TransferEngine(maxParallel: 2)
        defer { engine.shutdown() }
        let client = RegistryClient(registry: "http://" + server.address, options: testOptions(), engine: engine)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<8 { group.addTask { try await client.ping() } }
            try await group.waitForAll()
        }
        #expect(server.requests.count == 8)
        #expect(server.maxInFlight == 2)
    }

    @Test func connectionsAreKeptAliveAndReused() async throws {
        let server = try slowServer(.zero)
        defer { server.stop() }
        let engine = TransferEngine(maxParallel: 4)
        defer { engine.shutdown() }
        let client = RegistryClient(registry: "http://" + server.address, options: testOptions(), engine: engine)
        for _ in 0..<20 { try await client.ping() }
        #expect(server.requests.count == 20)
        #expect(server.connections == 1)
        // Every request says who it is.
        #expect(server.requests.allSatisfy { $0.header("User-Agent") == "swcopy/0.1" })
    }

    @Test func insecureClientsProbeHTTPSThenRememberHTTP() async throws {
        let server = try slowServer(.zero)
        defer { server.stop() }
        let engine = TransferEngine()
        defer { engine.shutdown() }
        let client = RegistryClient(registry: server.address, options: testOptions(), engine: engine)
        for _ in 0..<5 { try await client.ping() }
        // One refused TLS connection, one plain connection for the probe and the pings.
        #expect(server.connections == 2)
        #expect(server.requests.count == 6)
    }

    @Test func cancellingATaskStopsItsTransfer() async throws {
        // A generous margin: with the whole suite on two cores, other suites' blocking tests (S3, PostgreSQL) can
        // hold both cooperative threads, and the cancelled task waits for one to resume (seen: up to 15 s). What
        // must hold is that the transfer ends as cancelled, long before the server's answer would have arrived.
        let server = try slowServer(.seconds(30))
        defer { server.stop() }
        let engine = TransferEngine()
        defer { engine.shutdown() }
        let client = RegistryClient(registry: "http://" + server.address, options: testOptions(), engine: engine)
        let task = Task { try await client.ping() }
        let deadline = ContinuousClock.now + .seconds(20)
        while server.requests.isEmpty && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        let cancelled = ContinuousClock.now
        task.cancel()
        let result = await task.result
        #expect(ContinuousClock.now - cancelled < .seconds(25), "stopped before the server's 30 s answer")
        guard case .failure(let error) = result, let failure = error as? RegistryClientError else {
            Issue.record("cancelled ping did not fail with RegistryClientError: \(result)")
            return
        }
        #expect(failure.kind == .cancelled)
    }

    @Test func shutdownFailsQueuedAndLaterTransfers() async throws {
        // The server holds its answer until the test lets it go, so the first transfer is surely running (and the
        // second surely queued behind it) when the engine shuts down.
        let release = UnsafeSendableBox(false)
        let server = try FaultServer { _, connection, _ in
            while !release.value { usleep(5000) }
            connection.respond(200, body: Array("{}".utf8))
        }
        defer {
            release.value = true
            server.stop()
        }
        let engine = TransferEngine(maxParallel: 1)
        let client = RegistryClient(registry: "http://" + server.address, options: testOptions { $0.retryTimes = 0 },
                                    engine: engine)
        let running = Task { try await client.ping() }
        let queued = Task { try await client.ping() }
        let deadline = ContinuousClock.now + .seconds(20)
        while server.requests.isEmpty && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        engine.shutdown()
        release.value = true
        for task in [running, queued] {
            let result = await task.result
            guard case .failure(let error) = result else {
                Issue.record("transfer survived shutdown")
                continue
            }
            #expect((error as? RegistryClientError)?.kind == .cancelled, "\(error)")
        }
        let late = await #expect(throws: RegistryClientError.self) { try await client.ping() }
        #expect(late?.kind == .cancelled)
    }

    @Test func unreachableRegistryIsATransportErrorAfterRetries() async throws {
        // A port bound but not listening refuses connections, and stays ours for the whole test: a server stopped
        // instead freed its port, which another test running in parallel could take (then answers came back).
        let closed = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { Glibc.close(closed) }
        var bound = sockaddr_in()
        bound.sin_family = sa_family_t(AF_INET)
        bound.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &bound) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(closed, $0, length) == 0 && getsockname(closed, $0, &length) == 0
            }
        }
        try #require(named, "bind 127.0.0.1:0: errno \(errno)")
        let address = "127.0.0.1:\(UInt16(bigEndian: bound.sin_port))"
        let engine = TransferEngine()
        defer { engine.shutdown() }
        let client = RegistryClient(registry: "http://" + address, options: testOptions { $0.retryTimes = 2 }, engine: engine)
        let failure = await #expect(throws: RegistryClientError.self) {
            _ = try await client.listTags(repository: "x/y")
        }
        #expect(failure?.kind == .transport)
        #expect(failure?.isRetryable == true)
        #expect(failure?.description.contains(address) == true)
        // An insecure client probing https then http fails the same way, after its retries.
        let probing = RegistryClient(registry: address, options: testOptions { $0.retryTimes = 2 }, engine: engine)
        let probeFailure = await #expect(throws: RegistryClientError.self) {
            _ = try await probing.blobExists(repository: "x/y", digest: Digest.sha256(of: [1]))
        }
        #expect(probeFailure?.kind == .transport, "\(probeFailure?.description ?? "")")
    }
}
