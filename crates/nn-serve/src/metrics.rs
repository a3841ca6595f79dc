//! `GET /metrics`: requests by route and status, their latency, predictions by model and
//! digit, in Prometheus' text format. Labels take a bounded set of values: the routes of the
//! router (unknown paths are one label), the statuses, the models loaded and ten digits.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The content type of [`Metrics::encode`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: String,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PredictionLabels {
    model: String,
    digit: u8,
}

type LatencyFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

/// 50 µs to about 3.3 s, doubling: a prediction takes well under a millisecond, a large photo
/// tens of them.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_05, 2.0, 17))
}

/// The server's counters.
#[derive(Debug)]
pub(crate) struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: LatencyFamily,
    predictions: Family<PredictionLabels, Counter>,
}

impl Metrics {
    pub(crate) fn new() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register("http_requests", "HTTP requests answered, by route, method and status", requests.clone());
        let latency = LatencyFamily::new_with_constructor(latency_histogram);
        registry.register(
            "http_request_duration_seconds",
            "Time from a request's arrival to its answer, by route",
            latency.clone(),
        );
        let predictions = Family::<PredictionLabels, Counter>::default();
        registry.register("predictions", "Digits predicted, by model and digit", predictions.clone());
        Metrics { registry, requests, latency, predictions }
    }

    pub(crate) fn record_request(&self, route: &str, method: &str, status: u16, seconds: f64) {
        let labels = RequestLabels { route: route.to_string(), method: method.to_string(), status };
        self.requests.get_or_create(&labels).inc();
        self.latency.get_or_create(&RouteLabels { route: route.to_string() }).observe(seconds);
    }

    pub(crate) fn record_prediction(&self, model: &str, digit: u8) {
        self.predictions.get_or_create(&PredictionLabels { model: model.to_string(), digit }).inc();
    }

    /// The OpenMetrics text, which Prometheus reads.
    pub(crate) fn encode(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}
