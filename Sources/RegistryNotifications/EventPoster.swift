import CCurl
import Glibc

/// POSTs envelopes to one endpoint with libcurl: one easy handle, reused, so the connection is kept alive
/// between deliveries. Used by the endpoint's delivery thread only.
final class EventPoster {
    /// What one attempt came to.
    enum Outcome: Equatable {
        /// The endpoint answered 2xx: the events are delivered.
        case delivered(status: Int)
        /// It answered something else (not followed: a redirect is not a delivery).
        case refused(status: Int)
        /// No answer: connection refused, timeout, TLS failure…
        case failed(String)
    }

    private let handle: UnsafeMutableRawPointer
    private var headerList: UnsafeMutablePointer<curl_slist>?
    private let errorBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
    /// The endpoint's URL as logs show it (without credentials).
    let url: String

    /// libcurl wants `curl_global_init` once per process, before threads use it (further calls only count).
    private static let globalInit: Void = {
        let code = swcurl_global_init_all()
        precondition(code == CURLE_OK, "curl_global_init failed: \(code)")
    }()

    init(_ endpoint: EndpointConfiguration) {
        _ = Self.globalInit
        guard let h = curl_easy_init() else { fatalError("curl_easy_init: out of memory") }
        handle = h
        url = endpoint.redactedURL
        errorBuffer.initialize(to: 0)
        let timeout = max(1, Int(endpoint.timeout * 1000))
        _ = swcurl_setopt_string(h, CURLOPT_URL, endpoint.url)
        _ = swcurl_setopt_pointer(h, CURLOPT_ERRORBUFFER, errorBuffer)
        // Threads: no SIGALRM-based DNS timeouts.
        _ = swcurl_setopt_long(h, CURLOPT_NOSIGNAL, 1)
        _ = swcurl_setopt_string(h, CURLOPT_PROTOCOLS_STR, "http,https")
        _ = swcurl_setopt_long(h, CURLOPT_FOLLOWLOCATION, 0)
        _ = swcurl_setopt_long(h, CURLOPT_TIMEOUT_MS, timeout)
        _ = swcurl_setopt_long(h, CURLOPT_CONNECTTIMEOUT_MS, timeout)
        // https endpoints are verified against the system's CAs (libcurl's defaults, set here so no one wonders).
        _ = swcurl_setopt_long(h, CURLOPT_SSL_VERIFYPEER, 1)
        _ = swcurl_setopt_long(h, CURLOPT_SSL_VERIFYHOST, 2)
        _ = swcurl_setopt_string(h, CURLOPT_USERAGENT, "swregistry-notifications")
        _ = swcurl_setopt_long(h, CURLOPT_POST, 1)
        // The answer's body is not needed; it is read and dropped.
        _ = swcurl_setopt_write_function(h) { _, size, count, _ in size * count }
        var list: UnsafeMutablePointer<curl_slist>? = curl_slist_append(nil, "Content-Type: " + EventEnvelope.mediaType)
        for name in endpoint.headers.keys.sorted() {
            for value in endpoint.headers[name] ?? [] { list = curl_slist_append(list, "\(name): \(value)") }
        }
        // No `Expect: 100-continue` round trip for bodies over 1 KiB.
        list = curl_slist_append(list, "Expect:")
        headerList = list
        _ = swcurl_setopt_slist(h, CURLOPT_HTTPHEADER, list)
    }

    deinit {
        curl_easy_cleanup(handle)
        if let headerList { curl_slist_free_all(headerList) }
        errorBuffer.deallocate()
    }

    /// Sends `body`, blocking for at most the endpoint's timeout.
    func post(_ body: [UInt8]) -> Outcome {
        errorBuffer[0] = 0
        let code = body.withUnsafeBytes { raw -> CURLcode in
            _ = swcurl_setopt_off(handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(raw.count))
            _ = swcurl_setopt_pointer(handle, CURLOPT_POSTFIELDS, UnsafeMutableRawPointer(mutating: raw.baseAddress))
            defer { _ = swcurl_setopt_pointer(handle, CURLOPT_POSTFIELDS, nil) }
            return curl_easy_perform(handle)
        }
        guard code == CURLE_OK else {
            let detail = String(cString: errorBuffer)
            return .failed(detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail)
        }
        var status = 0
        _ = swcurl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        return (200..<300).contains(status) ? .delivered(status: status) : .refused(status: status)
    }
}
