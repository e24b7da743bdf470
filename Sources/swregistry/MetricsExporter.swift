import BlobStore
import CoreMetrics
import Prometheus
import Synchronization

/// The one Prometheus registry of `serve`: swift-metrics is bootstrapped with it (so the counters of the
/// registry, the garbage collector and the event queue land here), the request observer records into it, and
/// `render()` produces `/metrics` in Prometheus' text exposition format 0.0.4.
///
/// Figures that are a state rather than a count (open connections, uploads in progress, stored blobs and bytes)
/// are read at scrape time from where they are kept, so that nothing on the request path maintains them.
final class MetricsExporter: Sendable {
    let registry: PrometheusCollectorRegistry
    let requests: RequestMetrics
    private let openConnections: Prometheus.Gauge
    private let uploadsInProgress: Prometheus.Gauge
    /// Made once the first count of the store finished: a figure of 0 before would be a lie.
    private let storeGauges = Mutex<(blobs: Prometheus.Gauge, bytes: Prometheus.Gauge)?>(nil)

    /// Where the scrape-time figures come from, set once the server and the store exist.
    struct Sources: Sendable {
        var connectionCount: (@Sendable () -> Int)?
        var store: BlobStore?
    }
    private let sources = Mutex(Sources())

    init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        requests = RequestMetrics(registry: registry)
        openConnections = registry.makeGauge(name: "swregistry_http_open_connections",
                                             help: "Client connections open on the main listener.")
        uploadsInProgress = registry.makeGauge(name: "swregistry_uploads_in_progress",
                                               help: "Blob upload sessions open.")
    }

    /// A swift-metrics backend that records into this registry.
    var factory: PrometheusMetricsFactory { PrometheusMetricsFactory(registry: registry) }

    /// Makes this registry swift-metrics' backend, for the whole process: once, in `serve`.
    func bootstrap() {
        MetricsSystem.bootstrap(factory)
    }

    func attach(store: BlobStore) {
        sources.withLock { $0.store = store }
    }

    func attach(connectionCount: @escaping @Sendable () -> Int) {
        sources.withLock { $0.connectionCount = connectionCount }
    }

    /// The exposition, with the state figures read now.
    func render() -> [UInt8] {
        let sources = self.sources.withLock { $0 }
        if let count = sources.connectionCount { openConnections.set(Int64(count())) }
        if let store = sources.store {
            uploadsInProgress.set(Int64(store.uploads.openCount))
            if let totals = store.statistics.totals {
                let gauges = storeGauges.withLock { gauges in
                    if gauges == nil {
                        gauges = (registry.makeGauge(name: "swregistry_store_blobs", help: "Blobs stored (layers, configs, manifests), each once."),
                                  registry.makeGauge(name: "swregistry_store_blob_bytes", help: "Bytes of the blobs stored."))
                    }
                    return gauges!
                }
                gauges.blobs.set(Int64(totals.blobs))
                gauges.bytes.set(totals.bytes)
            }
        }
        var buffer: [UInt8] = []
        buffer.reserveCapacity(16 * 1024)
        registry.emit(into: &buffer)
        return buffer
    }
}
