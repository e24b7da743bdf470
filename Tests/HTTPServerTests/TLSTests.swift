import COpenSSL
import Glibc
import HTTPServer
import Logging
import SystemIO
import Testing
import TestSupport

@Suite(.serialized)
struct TLSTests {
    @Test(arguments: [(TLS1_2_VERSION, "TLSv1.2"), (TLS1_3_VERSION, "TLSv1.3")])
    func handshakesWithEachVersionAndSelectsHTTP11(version: Int32, name: String) throws {
        let fixture = try TLSFixture()
        let live = try TLSLiveServer(fixture.settings())
        defer { live.stop() }
        var options = fixture.clientOptions
        options.maxVersion = version
        let client = try TLSTestClient(port: live.port, options)
        #expect(client.version == name)
        #expect(client.alpn == "http/1.1")
        #expect(client.serverSubject == "CN=server-a")
        try client.send("GET /whoami HTTP/1.1\r\nHost: t\r\n\r\n")
        let response = try client.readResponse()
        #expect(response.status == 200)
        #expect(response.body == "secure=true subject=- cn=-\n")
    }

    @Test func curlVerifiesTheChainOverEachVersion() throws {
        let fixture = try TLSFixture()
        let live = try TLSLiveServer(fixture.settings())
        defer { live.stop() }
        for version in ["1.2", "1.3"] {
            let out = try shell("curl -sS --cacert '\(fixture.path("root.pem"))' --tlsv\(version) --tls-max \(version) -w ' %{http_version} %{ssl_verify_result}' https://localhost:\(live.port)/x")
            #expect(out == "hello /x\n 1.1 0", "TLS \(version)")
        }
    }

    @Test func minimumTLS13RefusesTLS12() throws {
        let fixture = try TLSFixture()
        let live = try TLSLiveServer(fixture.settings(minimum: .tls13))
        defer { live.stop() }
        var options = fixture.clientOptions
        options.maxVersion = TLS1_2_VERSION
        #expect(throws: TLSTestClient.HandshakeError.self) { try TLSTestClient(port: live.port, options) }
        options.maxVersion = 0
        #expect(try TLSTestClient(port: live.port, options).version == "TLSv1.3")
    }

    @Test func clientOfferingOnlyH2GetsNoApplicationProtocol() throws {
        let fixture = try TLSFixture()
        let live = try TLSLiveServer(fixture.settings())
        defer { live.stop() }
        var options = fixture.clientOptions
        options.alpn = ["h2"]
        #expect(throws: TLSTestClient.HandshakeError.self) { try TLSTestClient(port: live.port, options) }
        options.alpn = []
        #expect(try TLSTestClient(port: live.port, options).alpn == "")
    }

