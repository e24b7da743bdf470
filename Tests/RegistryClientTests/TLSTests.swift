import Foundation
import Glibc
import RegistryClient
import Testing
import TestSupport

/// TLS against `openssl s_server` with a throw-away CA: verification on by default, extra CAs and a client
/// certificate from a certs.d-style folder, and no plain-HTTP fallback while verifying.
@Suite(.enabled(if: access("/usr/bin/openssl", X_OK) == 0, "needs /usr/bin/openssl"))
struct TLSTests {
    /// Runs openssl with `arguments` in `directory`, failing the test on a non-zero exit.
    func openssl(_ arguments: [String], in directory: String) throws {
        let process = try ChildProcess("/usr/bin/openssl", arguments, stderrPath: directory + "/openssl.log")
        let status = try process.waitForExit(timeoutSeconds: 30)
        guard status == 0 else { throw TestFailure("openssl \(arguments.first ?? "") exited \(status)") }
    }

    /// A CA, a server certificate for 127.0.0.1 and a client certificate, all signed by the CA.
    func makePKI(_ dir: String) throws {
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"]
        try openssl(["req", "-x509"] + ec + ["-keyout", dir + "/ca.key", "-out", dir + "/ca.crt", "-subj", "/CN=swcopy test CA"], in: dir)
        try openssl(["req", "-x509"] + ec + ["-keyout", dir + "/server.key", "-out", dir + "/server.crt", "-subj", "/CN=localhost",
                     "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-CA", dir + "/ca.crt", "-CAkey", dir + "/ca.key"], in: dir)
        try openssl(["req", "-x509"] + ec + ["-keyout", dir + "/client.key", "-out", dir + "/client.cert", "-subj", "/CN=swcopy client",
                     "-CA", dir + "/ca.crt", "-CAkey", dir + "/ca.key"], in: dir)
    }

    /// A free port on 127.0.0.1 (bound and released; good enough for a test).
    func freePort() -> UInt16 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { p -> Int32 in
                bind(fd, p, length)
                return getsockname(fd, p, &length)
            }
        }
        return UInt16(bigEndian: addr.sin_port)
    }

    /// `openssl s_server -www`: answers any GET with 200 and a status page.
    private func startServer(_ dir: String, requireClientCertificate: Bool) throws -> (ChildProcess, UInt16) {
        let port = freePort()
        var arguments = ["s_server", "-accept", "127.0.0.1:\(port)", "-cert", dir + "/server.crt", "-key", dir + "/server.key", "-www"]
        if requireClientCertificate { arguments += ["-Verify", "1", "-CAfile", dir + "/ca.crt"] }
        let process = try ChildProcess("/usr/bin/openssl", arguments, stderrPath: dir + "/s_server.log")
        _ = try process.readLine(containing: "ACCEPT", timeoutSeconds: 20)
        return (process, port)
    }

    @Test func certDirectoryAddsCAsAndVerificationIsOnByDefault() async throws {
        let dir = makeTemporaryDirectory(prefix: "swr-client-tls")
        defer { removeTree(dir) }
        try makePKI(dir)
        let certs = dir + "/certs.d"
        _ = mkdirTree(certs)
        try writeFile(certs + "/ca.crt", readFile(dir + "/ca.crt")!)
        let (server, port) = try startServer(dir, requireClientCertificate: false)
        defer { server.signal(SIGKILL); _ = try? server.waitForExit() }
        let engine = TransferEngine()
        defer { engine.shutdown() }

        var trusted = ClientOptions()
        trusted.certDirectory = certs
        trusted.retryTimes = 0
        try await RegistryClient(registry: "127.0.0.1:\(port)", options: trusted, engine: engine).ping()

        var untrusted = ClientOptions()
        untrusted.retryTimes = 0
        let failure = await #expect(throws: RegistryClientError.self) {
            try await RegistryClient(registry: "127.0.0.1:\(port)", options: untrusted, engine: engine).ping()
        }
        #expect(failure?.kind == .transport, "\(failure?.description ?? "")")

        // Without verification the self-signed server is accepted over https.
        var insecure = ClientOptions()
        insecure.tlsVerify = false
        try await RegistryClient(registry: "127.0.0.1:\(port)", options: insecure, engine: engine).ping()
    }

    @Test func clientCertificateFromCertDirectory() async throws {
        let dir = makeTemporaryDirectory(prefix: "swr-client-mtls")
        defer { removeTree(dir) }
        try makePKI(dir)
        let certs = dir + "/certs.d"
        _ = mkdirTree(certs)
        for name in ["ca.crt", "client.cert", "client.key"] {
            try writeFile(certs + "/" + name, readFile(dir + "/" + name)!)
        }
        let (server, port) = try startServer(dir, requireClientCertificate: true)
        defer { server.signal(SIGKILL); _ = try? server.waitForExit() }
        let engine = TransferEngine()
        defer { engine.shutdown() }
        var options = ClientOptions()
        options.certDirectory = certs
        options.retryTimes = 0
        try await RegistryClient(registry: "127.0.0.1:\(port)", options: options, engine: engine).ping()

        // The server insists on a client certificate: the CA alone does not get in.
        let caOnly = dir + "/ca-only"
        _ = mkdirTree(caOnly)
        try writeFile(caOnly + "/ca.crt", readFile(dir + "/ca.crt")!)
        var withoutCertificate = options
        withoutCertificate.certDirectory = caOnly
        let refused = await #expect(throws: RegistryClientError.self) {
            try await RegistryClient(registry: "127.0.0.1:\(port)", options: withoutCertificate, engine: engine).ping()
        }
        #expect(refused?.kind == .transport, "\(refused?.description ?? "")")

        // A key without its certificate is a configuration error, reported before any connection.
        unlink(certs + "/client.cert")
        let failure = await #expect(throws: RegistryClientError.self) {
            try await RegistryClient(registry: "127.0.0.1:\(port)", options: options, engine: engine).ping()
        }
        #expect(failure?.kind == .local, "\(failure?.description ?? "")")
    }
}
