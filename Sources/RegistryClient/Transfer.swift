import CCurl
import LibcurlSupport
import Glibc
import Synchronization

/// One request in flight: a libcurl easy handle, its callbacks' state, and the continuation of the task awaiting
/// it.
///
/// Everything but ``cancelled`` is touched by the engine thread only, from `start` to `complete`; the awaiting
/// task reads the outcome after the continuation resumes, which orders those accesses.
final class Transfer: CurlExchange, @unchecked Sendable {
    let request: ClientRequest
    let sink: (any ResponseSink)?
    private let continuation: CheckedContinuation<ClientResponse, any Error>
    /// Set from any thread to stop the transfer at its next callback.
    let cancelled = Atomic<Bool>(false)

    private var easy: CurlEasyHandle?
    var handle: UnsafeMutableRawPointer? { easy?.raw }
    private var headerList: UnsafeMutablePointer<curl_slist>?
    private var status = 0
    private var headers: [(name: String, value: String)] = []
    private var body: [UInt8] = []
    private var mode = BodyMode.undecided
    private var abort: TransportError.Abort?
    private var bytesSent: Int64 = 0
    private var finished = false

    private enum BodyMode { case undecided, sink, memory, discard }

    init(request: ClientRequest, sink: (any ResponseSink)?, continuation: CheckedContinuation<ClientResponse, any Error>) {
        self.request = request
        self.sink = sink
        self.continuation = continuation
    }

    deinit {
        if let headerList { curl_slist_free_all(headerList) }
    }

    // MARK: - Set-up

    /// Makes and configures the easy handle.
    /// - Returns: nil when ready, or the error that prevented it (an option libcurl refused).
    func prepare() -> TransportError? {
        guard let easy = CurlEasyHandle() else {
            return TransportError(code: CURLE_OUT_OF_MEMORY, message: "curl_easy_init failed")
        }
        self.easy = easy
        let s = request.settings
        var options = easy.options()
        options.set(CURLOPT_URL, request.url)
        // HTTP/2 only where TLS negotiates it (ALPN); plain http stays HTTP/1.1 with keep-alive.
        options.setConnection(userAgent: s.userAgent, connectTimeoutMilliseconds: s.connectTimeoutMilliseconds,
                              stallSeconds: s.stallSeconds, httpVersion: Int(CURL_HTTP_VERSION_2TLS),
                              uploadBufferSize: 512 * 1024, verifyTLS: s.tlsVerify)
        if let ca = s.caBundle {
            let h = easy.raw
            options.check(ca.withUnsafeBytes { swcurl_setopt_blob(h, CURLOPT_CAINFO_BLOB, $0.baseAddress, $0.count) })
        }
        if let cert = s.clientCertificate { options.set(CURLOPT_SSLCERT, cert) }
        if let key = s.clientKey { options.set(CURLOPT_SSLKEY, key) }
        // Blob GETs are often redirected to storage (S3, a CDN); libcurl drops our Authorization on a host change.
        options.setExchange(self, method: request.method, bodyLength: request.body.length, maxRedirects: 10,
                            progress: true)
        // No `Expect: 100-continue` wait: credentials are settled before a body is sent, and the wait costs a
        // round trip (or a second) per upload.
        headerList = options.setHeaders(request.headers, extra: ["Expect:"])
        if options.failure != CURLE_OK {
            return TransportError(code: options.failure, message: "setting up the request for \(request.url) failed: \(String(cString: curl_easy_strerror(options.failure)))")
        }
        return nil
    }

    // MARK: - Callbacks (engine thread)

    override func receiveHeader(_ line: CurlHeaderLine) -> Bool {
        switch line {
        case .status(let code):
            // A new response (after a redirect or an interim 1xx): forget the previous one.
            status = code
            headers = []
            body = []
            mode = .undecided
        case .field(let name, let value):
            headers.append((name, value))
        case .end, .other:
            break
        }
        return true
    }

    override func receiveBody(_ bytes: UnsafeRawBufferPointer) -> Bool {
        if cancelled.load(ordering: .relaxed) {
            abort = .cancelled
            return false
        }
        if mode == .undecided { decideMode() }
        switch mode {
        case .sink:
            if sink!.write(bytes) { return true }
            abort = .sink
            return false
        case .memory:
            if body.count + bytes.count > request.memoryLimit {
                abort = .bodyTooLarge(limit: request.memoryLimit)
                return false
            }
            body.append(contentsOf: bytes)
            return true
        case .discard:
            return false
        case .undecided:
            return false
        }
    }

