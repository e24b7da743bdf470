import COpenSSL
import Glibc
import SystemIO
import TestSupport

/// A blocking TLS client over a `TestClient` socket, for the live TLS tests: it sends exact bytes (pipelined
/// requests) and tells what was negotiated.
final class TLSTestClient {
    struct Options {
        var caPath: String?
        var maxVersion: Int32 = 0
        var minVersion: Int32 = 0
        var alpn: [String] = ["http/1.1"]
        var certificatePath: String?
        var keyPath: String?
    }

    struct HandshakeError: Error, CustomStringConvertible { let description: String }
    struct ClosedError: Error {}

    let socket: TestClient
    private let context: OpaquePointer
    private let ssl: OpaquePointer
    private var buffer: [UInt8] = []

    init(port: UInt16, _ options: Options = Options(), timeoutSeconds: Int = 10) throws {
        socket = try TestClient(port: port, timeoutSeconds: timeoutSeconds)
        context = SSL_CTX_new(TLS_client_method())!
        if options.minVersion != 0 { _ = swssl_ctx_set_min_proto_version(context, options.minVersion) }
        if options.maxVersion != 0 { _ = swssl_ctx_set_max_proto_version(context, options.maxVersion) }
        if let ca = options.caPath {
            _ = SSL_CTX_load_verify_locations(context, ca, nil)
            SSL_CTX_set_verify(context, SSL_VERIFY_PEER, nil)
        }
        if let cert = options.certificatePath, let key = options.keyPath {
            _ = SSL_CTX_use_certificate_chain_file(context, cert)
            _ = SSL_CTX_use_PrivateKey_file(context, key, SSL_FILETYPE_PEM)
        }
        if !options.alpn.isEmpty {
            let wire = options.alpn.flatMap { [UInt8($0.utf8.count)] + Array($0.utf8) }
            _ = SSL_CTX_set_alpn_protos(context, wire, UInt32(wire.count))
        }
        ssl = SSL_new(context)!
        SSL_set_fd(ssl, socket.fd)
        ERR_clear_error()
        if SSL_connect(ssl) != 1 {
            throw HandshakeError(description: "handshake: \(Self.error())")
        }
    }

    deinit {
        SSL_free(ssl)
        SSL_CTX_free(context)
    }

    static func error() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        swssl_take_error(&buffer, buffer.count)
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The negotiated version, e.g. "TLSv1.3".
    var version: String { String(cString: SSL_get_version(ssl)) }

    /// The protocol ALPN selected, "" for none.
    var alpn: String {
        var data: UnsafePointer<UInt8>?
        var length: UInt32 = 0
        SSL_get0_alpn_selected(ssl, &data, &length)
        guard let data else { return "" }
        return String(decoding: UnsafeBufferPointer(start: data, count: Int(length)), as: UTF8.self)
    }

    /// The server certificate's subject (RFC 2253).
    var serverSubject: String {
        var buffer = [CChar](repeating: 0, count: 512)
        let n = swssl_peer_subject(ssl, &buffer, Int32(buffer.count))
        return n < 0 ? "" : String(decoding: buffer[0..<Int(n)].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    func send(_ text: String) throws {
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            ERR_clear_error()
            let n = bytes.withUnsafeBytes { SSL_write(ssl, $0.baseAddress! + offset, Int32($0.count - offset)) }
            guard n > 0 else { throw HandshakeError(description: "SSL_write: \(Self.error())") }
            offset += Int(n)
        }
    }

    /// Reads up to `count` decrypted bytes; 0 at the end of the stream or an error.
    func read(into chunk: UnsafeMutableRawBufferPointer) -> Int {
        if !buffer.isEmpty {
            let n = min(buffer.count, chunk.count)
            chunk.copyBytes(from: buffer[0..<n])
            buffer.removeFirst(n)
            return n
        }
        ERR_clear_error()
        let n = SSL_read(ssl, chunk.baseAddress, Int32(chunk.count))
        return n > 0 ? Int(n) : 0
    }

    private func fill() -> Bool {
        var chunk = [UInt8](repeating: 0, count: 16384)
        ERR_clear_error()
        let n = chunk.withUnsafeMutableBytes { SSL_read(ssl, $0.baseAddress, Int32($0.count)) }
        guard n > 0 else { return false }
        buffer.append(contentsOf: chunk[0..<Int(n)])
        return true
    }

    /// Reads one response head (status and headers), leaving the body unread.
    func readHead() throws -> (status: Int, headers: [String: String]) {
        while true {
            if let end = buffer.indices.dropLast(3).first(where: { buffer[$0] == 13 && buffer[$0 + 1] == 10 && buffer[$0 + 2] == 13 && buffer[$0 + 3] == 10 }) {
                let head = String(decoding: buffer[0..<end], as: UTF8.self)
                buffer.removeFirst(end + 4)
                let lines = head.split(separator: "\r\n")
                let status = Int(lines[0].split(separator: " ")[1]) ?? 0
                var headers: [String: String] = [:]
                for line in lines.dropFirst() {
                    if let colon = line.firstIndex(of: ":") {
                        headers[line[..<colon].lowercased()] = String(line[line.index(after: colon)...].drop { $0 == " " })
                    }
                }
                return (status, headers)
            }
            guard fill() else { throw ClosedError() }
        }
    }

    /// Reads one whole response.
    func readResponse() throws -> (status: Int, body: String) {
        let head = try readHead()
        let length = Int(head.headers["content-length"] ?? "0") ?? 0
        while buffer.count < length {
            guard fill() else { throw ClosedError() }
        }
        let body = String(decoding: buffer[0..<length], as: UTF8.self)
        buffer.removeFirst(length)
        return (head.status, body)
    }

    /// True when the server ends the connection (close_notify or TCP close) before sending anything more.
    func isClosedByPeer() -> Bool {
        buffer.isEmpty && !fill()
    }
}
