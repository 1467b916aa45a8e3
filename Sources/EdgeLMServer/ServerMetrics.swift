// EdgeLMServer: Prometheus metrics — counters and histograms of requests, tokens, latency, refusals and the
// engine's state. Never any prompt or output text, nor anything derived from it beyond token counts.

import Inference
import ModelLifecycle
import Prometheus

/// The server's metrics registry, exposed at `GET /metrics` in Prometheus text format.
final class ServerMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    /// Latency buckets in seconds: the telemetry module's latency bounds (one definition of "latency buckets").
    static let latencyBuckets: [Double] = ModelLifecycle.Histogram.latencyBoundsMs.map { $0 / 1000 } + [30, 60, 120]
    /// Token-count buckets: the telemetry module's.
    static let tokenBuckets: [Double] = ModelLifecycle.Histogram.tokenBounds

    private let promptTokens: Counter
    private let completionTokens: Counter
    private let cancelled: Counter
    private let ttft: ValueHistogram
    private let queueDepth: Gauge
    private let active: Gauge
    private let kvBytes: Gauge
    private let lanes: Gauge
    private let ready: Gauge

    init() {
        promptTokens = registry.makeCounter(descriptor: d("edgelm_prompt_tokens_total", "Prompt tokens evaluated"))
        completionTokens = registry.makeCounter(descriptor: d("edgelm_completion_tokens_total", "Tokens generated"))
        cancelled = registry.makeCounter(descriptor: d("edgelm_requests_cancelled_total",
                                                       "Requests stopped because the client went away"))
        ttft = registry.makeValueHistogram(descriptor: d("edgelm_time_to_first_token_seconds",
                                                         "From request arrival to the first generated text"),
                                           buckets: Self.latencyBuckets)
        queueDepth = registry.makeGauge(descriptor: d("edgelm_queue_depth", "Requests waiting for a sequence slot"))
        active = registry.makeGauge(descriptor: d("edgelm_active_sequences", "Sequences running now"))
        kvBytes = registry.makeGauge(descriptor: d("edgelm_kv_cache_bytes", "KV cache bytes resident now"))
        lanes = registry.makeGauge(descriptor: d("edgelm_max_sequences", "Concurrent sequences the server admits"))
        ready = registry.makeGauge(descriptor: d("edgelm_ready", "1 when the model is loaded and requests are accepted"))
    }

    /// One answered request, by endpoint and HTTP status.
    func request(endpoint: String, status: Int) {
        registry.makeCounter(descriptor: d("edgelm_requests_total", "HTTP requests answered"),
                             labels: [("endpoint", endpoint), ("status", String(status))]).increment()
    }

    /// How long a model request took, arrival to last byte (streams included).
    func duration(endpoint: String, seconds: Double) {
        registry.makeValueHistogram(descriptor: d("edgelm_request_duration_seconds",
                                                  "Time to answer a model request, arrival to last byte (streams included)"),
                                    labels: [("endpoint", endpoint)], buckets: Self.latencyBuckets).record(seconds)
    }

    /// A request refused: queue full, body too large, unauthorized, bad request, prompt too long, not ready.
    func refusal(_ reason: String) {
        registry.makeCounter(descriptor: d("edgelm_refusals_total", "Requests refused, by reason"), labels: [("reason", reason)])
            .increment()
    }

    /// A task answered, by task and the router's decision (origin and reason).
    func task(_ kind: TaskKind, origin: String, reason: String) {
        registry.makeCounter(descriptor: d("edgelm_task_requests_total", "Task requests by task and routing decision"),
                             labels: [("task", kind.rawValue), ("origin", origin), ("reason", reason)]).increment()
    }

    func generation(promptTokens p: Int, completionTokens c: Int) {
        promptTokens.increment(by: Int64(p))
        completionTokens.increment(by: Int64(c))
    }

    func firstToken(seconds: Double) { ttft.record(seconds) }
    func clientCancelled() { cancelled.increment() }

    /// The engine's state now (called just before each scrape).
    func update(_ stats: Engine.Statistics?, maxSequences: Int, isReady: Bool) {
        queueDepth.set(Double(stats?.queued ?? 0))
        active.set(Double(stats?.running ?? 0))
        kvBytes.set(Double(stats?.kvResidentBytes ?? 0))
        lanes.set(Double(maxSequences))
        ready.set(isReady ? 1.0 : 0.0)
    }

    func exposition() -> [UInt8] { registry.emitToBuffer() }
}

/// A metric's name and help text (the name is used whole: no namespace or unit is added).
private func d(_ name: String, _ help: String) -> MetricNameDescriptor {
    MetricNameDescriptor(metricName: name, helpText: help)
}