    private func decideMode() {
        // Interim and redirect responses never reach the body callback with FOLLOWLOCATION, so `status` is final.
        guard let sink else {
            mode = .memory
            return
        }
        switch sink.begin(status: status, headers: headers) {
        case .accept: mode = .sink
        case .decline: mode = .memory
        case .abort:
            mode = .discard
            abort = .sink
        }
    }

    override func readBody(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        if cancelled.load(ordering: .relaxed) {
            abort = .cancelled
            return Int(CURL_READFUNC_ABORT)
        }
        let remaining = request.body.length - bytesSent
        let count = Int(min(Int64(buffer.count), remaining))
        guard count > 0 else { return 0 }
        switch request.body {
        case .none:
            return 0
        case .bytes(let bytes):
            Self.copy(bytes, from: Int(bytesSent), count: count, into: buffer)
        case .file(let fd, let offset, _):
            var n: Int
            repeat {
                n = pread(fd, buffer.baseAddress, count, off_t(offset + bytesSent))
            } while n < 0 && errno == EINTR
            if n <= 0 {
                abort = .readFailed(errno: n < 0 ? errno : EIO)
                return Int(CURL_READFUNC_ABORT)
            }
            bytesSent += Int64(n)
            request.uploadProgress?(bytesSent, request.body.length)
            return n
        }
        bytesSent += Int64(count)
        request.uploadProgress?(bytesSent, request.body.length)
        return count
    }

    override func seekBody(to offset: Int64, origin: Int32) -> Int32 {
        // A PATCH appends to an upload session: sent again blindly it could append the same bytes twice. Refuse
        // so the upload asks the session's status and resumes from there instead.
        if request.method == "PATCH" { return Self.cannotSeek }
        guard origin == SEEK_SET, offset >= 0, offset <= request.body.length else { return Self.seekFailed }
        bytesSent = offset
        return Self.seekOK
    }

    override func progress() -> Int32 {
        if cancelled.load(ordering: .relaxed) {
            abort = .cancelled
            return 1
        }
        return 0
    }

    // MARK: - Completion (engine thread)

    /// Resumes the awaiting task with the response or the failure; called once.
    func complete(result code: CURLcode) {
        guard !finished else { return }
        finished = true
        if code == CURLE_OK, mode == .undecided, sink != nil {
            // An empty body never reached the write callback: let the sink see the response anyway.
            decideMode()
        }
        if code == CURLE_OK && abort == nil {
            var responseCode = 0
            var url: UnsafePointer<CChar>? = nil
            if let handle {
                _ = swcurl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &responseCode)
                _ = swcurl_getinfo_string(handle, CURLINFO_EFFECTIVE_URL, &url)
            }
            let effective = url.map { String(cString: $0) } ?? request.url
            releaseHandle()
            continuation.resume(returning: ClientResponse(
                status: responseCode != 0 ? responseCode : status, headers: headers, body: body, effectiveURL: effective))
            return
        }
        var message = easy?.errorDetail ?? ""
        if code == CURLE_URL_MALFORMAT { message = "malformed URL \(request.url)" + (message.isEmpty ? "" : ": " + message) }
        releaseHandle()
        continuation.resume(throwing: TransportError(
            code: code == CURLE_OK ? CURLE_ABORTED_BY_CALLBACK : code, message: message, abort: abort))
    }

    /// Fails the transfer without running it (set-up error, shutdown, cancelled while queued).
    func fail(_ error: TransportError) {
        guard !finished else { return }
        finished = true
        releaseHandle()
        continuation.resume(throwing: error)
    }

    /// Frees the easy handle here, on the engine thread, once it is out of the multi handle (rather than in
    /// `deinit`, on whichever thread drops the last reference).
    private func releaseHandle() {
        easy = nil
        if let headerList { curl_slist_free_all(headerList) }
        headerList = nil
    }
}

extension String {
    func trimmingSpaces() -> String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" { s.removeLast() }
        return String(s)
    }
}
