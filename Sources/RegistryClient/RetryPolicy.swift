import Foundation

/// When and how long to wait before repeating a failed request.
struct RetryPolicy: Sendable {
    /// Retries after the first attempt.
    var retries: Int
    /// A fixed delay, or nil for exponential backoff.
    var fixedDelay: Duration?
    /// The first backoff step; doubles per retry.
    var baseDelay: Duration = .milliseconds(200)
    /// The longest backoff step (before jitter), and the longest `Retry-After` honoured.
    var maximumDelay: Duration = .seconds(30)

    init(options: ClientOptions) {
        retries = max(0, options.retryTimes)
        fixedDelay = options.retryDelay
    }

    /// The wait before retry number `retry` (1-based).
    /// - Parameter retryAfter: The registry's `Retry-After`, which wins when present.
    func delay(retry: Int, retryAfter: Duration? = nil) -> Duration {
        if let retryAfter { return min(retryAfter, maximumDelay) }
        if let fixedDelay { return fixedDelay }
        let exponent = min(max(retry - 1, 0), 16)
        let step = min(baseDelay * (1 << exponent), maximumDelay)
        // Full spread of ±50% so that many parallel transfers failing together do not retry together.
        return step * Double.random(in: 0.5...1.5)
    }

    /// Statuses worth repeating: request timeout, throttling, and server-side failures.
    static func isRetryable(status: Int) -> Bool {
        status == 408 || status == 429 || (500...599).contains(status) && status != 501 && status != 505
    }

    /// The `Retry-After` of a response (RFC 9110 §10.2.3): delay-seconds, or an HTTP-date (IMF-fixdate) turned
    /// into the time left until then.
    static func retryAfter(_ response: ClientResponse, now: Date = Date()) -> Duration? {
        guard let text = response.header("Retry-After")?.trimmingSpaces(), !text.isEmpty else { return nil }
        if let seconds = Int(text) { return seconds >= 0 ? .seconds(seconds) : nil }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        guard let date = formatter.date(from: text) else { return nil }
        return .milliseconds(max(0, Int64(date.timeIntervalSince(now) * 1000)))
    }
}
