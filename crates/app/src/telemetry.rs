//! Logs through `tracing` (pretty, compact or JSON) and, when `OTEL_EXPORTER_OTLP_ENDPOINT` is set,
//! traces exported over OTLP/HTTP. Spans carry ids, routes, statuses and latencies; no code of
//! ours records a password, token or key in a field.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{SpanExporter, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::settings::{LogFormat, TelemetrySettings};

/// Flushes and stops trace export when dropped, so the last spans of a shutdown are not lost.
#[derive(Debug)]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(e) = provider.shutdown()
        {
            eprintln!("could not flush traces: {e}");
        }
    }
}

fn traces_endpoint(base: &url::Url) -> String {
    let base = base.as_str().trim_end_matches('/');
    if base.ends_with("/v1/traces") {
        base.to_owned()
    } else {
        format!("{base}/v1/traces")
    }
}

/// Installs the global subscriber.
///
/// # Errors
/// When the log filter is invalid, the exporter cannot be built, or a subscriber is installed
/// already.
pub fn init(settings: &TelemetrySettings) -> anyhow::Result<TelemetryGuard> {
    let filter = EnvFilter::try_new(&settings.log_filter)?;
    let fmt = tracing_subscriber::fmt::layer().with_target(true);
    let fmt = match settings.log_format {
        LogFormat::Pretty => fmt.boxed(),
        LogFormat::Compact => fmt.compact().boxed(),
        LogFormat::Json => fmt
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .boxed(),
    };
    let provider = settings
        .otlp_endpoint
        .as_ref()
        .map(|endpoint| -> anyhow::Result<SdkTracerProvider> {
            let exporter = SpanExporter::builder()
                .with_http()
                .with_endpoint(traces_endpoint(endpoint))
                .build()?;
            Ok(SdkTracerProvider::builder()
                .with_batch_exporter(exporter)
                .with_resource(
                    Resource::builder()
                        .with_service_name("switchboard")
                        .with_attribute(opentelemetry::KeyValue::new(
                            "service.version",
                            env!("CARGO_PKG_VERSION"),
                        ))
                        .build(),
                )
                .build())
        })
        .transpose()?;
    let otel = provider.as_ref().map(|p| {
        tracing_opentelemetry::layer()
            .with_tracer(p.tracer("switchboard"))
            .boxed()
    });
    tracing_subscriber::registry()
        .with(filter)
        .with(fmt)
        .with(otel)
        .try_init()?;
    Ok(TelemetryGuard { provider })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_traces_path_is_appended_once() {
        let base = url::Url::parse("http://collector:4318").unwrap();
        assert_eq!(traces_endpoint(&base), "http://collector:4318/v1/traces");
        let full = url::Url::parse("http://collector:4318/v1/traces").unwrap();
        assert_eq!(traces_endpoint(&full), "http://collector:4318/v1/traces");
    }
}
