//! Logs and traces: `tracing` formatted to stderr, and spans exported over OTLP when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set.

use opentelemetry::{global, trace::TracerProvider as _};
use opentelemetry_sdk::{Resource, propagation::TraceContextPropagator, trace::SdkTracerProvider};
use tracing_subscriber::{EnvFilter, layer::SubscriberExt, util::SubscriberInitExt};

/// Keeps the exporter alive; dropping it flushes the spans still buffered.
#[must_use = "dropping the guard stops the span export"]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(error) = provider.shutdown()
        {
            eprintln!("cannot flush traces: {error}");
        }
    }
}

/// Installs the global subscriber for a process named `service_name`.
///
/// The log filter comes from `RUST_LOG` (default `info`). Calling it twice, as tests that run
/// several servers in one process do, keeps the first subscriber.
pub fn init(service_name: &'static str) -> TelemetryGuard {
    // Trace context travels between processes in W3C `traceparent` headers.
    global::set_text_map_propagator(TraceContextPropagator::new());

    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);

    let provider = match std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT") {
        Ok(endpoint) if !endpoint.is_empty() => match otlp_provider(service_name) {
            Ok(provider) => Some(provider),
            Err(error) => {
                eprintln!("traces will not be exported to {endpoint}: {error}");
                None
            }
        },
        _ => None,
    };
    let otel = provider
        .as_ref()
        .map(|provider| tracing_opentelemetry::layer().with_tracer(provider.tracer(service_name)));

    let installed = tracing_subscriber::registry()
        .with(filter)
        .with(fmt)
        .with(otel)
        .try_init()
        .is_ok();
    if installed && let Some(provider) = &provider {
        global::set_tracer_provider(provider.clone());
    }
    TelemetryGuard { provider }
}

fn otlp_provider(
    service_name: &'static str,
) -> Result<SdkTracerProvider, opentelemetry_otlp::ExporterBuildError> {
    // The endpoint and its options come from the standard OTEL_EXPORTER_OTLP_* variables.
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .build()?;
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(Resource::builder().with_service_name(service_name).build())
        .build())
}
