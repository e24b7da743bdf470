import Glibc
import HTTPServer
import Logging
import SystemIO
import TestSupport

/// Certificates made for one test with the `openssl` command in a scratch directory: a root CA, an intermediate
/// CA that signs the server certificates (served as a chain file: leaf, then intermediate), a client CA with a
/// client certificate, and a rogue CA with a client certificate the server must refuse.
final class TLSFixture {
    let directory: String

    init() throws {
        directory = makeTemporaryDirectory(prefix: "swr-tls")
        try shell("""
            set -e; cd '\(directory)'
            key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key" 2>/dev/null; }
            ca() { key "$1"; openssl req -x509 -new -key "$1.key" -out "$1.pem" -days 2 -subj "/CN=$2" \
                   -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign; }
            sign() { # name subject issuer extensions
                key "$1"; openssl req -new -key "$1.key" -out "$1.csr" -subj "$2"
                printf '%s\\n' "$4" > "$1.ext"
                openssl x509 -req -in "$1.csr" -CA "$3.pem" -CAkey "$3.key" -CAcreateserial -out "$1.pem" -days 2 \
                    -extfile "$1.ext" 2>/dev/null; }
            ca root "swr test root"
            sign intermediate "/CN=swr test intermediate" root "basicConstraints=critical,CA:TRUE
            keyUsage=critical,keyCertSign,cRLSign"
            server() { sign "$1" "/CN=$1" intermediate "subjectAltName=DNS:localhost,IP:127.0.0.1
            extendedKeyUsage=serverAuth"; cat "$1.pem" intermediate.pem > "$1-chain.pem"; }
            server server-a; server server-b
            ca clientca "swr test client CA"
            sign client "/O=swr tests/CN=alice" clientca "extendedKeyUsage=clientAuth"
            # A second field that prints as OU=x\\,CN=root in RFC 2253: its CN is still bob.
            sign injected "/CN=bob/OU=x,CN=root" clientca "extendedKeyUsage=clientAuth"
            sign twocn "/CN=carol/CN=root" clientca "extendedKeyUsage=clientAuth"
            ca rogue "swr rogue CA"
            sign rogueclient "/CN=mallory" rogue "extendedKeyUsage=clientAuth"
            """)
    }

    func path(_ name: String) -> String { "\(directory)/\(name)" }

    /// Server settings with the server-a chain.
    func settings(clientCAs: Bool = false, minimum: TLSVersion = .tls12) -> TLSSettings {
        TLSSettings(certificatePath: path("server-a-chain.pem"), keyPath: path("server-a.key"),
                    clientCAPaths: clientCAs ? [path("clientca.pem")] : [], minimumVersion: minimum)
    }

    /// Client options that verify the server against the root CA.
    var clientOptions: TLSTestClient.Options {
        var options = TLSTestClient.Options()
        options.caPath = path("root.pem")
        return options
    }

    deinit { _ = try? shell("rm -rf '\(directory)'") }
}

/// Routes for the TLS tests.
struct TLSTestResponder: HTTPResponder {
    let bigFilePath: String?

    func respond(to request: Request, body: RequestBody) async throws -> Response {
        switch request.path {
        case "/whoami":
            var response = Response.text(.ok, "secure=\(request.isSecure) subject=\(request.clientCertificateSubject ?? "-") cn=\(request.clientCertificateCommonName ?? "-")")
            response.authenticatedUser = request.clientCertificateSubject.map { _ in "alice smith" }
            return response
        case "/big":
            guard let bigFilePath else { return .text(.notFound, "no file") }
            let fd = open(bigFilePath, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { return .text(.notFound, "no file") }
            var st = stat()
            fstat(fd, &st)
            return Response(status: .ok, body: .file(SharedFileDescriptor(taking: fd), offset: 0, length: Int64(st.st_size)))
        case "/echo":
            return Response(status: .ok, bytes: try await body.collect(upTo: 1 << 20))
        default:
            return .text(.ok, "hello \(request.path)")
        }
    }
}

/// A live TLS server on 127.0.0.1 with an ephemeral port.
final class TLSLiveServer {
    let server: HTTPServer
    var port: UInt16 { server.localAddress.port }

    init(_ settings: TLSSettings?, bigFile: String? = nil, logger: Logger? = nil,
         configure: (inout ServerConfiguration) -> Void = { _ in }) throws {
        var config = ServerConfiguration(address: try SocketAddress(parsing: "127.0.0.1:0"), eventLoopCount: 2)
        config.tls = settings
        configure(&config)
        var quiet = Logger(label: "tls-test")
        quiet.logLevel = .critical
        server = try HTTPServer(configuration: config, responder: TLSTestResponder(bigFilePath: bigFile),
                                logger: logger ?? quiet)
    }

    func stop() {
        server.shutdown(grace: 1)
        server.wait()
    }
}
