import CCurl
import LibcurlSupport
import Glibc
import OCIModel
import Synchronization

/// One S3 request, before signing.
struct S3Request {
    var method: String
    /// The object key; nil for requests on the bucket itself (listings, DeleteObjects).
    var key: String?
    var query: [(name: String, value: String)] = []
    var headers: [(name: String, value: String)] = []
    var body: Body = .none

    enum Body {
        case none
        /// A small body held in memory, signed with its real SHA-256.
        case bytes([UInt8])
        /// A streamed body of a known length, sent as `UNSIGNED-PAYLOAD`: `read` fills the buffer it is given and
        /// returns how many bytes it wrote (at least 1 until `length` bytes are out).
        case stream(length: Int64, read: (UnsafeMutableRawBufferPointer) throws -> Int)

        var length: Int64 {
            switch self {
            case .none: 0
            case .bytes(let bytes): Int64(bytes.count)
            case .stream(let length, _): length
            }
        }
    }
}

/// A response's status line and headers (names lowercased).
public struct S3ResponseHead: Sendable {
    public var status: Int
    public var headers: [(name: String, value: String)]

    /// The first header named `name` (case-insensitive).
    public func header(_ name: String) -> String? {
        let lower = name.lowercased()
        return headers.first { $0.name == lower }?.value
    }
}

/// Where a response's body goes when the status is 2xx (error bodies are always buffered, to parse them).
struct BodySink {
    var head: (S3ResponseHead) throws -> Void
    var body: (UnsafeRawBufferPointer) throws -> Void
}

/// A finished exchange: 2xx bodies are here unless a sink took them.
struct S3Response {
    var head: S3ResponseHead
    var body: [UInt8]
    var status: Int { head.status }
    func header(_ name: String) -> String? { head.header(name) }
}

/// Performs requests on pooled libcurl easy handles, signed by libcurl's `CURLOPT_AWS_SIGV4`.
final class S3Transport: Sendable {
    let configuration: S3Configuration
    let scheme: String
    let authority: String
    private let pool: EasyHandlePool
    private let signing: String
    /// New connections opened so far (libcurl's CURLINFO_NUM_CONNECTS summed): tests check that calls reuse them.
    let connectionsOpened = Atomic<Int>(0)

    /// Buffered (non-streamed) answers are listings and small documents; this bounds them.
    static let bufferedBodyLimit = 64 << 20
    /// Error bodies are a few hundred bytes; this bounds a hostile or broken one.
    static let errorBodyLimit = 1 << 20

    init(_ configuration: S3Configuration) throws(S3ConfigurationError) {
        self.configuration = configuration
        (scheme, authority) = try configuration.parsedEndpoint()
        pool = EasyHandlePool(capacity: configuration.maximumIdleHandles)
        // "provider1:provider2:region:service": curl then sends `x-amz-date` and the `Authorization` header
        // (AWS4-HMAC-SHA256 with SignedHeaders over every header it sends).
        signing = "aws:amz:\(configuration.region):s3"
    }

    /// The request's URL: path-style `scheme://host/bucket/key` or virtual-hosted `scheme://bucket.host/key`, with
    /// the key and query SigV4-encoded so that the URL *is* the canonical form (see ``SigV4/canonicalQuery(_:)``).
    func url(key: String?, query: [(name: String, value: String)] = []) -> String {
        let (host, path) = hostAndPath(key: key)
        let queryString = query.isEmpty ? "" : "?" + SigV4.canonicalQuery(query)
        return "\(scheme)://\(host)\(path)\(queryString)"
    }

    func hostAndPath(key: String?) -> (authority: String, path: String) {
        let encodedKey = key.map { SigV4.encode($0, keepSlash: true) } ?? ""
        if configuration.forcePathStyle {
            return (authority, "/" + SigV4.encode(configuration.bucket) + (key == nil ? "" : "/" + encodedKey))
        }
        return (configuration.bucket + "." + authority, "/" + encodedKey)
    }

