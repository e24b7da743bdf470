import HTTPServer
import Prometheus
import Synchronization

/// Request metrics from every finished exchange: `swregistry_http_requests_total{route,method,status}`,
/// `swregistry_http_request_duration_seconds{route,method}` (a histogram), and
/// `swregistry_http_received_bytes_total{route}` / `swregistry_http_sent_bytes_total{route}`.
///
/// It runs on the event loop for every request, so it does little: the table of every known route and method is
/// made at start (an unknown method counts as `other`), and each exchange costs a route lookup, one short lock
/// for its handles, a few atomic additions and the histogram's short lock. The handles of a route, method and
/// status are made with the registry the first time they occur (statuses are not known in advance, and most
/// combinations never occur): once per series.
final class RequestMetrics: ExchangeObserver {
    /// The route labels the registry sets (`Route.describe(into:)`); anything else counts as `other`.
    static let routes = ["base", "catalog", "blob", "uploads", "upload", "manifest", "tags", "referrers", "health",
                         "ready", "metrics", "token", "other"]
    /// Methods with their own label, the common first; any other is `other` (the method is the client's text).
    static let methods = ["GET", "HEAD", "PUT", "PATCH", "POST", "DELETE", "OPTIONS", "other"]
    /// From a cached manifest (tens of microseconds, all under the first bucket) to a slow multi-gigabyte push.
    static let durationBuckets: [Duration] = [
        .milliseconds(1), .microseconds(2500), .milliseconds(5), .milliseconds(10), .milliseconds(25),
        .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
        .milliseconds(2500), .seconds(5), .seconds(10), .seconds(30), .seconds(60),
    ]

    /// One route and method: its histogram and its counters by status, each made when first needed (a series
    /// never used is not exported: 13 routes × 8 methods of empty histograms would be most of every scrape).
    final class Series: Sendable {
        let route: String
        let method: String
        private let registry: PrometheusCollectorRegistry
        private struct Handles {
            var duration: DurationHistogram?
            var byStatus: [Int: Prometheus.Counter] = [:]
        }
        private let handles = Mutex(Handles())

        init(route: String, method: String, registry: PrometheusCollectorRegistry) {
            self.route = route
            self.method = method
            self.registry = registry
        }

        /// The handles for an answer of `status`.
        func handles(status: Int) -> (requests: Prometheus.Counter, duration: DurationHistogram) {
            let found = handles.withLock { h in h.duration.flatMap { d in h.byStatus[status].map { ($0, d) } } }
            if let found { return found }
            // Made outside this lock (the registry takes its own); the registry hands the same handle to a second
            // thread that asks for the same labels.
            let requests = registry.makeCounter(
                name: "swregistry_http_requests_total",
                labels: [("route", route), ("method", method), ("status", String(status))],
                help: "Requests answered, by route, method and status.")
            let duration = registry.makeDurationHistogram(
                name: "swregistry_http_request_duration_seconds", labels: [("route", route), ("method", method)],
                buckets: RequestMetrics.durationBuckets, help: "Time from a request's arrival to the end of its response.")
            handles.withLock { h in
                h.duration = duration
                h.byStatus[status] = requests
            }
            return (requests, duration)
        }
    }

    /// By route index × method count + method index.
    private let series: [Series]
    private let received: [Prometheus.Counter]
    private let sent: [Prometheus.Counter]
    private let routeIndex: [String: Int]

    init(registry: PrometheusCollectorRegistry) {
        routeIndex = Dictionary(uniqueKeysWithValues: Self.routes.enumerated().map { ($1, $0) })
        series = Self.routes.flatMap { route in Self.methods.map { Series(route: route, method: $0, registry: registry) } }
        received = Self.routes.map {
            registry.makeCounter(name: "swregistry_http_received_bytes_total", labels: [("route", $0)],
                                 help: "Request-body bytes read, by route.")
        }
        sent = Self.routes.map {
            registry.makeCounter(name: "swregistry_http_sent_bytes_total", labels: [("route", $0)],
                                 help: "Response-body bytes written, by route.")
        }
    }

    func exchangeCompleted(_ record: ExchangeRecord) {
        let route = record.context.route.flatMap { routeIndex[$0] } ?? Self.routes.count - 1
        let series = series[route * Self.methods.count + Self.methodIndex(record.method)]
        let handles = series.handles(status: record.status)
        handles.requests.increment()
        handles.duration.recordNanoseconds(Int64(clamping: record.durationNanos))
        if record.bytesReceived > 0 { received[route].increment(by: record.bytesReceived) }
        if record.bytesSent > 0 { sent[route].increment(by: record.bytesSent) }
    }

    private static func methodIndex(_ method: String) -> Int {
        switch method {
        case "GET": 0
        case "HEAD": 1
        case "PUT": 2
        case "PATCH": 3
        case "POST": 4
        case "DELETE": 5
        case "OPTIONS": 6
        default: 7
        }
    }
}
