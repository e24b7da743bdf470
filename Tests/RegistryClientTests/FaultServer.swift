import Glibc
import Synchronization
import SystemIO
import TestSupport

/// A request as the fault server read it (head only; the body is read through the connection).
struct RawRequest: Sendable {
    var method: String
    var target: String
    var headers: [(String, String)]

    func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }

    var path: String { String(target.prefix { $0 != "?" }) }
    var contentLength: Int { header("Content-Length").flatMap { Int($0) } ?? 0 }
}

/// One client connection of the fault server; handlers answer through it, well or badly.
final class FaultConnection {
    let fd: Int32
    private var buffer: [UInt8] = []
    private(set) var closed = false
    fileprivate var bodyRemaining = 0

    init(fd: Int32) { self.fd = fd }

    /// Reads the request body: all of it, or only its first `limit` bytes (the rest stays unread).
    func readBody(limit: Int? = nil) -> [UInt8] {
        let want = min(bodyRemaining, limit ?? bodyRemaining)
        var out: [UInt8] = []
        while out.count < want {
            if buffer.isEmpty, !fill() { break }
            let take = min(want - out.count, buffer.count)
            out += buffer[0..<take]
            buffer.removeFirst(take)
        }
        bodyRemaining -= out.count
        return out
    }

    /// Sends a complete response.
    func respond(_ status: Int, headers: [(String, String)] = [], body: [UInt8] = [], isHead: Bool = false) {
        var head = "HTTP/1.1 \(status) Status\r\n"
        var hasLength = false
        for (name, value) in headers {
            if name.lowercased() == "content-length" {
                if !isHead { continue }
                hasLength = true
            }
            if name.lowercased() == "connection" || name.lowercased() == "transfer-encoding" { continue }
            head += "\(name): \(value)\r\n"
        }
        if !isHead || !hasLength { head += "Content-Length: \(body.count)\r\n" }
        head += "\r\n"
        send(Array(head.utf8) + (isHead ? [] : body))
    }

    /// Forwards an upstream response.
    func respond(_ response: Forwarded, isHead: Bool) {
        respond(response.status, headers: response.headers, body: response.body, isHead: isHead)
    }

    /// Declares `declaredLength` bytes, sends `body` (fewer), and closes: a connection cut mid-body.
    func respondTruncated(_ status: Int, headers: [(String, String)], declaredLength: Int, body: [UInt8]) {
        var head = "HTTP/1.1 \(status) Status\r\n"
        for (name, value) in headers where name.lowercased() != "content-length" && name.lowercased() != "connection" {
            head += "\(name): \(value)\r\n"
        }
        head += "Content-Length: \(declaredLength)\r\n\r\n"
        send(Array(head.utf8) + body)
        close()
    }

    func send(_ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
            if n <= 0 {
                if n < 0 && errno == EINTR { continue }
                return
            }
            offset += n
        }
    }

    /// Closes the connection at once (RST if unread bytes remain, as a crashed peer would).
    func close() {
        guard !closed else { return }
        closed = true
        Glibc.shutdown(fd, Int32(SHUT_RDWR))
    }

    fileprivate func fill() -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 {
                buffer += chunk[0..<n]
                return true
            }
            if n < 0 && errno == EINTR { continue }
            return false
        }
    }

    /// Reads the next request head; nil at end of stream.
    fileprivate func readHead() -> RawRequest? {
        while true {
            // A TLS ClientHello (record type 0x16): answer as a plain-HTTP server would, by closing.
            if buffer.first == 0x16 { return nil }
            if let end = findHeadEnd() {
                let text = String(decoding: buffer[0..<end], as: UTF8.self)
                buffer.removeFirst(end + 4)
                let lines = text.components(separatedBy: "\r\n")
                let parts = lines[0].split(separator: " ")
                guard parts.count >= 2 else { return nil }
                var headers: [(String, String)] = []
                for line in lines.dropFirst() {
                    guard let colon = line.firstIndex(of: ":") else { continue }
                    headers.append((String(line[..<colon]), String(line[line.index(after: colon)...]).trimmingCharacters(in: " ")))
                }
                let request = RawRequest(method: String(parts[0]), target: String(parts[1]), headers: headers)
                bodyRemaining = request.method == "HEAD" ? 0 : request.contentLength
                return request
            }
            guard fill() else { return nil }
        }
    }

    private func findHeadEnd() -> Int? {
        guard buffer.count >= 4 else { return nil }
        for i in 0...(buffer.count - 4) where buffer[i] == 13 && buffer[i + 1] == 10 && buffer[i + 2] == 13 && buffer[i + 3] == 10 {
            return i
        }
        return nil
    }
}

