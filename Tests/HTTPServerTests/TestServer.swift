import Glibc
import HTTPServer
import Logging
import SystemIO

/// Routes for the live tests.
struct TestResponder: HTTPResponder {
    let filePath: String

    func respond(to request: Request, body: RequestBody) async throws -> Response {
        switch (request.method, request.path) {
        case ("GET", "/hello"), ("HEAD", "/hello"):
            return Response(status: .ok, headers: ["Content-Type": "text/plain"], bytes: Array("hello".utf8))
        case ("POST", "/sink"), ("PUT", "/sink"):
            // Consumes the body without keeping it: counts bytes and folds them into a checksum.
            var count: Int64 = 0
            var sum: UInt64 = 0
            for try await chunk in body {
                count += Int64(chunk.count)
                for b in chunk.prefix(16) { sum = sum &* 31 &+ UInt64(b) }
            }
            return Response(status: .ok, bytes: Array("\(count)".utf8))
        case ("POST", "/late-sink"):
            // Busy for a while before it reads the body: the connection stops reading at its high-water mark.
            try await Task.sleep(for: .milliseconds(1500))
            var count: Int64 = 0
            for try await chunk in body { count += Int64(chunk.count) }
            return Response(status: .ok, bytes: Array("\(count)".utf8))
        case ("POST", "/recycle"):
            // Reads slowly (the connection stops reading at its high-water mark), hands every chunk back for
            // reuse, and answers the byte count and an order-sensitive checksum of every byte.
            var count: Int64 = 0
            var sum: UInt64 = 14_695_981_039_346_656_037
            while let chunk = try await body.next() {
                count += Int64(chunk.count)
                chunk.withUnsafeBufferPointer { for b in $0 { sum = (sum ^ UInt64(b)) &* 1_099_511_628_211 } }
                try await Task.sleep(for: .milliseconds(2))
                body.recycle([chunk])
            }
            return Response(status: .ok, bytes: Array("\(count) \(sum)".utf8))
        case ("POST", "/echo"):
            let bytes = try await body.collect(upTo: 1 << 20)
            return Response(status: .ok, bytes: bytes)
        case ("POST", "/small"):
            let bytes = try await body.collect(upTo: 10)
            return Response(status: .ok, bytes: bytes)
        case ("POST", "/reject"):
            return Response(status: .forbidden, bytes: Array("no".utf8))
        case ("GET", "/loop"):
            // The name of the thread serving this connection (its event loop's).
            let fd = open("/proc/thread-self/comm", O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { return .text(.notFound, "no comm") }
            defer { close(fd) }
            var name = [UInt8](repeating: 0, count: 64)
            let n = read(fd, &name, name.count)
            return Response(status: .ok, bytes: Array(name[0..<max(0, n)]).filter { $0 != 10 })
        case ("GET", "/slow"):
            try await Task.sleep(for: .milliseconds(700))
            return Response(status: .ok, bytes: Array("slow".utf8))
        case ("GET", "/file"), ("HEAD", "/file"):
            let fd = open(filePath, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { return .text(.notFound, "no file") }
            var st = stat()
            fstat(fd, &st)
            return Response(status: .ok, headers: ["Accept-Ranges": "bytes"],
                            body: .file(SharedFileDescriptor(taking: fd), offset: 0, length: Int64(st.st_size)))
        default:
            return .text(.notFound, "not found")
        }
    }
}

/// A live server on 127.0.0.1 with an ephemeral port.
final class LiveServer {
    let server: HTTPServer
    let filePath: String
    var port: UInt16 { server.localAddress.port }

    /// - Parameter responder: what answers; nil for `TestResponder`'s routes.
    init(logger: Logger? = nil, responder: (any HTTPResponder)? = nil,
         configure: (inout ServerConfiguration) -> Void = { _ in }) throws {
        filePath = "/tmp/swr-test-file-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let bytes = (0..<10_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let f = fopen(filePath, "w")!
        _ = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, f) }
        fclose(f)
        var config = ServerConfiguration(address: try SocketAddress(parsing: "127.0.0.1:0"), eventLoopCount: 2)
        configure(&config)
        var quiet = Logger(label: "test")
        quiet.logLevel = .critical
        server = try HTTPServer(configuration: config, responder: responder ?? TestResponder(filePath: filePath), logger: logger ?? quiet)
    }

    func stop() {
        server.shutdown(grace: 1)
        server.wait()
        unlink(filePath)
    }

    deinit { unlink(filePath) }

    static let fileBytes: [UInt8] = (0..<10_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
}
