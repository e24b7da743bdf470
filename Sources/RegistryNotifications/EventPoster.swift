import CCurl
import LibcurlSupport
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

    private let easy: CurlEasyHandle
    private var headerList: UnsafeMutablePointer<curl_slist>?
    /// The endpoint's URL as logs show it (without credentials).
    let url: String

    init(_ endpoint: EndpointConfiguration) {
        guard let easy = CurlEasyHandle() else { fatalError("curl_easy_init: out of memory") }
        self.easy = easy
        url = endpoint.redactedURL
        let timeout = max(1, Int(endpoint.timeout * 1000))
        var options = easy.options()
        options.set(CURLOPT_URL, endpoint.url)
        // Threads: no SIGALRM-based DNS timeouts.
        options.set(CURLOPT_NOSIGNAL, 1)
        options.set(CURLOPT_PROTOCOLS_STR, "http,https")
        options.set(CURLOPT_FOLLOWLOCATION, 0)
        options.set(CURLOPT_TIMEOUT_MS, timeout)
        options.set(CURLOPT_CONNECTTIMEOUT_MS, timeout)
        // https endpoints are verified against the system's CAs (libcurl's defaults, set here so no one wonders).
        options.set(CURLOPT_SSL_VERIFYPEER, 1)
        options.set(CURLOPT_SSL_VERIFYHOST, 2)
        options.set(CURLOPT_USERAGENT, "swregistry-notifications")
        options.set(CURLOPT_POST, 1)
        // The answer's body is not needed; it is read and dropped.
        options.check(swcurl_setopt_write_function(easy.raw) { _, size, count, _ in size * count })
        var headers = [(name: "Content-Type", value: EventEnvelope.mediaType)]
        for name in endpoint.headers.keys.sorted() {
            for value in endpoint.headers[name] ?? [] { headers.append((name, value)) }
        }
        // No `Expect: 100-continue` round trip for bodies over 1 KiB.
        headerList = options.setHeaders(headers, extra: ["Expect:"])
    }

    deinit {
        if let headerList { curl_slist_free_all(headerList) }
    }

    /// Sends `body`, blocking for at most the endpoint's timeout.
    func post(_ body: [UInt8]) -> Outcome {
        let handle = easy.raw
        let code = body.withUnsafeBytes { raw -> CURLcode in
            _ = swcurl_setopt_off(handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(raw.count))
            _ = swcurl_setopt_pointer(handle, CURLOPT_POSTFIELDS, UnsafeMutableRawPointer(mutating: raw.baseAddress))
            defer { _ = swcurl_setopt_pointer(handle, CURLOPT_POSTFIELDS, nil) }
            return easy.perform()
        }
        guard code == CURLE_OK else { return .failed(easy.message(for: code)) }
        let status = easy.responseCode
        return (200..<300).contains(status) ? .delivered(status: status) : .refused(status: status)
    }
}
