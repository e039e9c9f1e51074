//! Plain HTTP on the edge: liveness, readiness and metrics.

use axum::{Json, Router, extract::State, http::StatusCode, response::IntoResponse, routing::get};
use metrics_exporter_prometheus::PrometheusHandle;

use crate::backends::Backends;

#[derive(Clone)]
struct HttpState {
    backends: Backends,
    metrics: PrometheusHandle,
}

/// `GET /healthz`, `GET /readyz` and `GET /metrics`.
pub fn routes(backends: Backends, metrics: PrometheusHandle) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(render_metrics))
        .with_state(HttpState { backends, metrics })
}

/// The process is up and serving HTTP.
async fn healthz() -> &'static str {
    "ok"
}

/// Every backend answers its health check with SERVING; otherwise 503 with each one's state.
async fn readyz(State(state): State<HttpState>) -> impl IntoResponse {
    let readiness = state.backends.readiness().await;
    let status = if readiness.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(readiness))
}

async fn render_metrics(State(state): State<HttpState>) -> impl IntoResponse {
    (
        [("content-type", "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}
