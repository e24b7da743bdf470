import CCurl

/// Runs `curl_global_init` the first time: libcurl wants it once per process, before any other call and before
/// threads use it (later calls only count). Making a `CurlEasyHandle` calls it.
public func initializeLibcurl() { _ = libcurlInitialized }

private let libcurlInitialized: Void = {
    let code = swcurl_global_init_all()
    precondition(code == CURLE_OK, "curl_global_init failed: \(code)")
}()

/// A libcurl easy handle with its error buffer (set as `CURLOPT_ERRORBUFFER` by `CurlOptions`), freed together.
/// Used by one thread at a time.
public final class CurlEasyHandle: @unchecked Sendable {
    public let raw: UnsafeMutableRawPointer
    private let errorBuffer: UnsafeMutablePointer<CChar>

    /// - Returns: nil when libcurl cannot make one (out of memory).
    public init?() {
        initializeLibcurl()
        guard let raw = curl_easy_init() else { return nil }
        self.raw = raw
        errorBuffer = .allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
    }

    deinit {
        curl_easy_cleanup(raw)
        errorBuffer.deallocate()
    }

    /// Options for this handle, the error buffer first (emptied: it holds the next transfer's detail).
    public func options() -> CurlOptions {
        errorBuffer[0] = 0
        var options = CurlOptions(raw)
        options.set(CURLOPT_ERRORBUFFER, pointer: errorBuffer)
        return options
    }

    /// Runs the transfer set up on this handle, blocking (`curl_easy_perform`), after clearing an earlier detail.
    public func perform() -> CURLcode {
        errorBuffer[0] = 0
        return curl_easy_perform(raw)
    }

    /// libcurl's detail on the last failure (the error buffer), empty when it gave none.
    public var errorDetail: String { String(cString: errorBuffer) }

    /// Why a transfer failed with `code`: libcurl's detail, else its text for the code.
    public func message(for code: CURLcode) -> String {
        let detail = errorDetail
        return detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail
    }

    /// The response's status code (`CURLINFO_RESPONSE_CODE`), 0 when there was none.
    public var responseCode: Int {
        var status = 0
        _ = swcurl_getinfo_long(raw, CURLINFO_RESPONSE_CODE, &status)
        return status
    }
}

/// Sets options on an easy handle, keeping the first failure (libcurl refuses an option it does not know or a
/// value out of range), so that set-up reads as a list and is checked once.
public struct CurlOptions {
    public let handle: UnsafeMutableRawPointer
    /// The first option libcurl refused, `CURLE_OK` when none.
    public private(set) var failure: CURLcode = CURLE_OK

    public init(_ handle: UnsafeMutableRawPointer) {
        self.handle = handle
    }

    public mutating func check(_ code: CURLcode) {
        if code != CURLE_OK && failure == CURLE_OK { failure = code }
    }

    public mutating func set(_ option: CURLoption, _ value: Int) { check(swcurl_setopt_long(handle, option, value)) }
    public mutating func set(_ option: CURLoption, _ value: String) { check(swcurl_setopt_string(handle, option, value)) }
    public mutating func set(_ option: CURLoption, size value: Int64) {
        check(swcurl_setopt_off(handle, option, curl_off_t(value)))
    }
    public mutating func set(_ option: CURLoption, pointer: UnsafeMutableRawPointer?) {
        check(swcurl_setopt_pointer(handle, option, pointer))
    }

    /// What both of this package's clients set: no signals (threads), timeouts for a dead endpoint (connect) and a
    /// stalled one (less than 1 byte/s for `stallSeconds`; no overall timeout: a large body may rightly take
    /// minutes), keep-alive probes, larger buffers than libcurl's 16/64 KiB (fewer callbacks and syscalls per MiB),
    /// and TLS verification.
    public mutating func setConnection(userAgent: String, connectTimeoutMilliseconds: Int, stallSeconds: Int,
                                       httpVersion: Int, uploadBufferSize: Int, verifyTLS: Bool = true) {
        set(CURLOPT_NOSIGNAL, 1)
        set(CURLOPT_USERAGENT, userAgent)
        set(CURLOPT_CONNECTTIMEOUT_MS, connectTimeoutMilliseconds)
        set(CURLOPT_LOW_SPEED_LIMIT, 1)
        set(CURLOPT_LOW_SPEED_TIME, stallSeconds)
        set(CURLOPT_HTTP_VERSION, httpVersion)
        set(CURLOPT_TCP_KEEPALIVE, 1)
        set(CURLOPT_BUFFERSIZE, 512 * 1024)
        set(CURLOPT_UPLOAD_BUFFERSIZE, uploadBufferSize)
        set(CURLOPT_SSL_VERIFYPEER, verifyTLS ? 1 : 0)
        set(CURLOPT_SSL_VERIFYHOST, verifyTLS ? 2 : 0)
    }

    /// Routes the transfer's callbacks to `exchange` (which must outlive it) and sets the method: GET and HEAD
    /// follow up to `maxRedirects` redirects; other methods than GET, HEAD and DELETE upload `bodyLength` bytes
    /// through `readBody` (a known length, so libcurl sends Content-Length, never chunked encoding) and let libcurl
    /// rewind through `seekBody` to resend on a reused connection that turned out dead.
    public mutating func setExchange(_ exchange: CurlExchange, method: String, bodyLength: Int64, maxRedirects: Int,
                                     progress: Bool = false) {
        let me = Unmanaged.passUnretained(exchange).toOpaque()
        check(swcurl_setopt_header_function(handle, curlHeaderCallback))
        set(CURLOPT_HEADERDATA, pointer: me)
        check(swcurl_setopt_write_function(handle, curlWriteCallback))
        set(CURLOPT_WRITEDATA, pointer: me)
        if progress {
            check(swcurl_setopt_xferinfo_function(handle, curlProgressCallback))
            set(CURLOPT_XFERINFODATA, pointer: me)
            set(CURLOPT_NOPROGRESS, 0)
        }
        func follow() {
            set(CURLOPT_FOLLOWLOCATION, maxRedirects > 0 ? 1 : 0)
            if maxRedirects > 0 { set(CURLOPT_MAXREDIRS, maxRedirects) }
        }
        switch method {
        case "GET":
            follow()
        case "HEAD":
            set(CURLOPT_NOBODY, 1)
            follow()
        case "DELETE":
            set(CURLOPT_CUSTOMREQUEST, "DELETE")
        default:
            set(CURLOPT_UPLOAD, 1)
            set(CURLOPT_INFILESIZE_LARGE, size: bodyLength)
            check(swcurl_setopt_read_function(handle, curlReadCallback))
            set(CURLOPT_READDATA, pointer: me)
            check(swcurl_setopt_seek_function(handle, curlSeekCallback))
            set(CURLOPT_SEEKDATA, pointer: me)
            set(CURLOPT_CUSTOMREQUEST, method)
        }
    }

    /// Sends `headers` (`name: value` lines) with the request. - Returns: the list, for the caller to free with
    /// `curl_slist_free_all` once the transfer is over.
    public mutating func setHeaders(_ headers: [(name: String, value: String)],
                                    extra: [String] = []) -> UnsafeMutablePointer<curl_slist>? {
        var list: UnsafeMutablePointer<curl_slist>? = nil
        for (name, value) in headers { list = curl_slist_append(list, "\(name): \(value)") }
        for line in extra { list = curl_slist_append(list, line) }
        check(swcurl_setopt_slist(handle, CURLOPT_HTTPHEADER, list))
        return list
    }
}
