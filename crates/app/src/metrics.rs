//! Prometheus metrics of the HTTP server (requests, latencies, errors, requests in flight) and
//! of the webhook outbox (events it had no room for).

use std::time::Duration;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

/// Buckets from 1 ms to 10 s: API calls are fast, model-backed ones take seconds.
const LATENCY_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// The server's metric registry.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    errors: IntCounterVec,
    latency: HistogramVec,
    in_flight: IntGauge,
    webhook_events_dropped: IntCounter,
    scheduler_passes: IntCounter,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    /// Registers the HTTP metrics.
    ///
    /// # Errors
    /// Only if two metrics were given one name, a programming error caught by the tests.
    pub fn new() -> anyhow::Result<Self> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new("http_requests_total", "HTTP requests answered"),
            &["method", "route", "status"],
        )?;
        let errors = IntCounterVec::new(
            Opts::new(
                "http_request_errors_total",
                "HTTP requests answered with a 4xx (client) or 5xx (server) status",
            ),
            &["method", "route", "class"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "Time from receiving a request to its response",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["method", "route"],
        )?;
        let in_flight = IntGauge::new("http_requests_in_flight", "HTTP requests being served")?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(errors.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        let webhook_events_dropped = IntCounter::new(
            "webhook_events_dropped_total",
            "Events not queued for webhooks because the outbox was full",
        )?;
        registry.register(Box::new(in_flight.clone()))?;
        registry.register(Box::new(webhook_events_dropped.clone()))?;
        let scheduler_passes = IntCounter::new(
            "scheduler_passes_total",
            "Passes of this instance's scheduler over the due scheduled calls",
        )?;
        registry.register(Box::new(scheduler_passes.clone()))?;
        Ok(Self {
            registry,
            requests,
            errors,
            latency,
            in_flight,
            webhook_events_dropped,
            scheduler_passes,
        })
    }

    /// The counter of events the webhook outbox had no room for.
    #[must_use]
    pub fn webhook_events_dropped(&self) -> IntCounter {
        self.webhook_events_dropped.clone()
    }

    /// The counter of the scheduler's finished passes (a pass claims and places what is due).
    #[must_use]
    pub fn scheduler_passes(&self) -> IntCounter {
        self.scheduler_passes.clone()
    }

    /// Counts a request as started; the guard counts it finished when dropped.
    #[must_use]
    pub fn start(&self) -> InFlight {
        self.in_flight.inc();
        InFlight(self.in_flight.clone())
    }

    /// Records one answered request. `route` is the matched pattern, never the raw path, so ids
    /// do not explode the number of series.
    pub fn observe(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let status_label = status.to_string();
        self.requests
            .with_label_values(&[method, route, status_label.as_str()])
            .inc();
        self.latency
            .with_label_values(&[method, route])
            .observe(elapsed.as_secs_f64());
        let class = match status {
            400..=499 => Some("client"),
            500..=599 => Some("server"),
            _ => None,
        };
        if let Some(class) = class {
            self.errors.with_label_values(&[method, route, class]).inc();
        }
    }

    /// The Prometheus text exposition of every metric.
    ///
    /// # Errors
    /// When encoding fails.
    pub fn render(&self) -> anyhow::Result<String> {
        let mut out = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut out)?;
        Ok(String::from_utf8(out)?)
    }
}

/// Decrements the in-flight gauge when the request ends, however it ends.
#[derive(Debug)]
pub struct InFlight(IntGauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn renders_counters_histograms_and_errors() {
        let metrics = Metrics::new().unwrap();
        {
            let _guard = metrics.start();
            metrics.observe("GET", "/health", 200, Duration::from_millis(3));
            metrics.observe("POST", "/auth/login", 401, Duration::from_millis(40));
        }
        let text = metrics.render().unwrap();
        assert!(
            text.contains(r#"http_requests_total{method="GET",route="/health",status="200"} 1"#)
        );
        assert!(text.contains(
            r#"http_request_errors_total{class="client",method="POST",route="/auth/login"} 1"#
        ));
        assert!(text.contains("http_request_duration_seconds_bucket"));
        assert!(text.contains("http_requests_in_flight 0"));
    }
}
