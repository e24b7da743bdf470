import Glibc
import Metrics

/// The collector's metrics (names from the seams of issue 12), made on first use: after the server has
/// bootstrapped its metrics backend, and once, since making a handle takes the factory's lock.
enum GCMetrics {
    static let succeeded = Counter(label: "swregistry_gc_runs_total", dimensions: [("result", "ok")])
    static let failedRuns = Counter(label: "swregistry_gc_runs_total", dimensions: [("result", "failed")])
    static let duration = Metrics.Timer(label: "swregistry_gc_duration_seconds")
    static let freedBytes = Counter(label: "swregistry_gc_freed_bytes_total")
    static let removed: [GCReport.Kind: Counter] = Dictionary(uniqueKeysWithValues: GCReport.Kind.allCases.map {
        ($0, Counter(label: "swregistry_gc_removed_total", dimensions: [("kind", $0.rawValue)]))
    })
    static let lastSuccess = Gauge(label: "swregistry_gc_last_success_timestamp_seconds")

    /// Counts a finished run; a dry run changes nothing, and counts only as a run.
    static func record(_ report: GCReport) {
        // A dry run collects nothing: it must not make a failing schedule look healthy.
        guard !report.dryRun else { return }
        succeeded.increment()
        duration.recordNanoseconds(Int64(report.seconds * 1e9))
        freedBytes.increment(by: Int(clamping: report.freedBytes))
        for kind in GCReport.Kind.allCases {
            let n = report.count(kind)
            if n > 0 { removed[kind]?.increment(by: n) }
        }
        lastSuccess.record(Double(time(nil)))
    }

    static func failed() {
        failedRuns.increment()
    }
}