    /// Sends a request and waits for its answer, retrying transient failures of replayable requests.
    ///
    /// - Parameters:
    ///   - request: What to send.
    ///   - sink: Where a 2xx body goes; nil buffers it (up to ``bufferedBodyLimit``).
    /// - Returns: The response, whatever its status.
    /// - Throws: ``S3Error/transport(code:message:)`` when no answer came, ``S3Error/aborted(_:)`` when a
    ///   callback threw.
    func perform(_ request: S3Request, sink: BodySink? = nil) throws(S3Error) -> S3Response {
        // Replayable: the body can be sent again and nothing reached a sink yet. A streamed body cannot be
        // rewound, so those are tried once (the caller owns the source and can retry from its side).
        var replayable = true
        if case .stream = request.body { replayable = false }
        var attempt = 0
        while true {
            attempt += 1
            let state = TransferState(request: request, sink: sink)
            let result: Result<S3Response, S3Error>
            do throws(S3Error) {
                result = .success(try run(request, state: state))
            } catch {
                result = .failure(error)
            }
            let retry: Bool
            switch result {
            case .success(let response): retry = response.status == 500 || response.status == 503
            case .failure(.transport(let code, _)): retry = Self.isStaleConnection(code)
            case .failure: retry = false
            }
            guard retry, replayable, !state.deliveredToSink, attempt < 3 else { return try result.get() }
            // 50 ms, then 200 ms: S3's SlowDown asks for backoff; a reused connection the server had closed
            // (curl's own retry covers most of those) succeeds at once.
            usleep(UInt32(50_000 * (attempt == 1 ? 1 : 4)))
        }
    }

    /// The server closed a reused keep-alive connection under us: the request may not have been processed.
    private static func isStaleConnection(_ code: Int) -> Bool {
        code == Int(CURLE_SEND_ERROR.rawValue) || code == Int(CURLE_RECV_ERROR.rawValue)
            || code == Int(CURLE_GOT_NOTHING.rawValue)
    }

    private func run(_ request: S3Request, state: TransferState) throws(S3Error) -> S3Response {
        let handle = pool.checkOut()
        defer { pool.checkIn(handle) }
        var headerList: UnsafeMutablePointer<curl_slist>?
        defer { if let headerList { curl_slist_free_all(headerList) } }
        var options = handle.options()
        options.set(CURLOPT_URL, url(key: request.key, query: request.query))
        options.set(CURLOPT_PROTOCOLS_STR, "http,https")
        // A dead endpoint answers an error within the connect timeout; a stalled one within the stall timeout.
        // Bodies up to 1 MiB per read callback: a 5 MiB part goes in a few.
        options.setConnection(userAgent: "swregistry-s3",
                              connectTimeoutMilliseconds: Self.milliseconds(configuration.connectTimeout),
                              stallSeconds: max(1, Self.milliseconds(configuration.stallTimeout) / 1000),
                              httpVersion: Int(CURL_HTTP_VERSION_1_1), uploadBufferSize: 1024 * 1024)
        options.set(CURLOPT_TCP_NODELAY, 1)
        // No redirects: S3 answers where it is asked.
        options.setExchange(state, method: request.method, bodyLength: request.body.length, maxRedirects: 0)

        let payloadHash: String
        switch request.body {
        case .none: payloadHash = Self.emptyPayloadHash
        case .bytes(let bytes): payloadHash = SigV4.sha256Hex(bytes)
        case .stream: payloadHash = "UNSIGNED-PAYLOAD"
        }

        // curl 7.88 signs whatever `x-amz-content-sha256` says (and every header in this list) but does not add
        // the header itself; RGW answers 403 SignatureDoesNotMatch without it.
        var headers = [(name: "x-amz-content-sha256", value: payloadHash)]
        if let token = configuration.credentials.sessionToken { headers.append(("x-amz-security-token", token)) }
        headers += request.headers
        if SigV4.curlMissorts(headers.map(\.name)) {
            let (host, path) = hostAndPath(key: request.key)
            headers += SigV4.authorization(
                method: request.method, scheme: scheme, authority: host, path: path,
                query: SigV4.canonicalQuery(request.query), headers: headers, payloadHash: payloadHash,
                credentials: configuration.credentials, region: configuration.region, now: Int(time(nil)))
        } else {
            options.set(CURLOPT_AWS_SIGV4, signing)
            options.set(CURLOPT_USERNAME, configuration.credentials.accessKey)
            options.set(CURLOPT_PASSWORD, configuration.credentials.secretKey)
        }
        // Not `Expect:` (to save curl's 100-continue round trip on bodies over 1 MiB) nor `Accept:`: curl 7.88 signs
        // such removal entries as empty headers it then does not send, and S3 answers SignatureDoesNotMatch. The
        // headers curl adds itself (`Expect`, `Accept`, `User-Agent`) are outside the signature, as S3 allows.
        headerList = options.setHeaders(headers)
        if options.failure != CURLE_OK {
            throw .transport(code: Int(options.failure.rawValue),
                             message: "setting up \(request.method): \(String(cString: curl_easy_strerror(options.failure)))")
        }

        let code = handle.perform()
        var connects = 0
        if swcurl_getinfo_long(handle.raw, CURLINFO_NUM_CONNECTS, &connects) == CURLE_OK, connects > 0 {
            connectionsOpened.add(connects, ordering: .relaxed)
        }
        if let error = state.callbackError { throw error }
        guard code == CURLE_OK else { throw .transport(code: Int(code.rawValue), message: handle.message(for: code)) }
        let status = handle.responseCode
        let head = S3ResponseHead(status: status, headers: state.headers)
        if state.sink != nil, (200..<300).contains(status), !state.headDelivered {
            // An empty 2xx body never reached the write callback: the sink still sees the head.
            do { try state.sink?.head(head) } catch { throw (error as? S3Error) ?? .aborted("\(error)") }
        }
        return S3Response(head: head, body: state.body)
    }

