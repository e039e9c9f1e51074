//! Prometheus metrics of the edge, served at `GET /metrics`.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// The process-wide recorder's handle. Installed on first use: one process may run several
/// edges (tests do), and they share the one global recorder.
pub fn prometheus() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("another metrics recorder is installed; /metrics stays empty");
            }
            handle
        })
        .clone()
}

/// A socket connected to (`+1`) or left (`-1`) a namespace.
pub fn connections_changed(namespace: &str, delta: f64) {
    metrics::gauge!("parley_edge_connections", "namespace" => namespace.to_owned())
        .increment(delta);
}

/// A client event was answered with `outcome` (`OK` or a PROTOCOL.md error code).
pub fn event_handled(event: &str, outcome: &'static str) {
    metrics::counter!("parley_edge_events_total", "event" => event.to_owned(), "outcome" => outcome)
        .increment(1);
}

/// A handshake was refused.
pub fn connection_refused(namespace: &str) {
    metrics::counter!("parley_edge_connections_refused_total", "namespace" => namespace.to_owned())
        .increment(1);
}
