import Prometheus
import Synchronization
import SlotWire

/// The server's Prometheus metrics, one registry per server instance (so tests
/// can run several instances in one process without sharing counters).
public final class ServerMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()

    let checks: Counter
    /// Checks answered by the event-loop fast path (the rest went through Hummingbird).
    let fastPathChecks: Counter
    let events: [DeviceEventType: Counter]
    let autoPauses: Counter
    let pausedReleases: Gauge
    let pendingCheckIns: Gauge
    let droppedCheckIns: Gauge
    /// The check fast path's two histograms, looked up once instead of per request.
    private let fastCheck200: DurationHistogram
    private let fastCheck204: DurationHistogram
    /// Counters per release id (and "none" for 204), created on first use.
    private let answers = Mutex<[String: Counter]>([:])
    private struct LatencyKey: Hashable {
        var method: String
        var route: String
        var status: Int
    }
    private let latencies = Mutex<[LatencyKey: DurationHistogram]>([:])
    private let pausedByRelease = Mutex<[String: Gauge]>([:])

    static let latencyBuckets: [Duration] = [
        .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2),
        .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
        .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(5),
    ]

    public init() {
        checks = registry.makeCounter(
            descriptor: .init(namespace: "slot_server", metricName: "checks", unitName: "total", helpText: "Update checks answered"))
        fastPathChecks = registry.makeCounter(
            descriptor: .init(
                namespace: "slot_server", metricName: "checks_fast_path", unitName: "total",
                helpText: "Update checks answered on the event loop without the Hummingbird router"))
        var events: [DeviceEventType: Counter] = [:]
        for type in DeviceEventType.allCases {
            events[type] = registry.makeCounter(
                descriptor: .init(namespace: "slot_server", metricName: "events", unitName: "total", helpText: "Device events received by type"),
                labels: [("type", type.rawValue)])
        }
        self.events = events
        autoPauses = registry.makeCounter(
            descriptor: .init(namespace: "slot_server", metricName: "auto_pauses", unitName: "total", helpText: "Releases paused by their failure share"))
        pausedReleases = registry.makeGauge(
            descriptor: .init(namespace: "slot_server", metricName: "releases_paused", unitName: "", helpText: "Published releases currently paused"))
        pendingCheckIns = registry.makeGauge(
            descriptor: .init(namespace: "slot_server", metricName: "checkins_pending", unitName: "", helpText: "Device check-ins waiting to be written"))
        fastCheck200 = registry.makeDurationHistogram(
            descriptor: Self.latencyDescriptor, labels: [("method", "POST"), ("route", "/v1/check"), ("status", "200")],
            buckets: Self.latencyBuckets)
        fastCheck204 = registry.makeDurationHistogram(
            descriptor: Self.latencyDescriptor, labels: [("method", "POST"), ("route", "/v1/check"), ("status", "204")],
            buckets: Self.latencyBuckets)
        droppedCheckIns = registry.makeGauge(
            descriptor: .init(namespace: "slot_server", metricName: "checkins_dropped", unitName: "", helpText: "Device check-ins dropped because too many were waiting"))
    }

    /// Counts a check answered with `releaseId` (nil: 204). `counter`, when
    /// given, is that release's ``answerCounter(releaseId:)`` kept by the caller.
    func answered(releaseId: String?, counter: Counter? = nil) {
        checks.increment()
        (counter ?? answerCounter(releaseId: releaseId)).increment()
    }

    /// The counter of checks answered with `releaseId` (nil: 204): looked up
    /// under a lock, so the check fast path keeps it per connection.
    func answerCounter(releaseId: String?) -> Counter {
        let key = releaseId ?? "none"
        return answers.withLock { counters in
            if let counter = counters[key] { return counter }
            let counter = registry.makeCounter(
                descriptor: .init(namespace: "slot_server", metricName: "check_answers", unitName: "total", helpText: "Check answers by release offered (none = 204)"),
                labels: [("release", key)])
            counters[key] = counter
            return counter
        }
    }

    func received(_ events: [DeviceEvent]) {
        for event in events { self.events[event.type]?.increment() }
    }

    func observe(method: String, route: String, status: Int, duration: Duration) {
        let key = LatencyKey(method: method, route: route, status: status)
        let histogram = latencies.withLock { histograms in
            if let histogram = histograms[key] { return histogram }
            let histogram = registry.makeDurationHistogram(
                descriptor: Self.latencyDescriptor,
                labels: [("method", method), ("route", route), ("status", String(status))],
                buckets: Self.latencyBuckets)
            histograms[key] = histogram
            return histogram
        }
        histogram.record(duration)
    }

    func observeFastCheck(answered: Bool, duration: Duration) {
        fastPathChecks.increment()
        (answered ? fastCheck200 : fastCheck204).record(duration)
    }

    static var latencyDescriptor: MetricNameDescriptor {
        .init(namespace: "slot_server", metricName: "http_request_duration", unitName: "seconds", helpText: "HTTP request latency")
    }

    /// Mirrors the paused state of published releases into gauges.
    func updatePaused(_ releases: [ReleaseRecord]) {
        pausedReleases.set(Double(releases.filter(\.paused).count))
        pausedByRelease.withLock { gauges in
            for release in releases {
                let gauge =
                    gauges[release.id]
                    ?? registry.makeGauge(
                        descriptor: .init(namespace: "slot_server", metricName: "release_paused", unitName: "", helpText: "1 when the release is paused"),
                        labels: [("release", release.id)])
                gauges[release.id] = gauge
                gauge.set(release.paused ? 1.0 : 0.0)
            }
        }
    }

    func updateCheckIns(pending: Int, dropped: Int) {
        pendingCheckIns.set(Double(pending))
        droppedCheckIns.set(Double(dropped))
    }

    /// The Prometheus text exposition.
    func render() -> [UInt8] { registry.emitToBuffer() }
}
