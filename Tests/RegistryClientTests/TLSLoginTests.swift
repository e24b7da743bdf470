import Foundation
import Glibc
import RegistryClient
import Testing
import TestSupport

/// `swcopy login`/`logout` and a later command against a registry behind TLS with a private CA (nginx terminating
/// TLS in front of the Basic or Bearer gate; the token realm is on the TLS side too), trusted with `--cert-dir`.
@Suite(.enabled(if: access("/usr/bin/openssl", X_OK) == 0 && access("/usr/sbin/nginx", X_OK) == 0,
                "needs /usr/bin/openssl and /usr/sbin/nginx"))
struct TLSLoginTests {
    /// nginx on `port` forwarding to `upstream`, with the server certificate of `dir` (from `TLSTests.makePKI`).
    final class TLSFront {
        let process: ChildProcess

        init(dir: String, port: UInt16, upstream: UInt16) throws {
            let root = geteuid() == 0 ? "user root root;" : ""
            let config = """
                \(root)
                worker_processes 1;
                daemon off;
                error_log \(dir)/nginx-error.log;
                pid \(dir)/nginx.pid;
                events { worker_connections 64; }
                http {
                    access_log off;
                    client_body_temp_path \(dir)/nginx-body;
                    proxy_temp_path \(dir)/nginx-proxy;
                    fastcgi_temp_path \(dir)/nginx-fastcgi;
                    uwsgi_temp_path \(dir)/nginx-uwsgi;
                    scgi_temp_path \(dir)/nginx-scgi;
                    server {
                        listen 127.0.0.1:\(port) ssl;
                        ssl_certificate \(dir)/server.crt;
                        ssl_certificate_key \(dir)/server.key;
                        client_max_body_size 0;
                        location / {
                            proxy_pass http://127.0.0.1:\(upstream);
                            proxy_http_version 1.1;
                            proxy_set_header Host $http_host;
                            proxy_request_buffering off;
                            proxy_buffering off;
                        }
                    }
                }
                """
            try writeFile(dir + "/nginx.conf", Array(config.utf8))
            process = try ChildProcess("/usr/sbin/nginx", ["-p", dir, "-e", dir + "/nginx-error.log", "-c", dir + "/nginx.conf"],
                                       stderrPath: dir + "/nginx.stderr")
            // Ready when the port accepts connections.
            for _ in 0..<200 {
                let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
                var addr = sockaddr_in()
                addr.sin_family = sa_family_t(AF_INET)
                addr.sin_port = port.bigEndian
                addr.sin_addr.s_addr = inet_addr("127.0.0.1")
                let connected = withUnsafePointer(to: &addr) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
                    }
                }
                close(fd)
                if connected { return }
                usleep(25_000)
            }
            throw TestFailure("nginx did not listen on \(port): \(String(decoding: readFile(dir + "/nginx-error.log") ?? [], as: UTF8.self))")
        }

        deinit {
            process.signal(SIGTERM)
            _ = try? process.waitForExit(timeoutSeconds: 10)
        }
    }

    @Test(arguments: [AuthGate.Mode.basic, .bearer])
    func loginOverTLSWithAPrivateCA(mode: AuthGate.Mode) async throws {
        let pki = makeTemporaryDirectory(prefix: "swr-tls-login")
        defer { removeTree(pki) }
        let tls = TLSTests()
        try tls.makePKI(pki)
        let certs = pki + "/certs.d"
        _ = mkdirTree(certs)
        try writeFile(certs + "/ca.crt", readFile(pki + "/ca.crt")!)
        let port = tls.freePort()
        let registry = "127.0.0.1:\(port)"
        let gate = try await AuthGate(mode: mode, realmBase: "https://" + registry)
        defer { gate.rig.stop() }
        let front = try TLSFront(dir: pki, port: port, upstream: gate.rig.proxy.port)
        defer { withExtendedLifetime(front) {} }
        let bench = try HelperBench()
        let run = SwcopyAccessOptionsTests.run
        let login = ["login", "--cert-dir", certs, "-u", AuthGate.user, "--password-stdin", registry]

        // The private CA is not trusted without --cert-dir.
        let untrusted = try run(["login", "-u", AuthGate.user, "--password-stdin", "--retry-times", "0", registry],
                                bench.environment, AuthGate.password)
        #expect(untrusted.status == 1)
        #expect(untrusted.stderr.split(separator: "\n").count == 1, "\(untrusted.stderr)")
        #expect(!fileExists(bench.authFile))

        let refused = try run(login, bench.environment, "wrong")
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("the credentials of alice were refused"), "\(refused.stderr)")
        #expect(!fileExists(bench.authFile), "nothing stored")

        let accepted = try run(login, bench.environment, AuthGate.password)
        #expect(accepted.status == 0, "\(accepted.stderr)")
        #expect(fileMode(bench.authFile) == 0o600)
        #expect(try AuthFile(path: bench.authFile).credentials(for: registry)?.password == AuthGate.password)

        // A later command uses the stored credentials over the same TLS (the environment variable form of --cert-dir).
        var environment = bench.environment
        environment["SWCOPY_CERT_DIR"] = certs
        let tags = try run(["list-tags", "docker://\(registry)/\(gate.rig.repository)"], environment, "")
        #expect(!tags.stderr.contains("401"), "\(tags.stderr)")
        #expect(!gate.rig.proxy.requests.filter { $0.header("Authorization") != nil }.isEmpty)

        // --tls-verify=false reaches it without the CA.
        let logout = try run(["logout", "--tls-verify=false", registry], bench.environment, "")
        #expect(logout.status == 0)
        let insecure = try run(["login", "--tls-verify=false", "--creds", "\(AuthGate.user):\(AuthGate.password)", registry],
                               bench.environment, "")
        #expect(insecure.status == 0, "\(insecure.stderr)")
    }
}