/// A small threaded HTTP/1.1 server on 127.0.0.1 whose handler decides, request by request, how to answer: well,
/// badly (cut, corrupt, throttled), or by forwarding to a real registry. Keeps count of connections and
/// requests so tests can check what the client did.
final class FaultServer: @unchecked Sendable {
    typealias Handler = @Sendable (RawRequest, FaultConnection, FaultServer) -> Void

    let port: UInt16
    private let listenFD: Int32
    private let handler: Handler
    private let stats = Mutex(Stats())
    private var acceptThread: pthread_t?

    struct Stats {
        var connections = 0
        var requests: [RawRequest] = []
        var inFlight = 0
        var maxInFlight = 0
        var counters: [String: Int] = [:]
    }

    init(handler: @escaping Handler) throws {
        self.handler = handler
        let listenFD = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        self.listenFD = listenFD
        var one: Int32 = 1
        setsockopt(listenFD, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = 0
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listenFD, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(listenFD, 64) == 0 else { throw SystemError("bind/listen", errno: errno) }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listenFD, $0, &length) }
        }
        port = UInt16(bigEndian: addr.sin_port)
        acceptThread = SystemIO.Thread.start(name: "fault-accept") { [self] in acceptLoop() }
    }

    func stop() {
        Glibc.shutdown(listenFD, Int32(SHUT_RDWR))
        if let acceptThread { pthread_join(acceptThread, nil) }
        acceptThread = nil
        Glibc.close(listenFD)
    }

    deinit {
        if acceptThread != nil { stop() }
    }

    var address: String { "127.0.0.1:\(port)" }
    var connections: Int { stats.withLock { $0.connections } }
    var requests: [RawRequest] { stats.withLock { $0.requests } }
    var maxInFlight: Int { stats.withLock { $0.maxInFlight } }

    /// Increments and returns a named counter (handlers use it to fail "the first time" only).
    @discardableResult
    func count(_ key: String) -> Int {
        stats.withLock { state in
            state.counters[key, default: 0] += 1
            return state.counters[key]!
        }
    }

    func counter(_ key: String) -> Int { stats.withLock { $0.counters[key] ?? 0 } }

    private func acceptLoop() {
        while true {
            let fd = accept(listenFD, nil, nil)
            if fd < 0 {
                if errno == EINTR || errno == ECONNABORTED { continue }
                return
            }
            stats.withLock { $0.connections += 1 }
            SystemIO.Thread.start(name: "fault-conn") { [self] in serve(fd) }
        }
    }

    private func serve(_ fd: Int32) {
        let connection = FaultConnection(fd: fd)
        defer { Glibc.close(fd) }
        while !connection.closed, let request = connection.readHead() {
            stats.withLock { state in
                state.requests.append(request)
                state.inFlight += 1
                state.maxInFlight = max(state.maxInFlight, state.inFlight)
            }
            handler(request, connection, self)
            stats.withLock { $0.inFlight -= 1 }
            if !connection.closed && connection.bodyRemaining > 0 { _ = connection.readBody() }
        }
    }

    /// Sends a request (with `body`) to a server on 127.0.0.1:`port` and returns its answer; `Range` and other
    /// fields are copied unless `dropping` names them.
    static func forward(_ request: RawRequest, body: [UInt8], to port: UInt16, dropping: Set<String> = [],
                        target: String? = nil) -> Forwarded {
        let skip = Set(["host", "content-length", "connection", "expect"]).union(Set(dropping.map { $0.lowercased() }))
        let headers = request.headers.filter { !skip.contains($0.0.lowercased()) }
        do {
            let client = try TestClient(port: port, timeoutSeconds: 10)
            let response = try client.request(request.method, target ?? request.target, headers: headers, body: body)
            return Forwarded(status: response.status, headers: response.headers, body: response.body)
        } catch {
            return Forwarded(status: 502, headers: [], body: Array("upstream failed: \(error)".utf8))
        }
    }
}

/// An upstream answer as the fault server relays it (handlers may edit it).
struct Forwarded: Sendable {
    var status: Int
    var headers: [(String, String)]
    var body: [UInt8]

    func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }
}