    /// SHA-256 of the empty string, the payload hash of a body-less request.
    static let emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    private static func milliseconds(_ duration: Duration) -> Int {
        let (seconds, attoseconds) = duration.components
        return max(1, Int(seconds) * 1000 + Int(attoseconds / 1_000_000_000_000_000))
    }
}

/// The state of one transfer, handed to libcurl's callbacks through an unretained pointer (the transfer runs
/// synchronously inside `curl_easy_perform`, which this object outlives).
private final class TransferState: CurlExchange {
    let request: S3Request
    let sink: BodySink?
    var status = 0
    var headers: [(name: String, value: String)] = []
    var body: [UInt8] = []
    var headDelivered = false
    var deliveredToSink = false
    var callbackError: S3Error?
    var bytesSent: Int64 = 0

    init(request: S3Request, sink: BodySink?) {
        self.request = request
        self.sink = sink
    }

    override func receiveHeader(_ line: CurlHeaderLine) -> Bool {
        switch line {
        case .status(let code):
            // A new response (after an interim 1xx): forget the previous one.
            status = code
            headers = []
        case .end:
            // End of a head. A 2xx head goes to the sink before any of the body does.
            if let sink, (200..<300).contains(status), !headDelivered {
                headDelivered = true
                do {
                    try sink.head(S3ResponseHead(status: status, headers: headers))
                } catch {
                    callbackError = (error as? S3Error) ?? .aborted("\(error)")
                    return false
                }
            }
        case .field(let name, let value):
            headers.append((name.lowercased(), value))
        case .other:
            break
        }
        return true
    }

    override func receiveBody(_ bytes: UnsafeRawBufferPointer) -> Bool {
        if let sink, (200..<300).contains(status) {
            deliveredToSink = true
            do {
                try sink.body(bytes)
                return true
            } catch {
                callbackError = (error as? S3Error) ?? .aborted("\(error)")
                return false
            }
        }
        let limit = (200..<300).contains(status) ? S3Transport.bufferedBodyLimit : S3Transport.errorBodyLimit
        guard body.count + bytes.count <= limit else {
            callbackError = .invalidResponse("a \(status) answer's body is over \(limit) bytes")
            return false
        }
        body.append(contentsOf: bytes)
        return true
    }

    override func readBody(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        let remaining = request.body.length - bytesSent
        let count = Int(min(Int64(buffer.count), remaining))
        guard count > 0 else { return 0 }
        switch request.body {
        case .none:
            return 0
        case .bytes(let bytes):
            Self.copy(bytes, from: Int(bytesSent), count: count, into: buffer)
            bytesSent += Int64(count)
            return count
        case .stream(_, let read):
            let n: Int
            do {
                n = try read(UnsafeMutableRawBufferPointer(rebasing: buffer[0..<count]))
            } catch {
                callbackError = (error as? S3Error) ?? .aborted("\(error)")
                return Int(CURL_READFUNC_ABORT)
            }
            guard n > 0, n <= count else {
                callbackError = .aborted(n <= 0
                    ? "the body's source ended after \(bytesSent) of \(request.body.length) bytes"
                    : "the body's source returned \(n) bytes for a \(count)-byte buffer")
                return Int(CURL_READFUNC_ABORT)
            }
            bytesSent += Int64(n)
            return n
        }
    }

    override func seekBody(to offset: Int64, origin: Int32) -> Int32 {
        // curl rewinds to resend a body on a reused connection that turned out dead. Memory bodies can go again;
        // a stream cannot unless nothing has been read from it yet.
        guard origin == SEEK_SET, offset >= 0, offset <= request.body.length else { return Self.cannotSeek }
        switch request.body {
        case .stream where offset != bytesSent:
            return Self.cannotSeek
        default:
            bytesSent = offset
            return Self.seekOK
        }
    }
}

extension StringProtocol {
    func trimmingCharacters() -> Substring {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" { s.removeLast() }
        return s
    }
}
