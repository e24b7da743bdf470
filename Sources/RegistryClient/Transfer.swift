import CCurl
import Glibc
import Synchronization

/// One request in flight: a libcurl easy handle, its callbacks' state, and the continuation of the task awaiting
/// it.
///
/// Everything but ``cancelled`` is touched by the engine thread only, from `start` to `complete`; the awaiting
/// task reads the outcome after the continuation resumes, which orders those accesses.
final class Transfer: @unchecked Sendable {
    let request: ClientRequest
    let sink: (any ResponseSink)?
    private let continuation: CheckedContinuation<ClientResponse, any Error>
    /// Set from any thread to stop the transfer at its next callback.
    let cancelled = Atomic<Bool>(false)

    private(set) var handle: UnsafeMutableRawPointer?
    private var headerList: UnsafeMutablePointer<curl_slist>?
    private var errorBufferPointer: UnsafeMutablePointer<CChar>
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
        errorBufferPointer = .allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
        errorBufferPointer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
    }

    deinit {
        errorBufferPointer.deallocate()
        if let headerList { curl_slist_free_all(headerList) }
        if let handle { curl_easy_cleanup(handle) }
    }

    // MARK: - Set-up

    /// Makes and configures the easy handle.
    /// - Returns: nil when ready, or the error that prevented it (an option libcurl refused).
    func prepare() -> TransportError? {
        guard let h = curl_easy_init() else {
            return TransportError(code: CURLE_OUT_OF_MEMORY, message: "curl_easy_init failed")
        }
        handle = h
        let me = Unmanaged.passUnretained(self).toOpaque()
        let s = request.settings
        var failure: CURLcode = CURLE_OK
        func check(_ code: CURLcode) { if code != CURLE_OK && failure == CURLE_OK { failure = code } }

        check(swcurl_setopt_string(h, CURLOPT_URL, request.url))
        check(swcurl_setopt_pointer(h, CURLOPT_ERRORBUFFER, errorBufferPointer))
        check(swcurl_setopt_long(h, CURLOPT_NOSIGNAL, 1))
        check(swcurl_setopt_string(h, CURLOPT_USERAGENT, s.userAgent))
        check(swcurl_setopt_long(h, CURLOPT_CONNECTTIMEOUT_MS, s.connectTimeoutMilliseconds))
        check(swcurl_setopt_long(h, CURLOPT_LOW_SPEED_LIMIT, 1))
        check(swcurl_setopt_long(h, CURLOPT_LOW_SPEED_TIME, s.stallSeconds))
        // HTTP/2 only where TLS negotiates it (ALPN); plain http stays HTTP/1.1 with keep-alive.
        check(swcurl_setopt_long(h, CURLOPT_HTTP_VERSION, Int(CURL_HTTP_VERSION_2TLS)))
        check(swcurl_setopt_long(h, CURLOPT_TCP_KEEPALIVE, 1))
        // Bigger buffers than the 16/64 KiB defaults: fewer callbacks, each hashing and writing a larger piece.
        check(swcurl_setopt_long(h, CURLOPT_BUFFERSIZE, 512 * 1024))
        check(swcurl_setopt_long(h, CURLOPT_UPLOAD_BUFFERSIZE, 512 * 1024))
        check(swcurl_setopt_long(h, CURLOPT_SSL_VERIFYPEER, s.tlsVerify ? 1 : 0))
        check(swcurl_setopt_long(h, CURLOPT_SSL_VERIFYHOST, s.tlsVerify ? 2 : 0))
        if let ca = s.caBundle {
            check(ca.withUnsafeBytes { swcurl_setopt_blob(h, CURLOPT_CAINFO_BLOB, $0.baseAddress, $0.count) })
        }
        if let cert = s.clientCertificate { check(swcurl_setopt_string(h, CURLOPT_SSLCERT, cert)) }
        if let key = s.clientKey { check(swcurl_setopt_string(h, CURLOPT_SSLKEY, key)) }

        check(swcurl_setopt_header_function(h, transferHeaderCallback))
        check(swcurl_setopt_pointer(h, CURLOPT_HEADERDATA, me))
        check(swcurl_setopt_write_function(h, transferWriteCallback))
        check(swcurl_setopt_pointer(h, CURLOPT_WRITEDATA, me))
        check(swcurl_setopt_xferinfo_function(h, transferProgressCallback))
        check(swcurl_setopt_pointer(h, CURLOPT_XFERINFODATA, me))
        check(swcurl_setopt_long(h, CURLOPT_NOPROGRESS, 0))

        switch request.method {
        case "GET":
            // Blob GETs are often redirected to storage (S3, a CDN); libcurl drops our Authorization on a host change.
            check(swcurl_setopt_long(h, CURLOPT_FOLLOWLOCATION, 1))
            check(swcurl_setopt_long(h, CURLOPT_MAXREDIRS, 10))
        case "HEAD":
            check(swcurl_setopt_long(h, CURLOPT_NOBODY, 1))
            check(swcurl_setopt_long(h, CURLOPT_FOLLOWLOCATION, 1))
            check(swcurl_setopt_long(h, CURLOPT_MAXREDIRS, 10))
        case "DELETE":
            check(swcurl_setopt_string(h, CURLOPT_CUSTOMREQUEST, "DELETE"))
        default:
            // POST, PUT, PATCH: an upload with a known length, so libcurl sends Content-Length (never chunked
            // encoding, which registries treat differently) and streams the body through the read callback.
            check(swcurl_setopt_long(h, CURLOPT_UPLOAD, 1))
            check(swcurl_setopt_off(h, CURLOPT_INFILESIZE_LARGE, curl_off_t(request.body.length)))
            check(swcurl_setopt_read_function(h, transferReadCallback))
            check(swcurl_setopt_pointer(h, CURLOPT_READDATA, me))
            // libcurl resends a request whose reused connection turned out dead; it rewinds the body through this.
            check(swcurl_setopt_seek_function(h, transferSeekCallback))
            check(swcurl_setopt_pointer(h, CURLOPT_SEEKDATA, me))
            check(swcurl_setopt_string(h, CURLOPT_CUSTOMREQUEST, request.method))
        }

        var list: UnsafeMutablePointer<curl_slist>? = nil
        for (name, value) in request.headers {
            list = curl_slist_append(list, "\(name): \(value)")
        }
        // No `Expect: 100-continue` wait: credentials are settled before a body is sent, and the wait costs a
        // round trip (or a second) per upload.
        list = curl_slist_append(list, "Expect:")
        headerList = list
        check(swcurl_setopt_slist(h, CURLOPT_HTTPHEADER, list))
        if failure != CURLE_OK {
            return TransportError(code: failure, message: "setting up the request for \(request.url) failed: \(String(cString: curl_easy_strerror(failure)))")
        }
        return nil
    }

    // MARK: - Callbacks (engine thread)

    fileprivate func receiveHeader(_ line: UnsafeRawBufferPointer) {
        // Trim CR LF as bytes: in Swift "\r\n" is one Character, which a Character comparison would miss.
        var end = line.count
        while end > 0, line[end - 1] == 0x0D || line[end - 1] == 0x0A { end -= 1 }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: line[0..<end]), as: UTF8.self)
        if text.hasPrefix("HTTP/") {
            // A new response (after a redirect or an interim 1xx): forget the previous one.
            let parts = text.split(separator: " ", maxSplits: 2)
            status = parts.count > 1 ? Int(parts[1]) ?? 0 : 0
            headers = []
            body = []
            mode = .undecided
            return
        }
        guard let colon = text.firstIndex(of: ":") else { return }
        let name = String(text[..<colon]).trimmingSpaces()
        let value = String(text[text.index(after: colon)...]).trimmingSpaces()
        headers.append((name, value))
    }

    fileprivate func receiveBody(_ bytes: UnsafeRawBufferPointer) -> Bool {
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

    fileprivate func readBody(into buffer: UnsafeMutableRawBufferPointer) -> Int {
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
            let start = Int(bytesSent)
            bytes.withUnsafeBytes { source in
                buffer.baseAddress!.copyMemory(from: source.baseAddress! + start, byteCount: count)
            }
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

    fileprivate func seekBody(to offset: Int64, origin: Int32) -> Int32 {
        // A PATCH appends to an upload session: sent again blindly it could append the same bytes twice. Refuse
        // (CURL_SEEKFUNC_CANTSEEK) so the upload asks the session's status and resumes from there instead.
        if request.method == "PATCH" { return 2 }
        guard origin == SEEK_SET, offset >= 0, offset <= request.body.length else { return 1 }  // CURL_SEEKFUNC_FAIL
        bytesSent = offset
        return 0  // CURL_SEEKFUNC_OK
    }

    fileprivate func progress() -> Int32 {
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
        var message = String(cString: errorBufferPointer)
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
        if let handle { curl_easy_cleanup(handle) }
        handle = nil
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

// MARK: - C callbacks

private func transferHeaderCallback(_ data: UnsafeMutablePointer<CChar>?, _ size: Int, _ count: Int, _ user: UnsafeMutableRawPointer?) -> Int {
    let transfer = Unmanaged<Transfer>.fromOpaque(user!).takeUnretainedValue()
    transfer.receiveHeader(UnsafeRawBufferPointer(start: data, count: size * count))
    return size * count
}

private func transferWriteCallback(_ data: UnsafeMutablePointer<CChar>?, _ size: Int, _ count: Int, _ user: UnsafeMutableRawPointer?) -> Int {
    let transfer = Unmanaged<Transfer>.fromOpaque(user!).takeUnretainedValue()
    return transfer.receiveBody(UnsafeRawBufferPointer(start: data, count: size * count)) ? size * count : 0
}

private func transferReadCallback(_ data: UnsafeMutablePointer<CChar>?, _ size: Int, _ count: Int, _ user: UnsafeMutableRawPointer?) -> Int {
    let transfer = Unmanaged<Transfer>.fromOpaque(user!).takeUnretainedValue()
    return transfer.readBody(into: UnsafeMutableRawBufferPointer(start: data, count: size * count))
}

private func transferSeekCallback(_ user: UnsafeMutableRawPointer?, _ offset: curl_off_t, _ origin: Int32) -> Int32 {
    let transfer = Unmanaged<Transfer>.fromOpaque(user!).takeUnretainedValue()
    return transfer.seekBody(to: Int64(offset), origin: origin)
}

private func transferProgressCallback(_ user: UnsafeMutableRawPointer?, _ dlTotal: curl_off_t, _ dlNow: curl_off_t,
                                      _ ulTotal: curl_off_t, _ ulNow: curl_off_t) -> Int32 {
    let transfer = Unmanaged<Transfer>.fromOpaque(user!).takeUnretainedValue()
    return transfer.progress()
}
