//! `GET /metrics`: requests by route and status, their latency, predictions by model and
//! digit, in Prometheus' text format. Labels take a bounded set of values: the routes of the
//! router (unknown paths are one label), the statuses, the models loaded and ten digits.

use std::fmt::Write;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The content type of [`Metrics::encode`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A label value written with the escapes of the text format (`\\`, `\"`, `\n`), which
/// `prometheus-client` leaves to its user: a model is named by its file, which may hold a quote
/// or a backslash.
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
struct Text(String);

impl EncodeLabelValue for Text {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        escape_label_value(&self.0, encoder)
    }
}

/// Writes `value` as the inside of a quoted label value.
fn escape_label_value(value: &str, out: &mut impl Write) -> std::fmt::Result {
    let mut rest = value;
    while let Some(at) = rest.find(['\\', '"', '\n']) {
        out.write_str(&rest[..at])?;
        out.write_str(match rest.as_bytes()[at] {
            b'\\' => "\\\\",
            b'"' => "\\\"",
            _ => "\\n",
        })?;
        rest = &rest[at + 1..];
    }
    out.write_str(rest)
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: Text,
    method: String,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: Text,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PredictionLabels {
    model: Text,
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
        let labels = RequestLabels { route: Text(route.to_string()), method: method.to_string(), status };
        self.requests.get_or_create(&labels).inc();
        self.latency.get_or_create(&RouteLabels { route: Text(route.to_string()) }).observe(seconds);
    }

    pub(crate) fn record_prediction(&self, model: &str, digit: u8) {
        self.predictions.get_or_create(&PredictionLabels { model: Text(model.to_string()), digit }).inc();
    }

    /// The OpenMetrics text, which Prometheus reads.
    pub(crate) fn encode(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        let escaped = |value: &str| {
            let mut out = String::new();
            escape_label_value(value, &mut out).unwrap();
            out
        };
        assert_eq!(escaped("plain"), "plain");
        assert_eq!(escaped("we\"ird\\name"), "we\\\"ird\\\\name");
        assert_eq!(escaped("two\nlines\\"), "two\\nlines\\\\");
        assert_eq!(escaped("é\"€"), "é\\\"€");
    }

    #[test]
    fn a_model_name_with_a_quote_a_backslash_or_a_newline_stays_one_label() {
        let metrics = Metrics::new();
        metrics.record_prediction("a\"b\\c\nd", 3);
        let text = metrics.encode();
        assert!(text.contains("predictions_total{model=\"a\\\"b\\\\c\\nd\",digit=\"3\"} 1\n"), "{text}");
    }
}