    @Test func clientCertificatesAreRequiredAndVerified() throws {
        let fixture = try TLSFixture()
        let store = CapturingLogHandler.Store()
        let sink = MemoryLogSink()
        let writer = LogWriter(sink: sink, format: .text)
        let live = try TLSLiveServer(fixture.settings(clientCAs: true), logger: Logger(label: "tls") { _ in CapturingLogHandler(store: store) }) {
            $0.observers = [AccessLog(writer: writer)]
        }
        defer { live.stop() }
        var options = fixture.clientOptions
        options.certificatePath = fixture.path("client.pem")
        options.keyPath = fixture.path("client.key")
        let client = try TLSTestClient(port: live.port, options)
        try client.send("GET /whoami HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(try client.readResponse().body == "secure=true subject=CN=alice,O=swr tests cn=alice\n")

        // The common name is read from the certificate's entries: an escaped `\,CN=` inside another field is not
        // one, and a certificate with two CNs names nobody.
        for (name, cn) in [("injected", "bob"), ("twocn", "-")] {
            var other = fixture.clientOptions
            other.certificatePath = fixture.path("\(name).pem")
            other.keyPath = fixture.path("\(name).key")
            let client = try TLSTestClient(port: live.port, other)
            try client.send("GET /whoami HTTP/1.1\r\nHost: t\r\n\r\n")
            let body = try client.readResponse().body
            #expect(body.hasSuffix(" cn=\(cn)\n"), "\(name): \(body)")
        }

        // No certificate, or one from a CA the server does not trust: no request gets through. (With TLS 1.3
        // the client finishes its side first and learns of the refusal when it reads.)
        for (cert, key) in [(nil, nil), (fixture.path("rogueclient.pem"), fixture.path("rogueclient.key"))] {
            var refused = fixture.clientOptions
            refused.certificatePath = cert
            refused.keyPath = key
            if let client = try? TLSTestClient(port: live.port, refused) {
                try? client.send("GET /whoami HTTP/1.1\r\nHost: t\r\n\r\n")
                #expect(throws: (any Error).self) { try client.readResponse() }
            }
        }
        live.stop()
        writer.stop()
        // The access log names the user the responder authenticated, as one field, and says the exchange was TLS.
        let access = logfmtFields(sink.lines).filter { $0["target"] == "/whoami" }
        #expect(access.contains { $0["user"] == "alice smith" && $0["tls"] == "true" })
        #expect(store.messages.contains { $0.message.contains("TLS handshake failed") })
    }

    @Test func reloadServesTheNewCertificateToNewConnectionsOnly() throws {
        let fixture = try TLSFixture()
        let settings = TLSSettings(certificatePath: fixture.path("current-chain.pem"), keyPath: fixture.path("current.key"))
        try shell("cd '\(fixture.directory)' && cp server-a-chain.pem current-chain.pem && cp server-a.key current.key")
        let live = try TLSLiveServer(settings)
        defer { live.stop() }
        let old = try TLSTestClient(port: live.port, fixture.clientOptions)
        #expect(old.serverSubject == "CN=server-a")

        try shell("cd '\(fixture.directory)' && cp server-b-chain.pem current-chain.pem && cp server-b.key current.key")
        try live.server.reloadTLS()
        let new = try TLSTestClient(port: live.port, fixture.clientOptions)
        #expect(new.serverSubject == "CN=server-b")
        for client in [old, new] {
            try client.send("GET /still HTTP/1.1\r\nHost: t\r\n\r\n")
            #expect(try client.readResponse().body == "hello /still\n")
        }

        // A broken reload (key of another certificate) names the files and keeps the current context.
        try shell("cd '\(fixture.directory)' && cp server-a.key current.key")
        let error = #expect(throws: TLSError.self) { try live.server.reloadTLS() }
        #expect(error?.description.contains("does not match the certificate \(fixture.path("current-chain.pem"))") == true)
        #expect(try TLSTestClient(port: live.port, fixture.clientOptions).serverSubject == "CN=server-b")
    }

    @Test func startUpWithBadFilesFailsClearly() throws {
        let fixture = try TLSFixture()
        try shell("echo 'not a certificate' > '\(fixture.path("garbage.pem"))'")
        let cases: [(TLSSettings, String)] = [
            (TLSSettings(certificatePath: fixture.path("missing.pem"), keyPath: fixture.path("server-a.key")),
             "TLS certificate \(fixture.path("missing.pem")): "),
            (TLSSettings(certificatePath: fixture.path("garbage.pem"), keyPath: fixture.path("server-a.key")),
             "TLS certificate \(fixture.path("garbage.pem")): "),
            (TLSSettings(certificatePath: fixture.path("server-a-chain.pem"), keyPath: fixture.path("garbage.pem")),
             "TLS key \(fixture.path("garbage.pem")): "),
            (TLSSettings(certificatePath: fixture.path("server-a-chain.pem"), keyPath: fixture.path("server-b.key")),
             "TLS key \(fixture.path("server-b.key")) does not match the certificate"),
            (TLSSettings(certificatePath: fixture.path("server-a-chain.pem"), keyPath: fixture.path("server-a.key"),
                         clientCAPaths: [fixture.path("garbage.pem")]),
             "TLS client CA file \(fixture.path("garbage.pem")): "),
        ]
        for (settings, message) in cases {
            let error = #expect(throws: TLSError.self) { try TLSLiveServer(settings) }
            #expect(error?.description.hasPrefix(message) == true, "\(error?.description ?? "")")
            #expect((error?.description.count ?? 0) > message.count + 3, "an OpenSSL reason follows")
        }
    }

    @Test func plainHTTPOnTheTLSPortGetsAPlainAnswer() throws {
        let fixture = try TLSFixture()
        let live = try TLSLiveServer(fixture.settings())
        defer { live.stop() }
        let client = try TestClient(port: live.port, timeoutSeconds: 3)
        try client.send("GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        let response = try client.readResponse()
        #expect(response.status == 400)
        #expect(response.text == "this port speaks TLS; use https://\n")
        #expect(client.isClosedByPeer())
    }

    @Test func stalledHandshakeTimesOut() throws {
        let fixture = try TLSFixture()
        let live = try TLSLiveServer(fixture.settings()) { $0.headerTimeout = 1 }
        defer { live.stop() }
        // Half a ClientHello, then nothing; and a connection that never sends a byte.
        let partial = try TestClient(port: live.port, timeoutSeconds: 4)
        try partial.send([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xFC, 0x03, 0x03])
        let silent = try TestClient(port: live.port, timeoutSeconds: 4)
        let start = Clock.monotonicNanos()
        #expect(partial.isClosedByPeer())
        #expect(silent.isClosedByPeer())
        #expect(Clock.monotonicNanos() - start < 3_000_000_000)
    }

    @Test func garbageAfterARecordHeaderFailsTheHandshakeAndCloses() throws {
        let fixture = try TLSFixture()
        let live = try TLSLiveServer(fixture.settings())
        defer { live.stop() }
        var rng = SystemRandomNumberGenerator()
        for length in [5, 300, 20_000] {
            let client = try TestClient(port: live.port, timeoutSeconds: 3)
            let garbage = (0..<length).map { _ in UInt8.random(in: 0...255, using: &rng) }
            try? client.send([0x16, 0x03, 0x01, UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF)] + garbage)
            // An alert or nothing, then the close: never a hang until the header timeout.
            let start = Clock.monotonicNanos()
            var closed = false
            var chunk = [UInt8](repeating: 0, count: 4096)
            while Clock.monotonicNanos() - start < 2_500_000_000 {
                let n = chunk.withUnsafeMutableBytes { recv(client.fd, $0.baseAddress, $0.count, 0) }
                if n <= 0 { closed = true; break }
            }
            #expect(closed, "\(length) bytes of garbage")
            #expect(Clock.monotonicNanos() - start < 2_500_000_000)
        }
        // The server still serves.
        #expect(try TLSTestClient(port: live.port, fixture.clientOptions).version == "TLSv1.3")
    }

    @Test func connectionsOverTheLimitEndTheirHandshakeAtOnce() throws {
        let fixture = try TLSFixture()
        let live = try TLSLiveServer(fixture.settings()) {
            $0.maxConnections = 1
            $0.eventLoopCount = 1
        }
        defer { live.stop() }
        let held = try TLSTestClient(port: live.port, fixture.clientOptions)
        // A plain 503 would read as "wrong version number"; the refused client sees the stream end instead.
        let start = Clock.monotonicNanos()
        let error = #expect(throws: TLSTestClient.HandshakeError.self) { try TLSTestClient(port: live.port, fixture.clientOptions) }
        #expect(error?.description.contains("wrong version number") == false, "\(error?.description ?? "")")
        #expect(Clock.monotonicNanos() - start < 2_000_000_000)
        try held.send("GET /held HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(try held.readResponse().body == "hello /held\n")
    }

    @Test func pipelinedRequestsOverTLSAnswerInOrder() throws {
        let fixture = try TLSFixture()
        let live = try TLSLiveServer(fixture.settings())
        defer { live.stop() }
        let client = try TLSTestClient(port: live.port, fixture.clientOptions)
        var requests = ""
        for i in 0..<20 {
            requests += i % 3 == 0 ? "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nbody\(i % 10)"
                : "GET /p\(i) HTTP/1.1\r\nHost: t\r\n\r\n"
        }
        try client.send(requests)
        for i in 0..<20 {
            let response = try client.readResponse()
            #expect(response.body == (i % 3 == 0 ? "body\(i % 10)" : "hello /p\(i)\n"))
        }
    }

    @Test func largeFileOverTLSHasEveryByteAndFlatMemory() throws {
        let fixture = try TLSFixture()
        let path = fixture.path("big")
        let size = 256 << 20
        try shell("head -c \(size) /dev/urandom > '\(path)'")
        let expected = try shell("sha256sum '\(path)'").prefix(64)
        let live = try TLSLiveServer(fixture.settings(), bigFile: path)
        defer { live.stop() }
        let client = try TLSTestClient(port: live.port, fixture.clientOptions)
        let rssBefore = residentKiB()
        try client.send("GET /big HTTP/1.1\r\nHost: t\r\n\r\n")
        let head = try client.readHead()
        #expect(head.status == 200)
        #expect(head.headers["content-length"] == "\(size)")
        let digest = EVP_MD_CTX_new()!
        defer { EVP_MD_CTX_free(digest) }
        EVP_DigestInit_ex(digest, EVP_sha256(), nil)
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 16)
        defer { chunk.deallocate() }
        var received = 0
        while received < size {
            let n = client.read(into: UnsafeMutableRawBufferPointer(rebasing: chunk[0..<min(chunk.count, size - received)]))
            guard n > 0 else { break }
            EVP_DigestUpdate(digest, chunk.baseAddress, n)
            received += n
        }
        var md = [UInt8](repeating: 0, count: 32)
        EVP_DigestFinal_ex(digest, &md, nil)
        #expect(received == size)
        #expect(md.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined() == expected)
        // Server and client share this process: neither may hold the body.
        #expect(residentKiB() - rssBefore < 48 * 1024, "RSS grew from \(rssBefore) to \(residentKiB()) KiB")
    }

    private func residentKiB() -> Int {
        let status = (try? shell("grep VmRSS /proc/\(getpid())/status")) ?? ""
        return Int(status.split(separator: " ").dropFirst().first { Int($0) != nil } ?? "0") ?? 0
    }
}

@Suite(.serialized)
struct AccessLogTests {
    /// Without an `AccessLog` observer there are no request lines; the server's own lines still go to its logger.
    @Test func noObserverWritesNoRequestLines() throws {
        let store = CapturingLogHandler.Store()
        let live = try TLSLiveServer(nil, logger: Logger(label: "access") { _ in CapturingLogHandler(store: store) })
        let client = try TestClient(port: live.port)
        try client.send("GET /a HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(try client.readResponse().status == 200)
        live.stop()
        #expect(!store.messages.contains { $0.message.contains("/a") })
        #expect(store.messages.contains { $0.message.hasPrefix("listening on") })
    }

    @Test func plainRequestsAreNotSecureAndAnonymousLinesHaveNoUser() throws {
        let sink = MemoryLogSink()
        let writer = LogWriter(sink: sink, format: .json)
        let live = try TLSLiveServer(nil) { $0.observers = [AccessLog(writer: writer)] }
        let client = try TestClient(port: live.port)
        try client.send("GET /whoami HTTP/1.1\r\nHost: t\r\n\r\n")
        #expect(try client.readResponse().text == "secure=false subject=- cn=-\n")
        live.stop()
        writer.stop()
        let line = try #require(sink.lines.first.flatMap(parseJSONLine))
        #expect(sink.lines.count == 1)
        #expect(line["target"] as? String == "/whoami" && line["status"] as? Int == 200 && line["tls"] as? Bool == false)
        #expect(line["user"] == nil)
    }
}
