//! Plain HTTP on the edge: liveness, readiness and metrics, and a request layer that keeps
//! the memory of connected clients small.

use std::sync::Arc;

use axum::{
    Json, Router,
    extract::{OriginalUri, Request, State},
    http::{HeaderMap, HeaderValue, StatusCode, Uri, header},
    middleware::Next,
    response::{IntoResponse, Response},
    routing::get,
};
use metrics_exporter_prometheus::PrometheusHandle;

use crate::{
    admission::Draining,
    backends::Backends,
    client_ip::{ClientIpKey, TrustedProxies},
    relay::Following,
};

#[derive(Clone)]
struct HttpState {
    backends: Backends,
    metrics: PrometheusHandle,
    draining: Draining,
    following: Following,
}

/// `GET /healthz`, `GET /readyz` and `GET /metrics`, each client IP limited to
/// `probes_per_ip_per_minute` requests a minute (0: no limit).
pub fn routes(
    backends: Backends,
    metrics: PrometheusHandle,
    draining: Draining,
    following: Following,
    probes_per_ip_per_minute: u32,
    proxies: TrustedProxies,
) -> Router {
    let router = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(render_metrics))
        .with_state(HttpState {
            backends,
            metrics,
            draining,
            following,
        });
    match parley_common::rate_limit::per_minute_layer(
        probes_per_ip_per_minute,
        ClientIpKey(proxies),
    ) {
        // `route_layer`: the limit covers these routes, not the Socket.IO layer around them.
        Some(limit) => router.route_layer(limit),
        None => router,
    }
}

/// Copies a request's headers and URI into allocations of their own. hyper parses a head
/// without copying, so its header values and URI point into the connection's read buffer
/// (8–16 KiB); socketioxide keeps the handshake request for the socket's whole life, and
/// with it that buffer. Copying the few hundred bytes of the head lets the buffer go: 16 KiB
/// less per connected client (docs/BENCHMARKS.md, scenario 1).
pub async fn detach_head(mut request: Request) -> Request {
    let copied: HeaderMap = request
        .headers()
        .iter()
        .map(|(name, value)| {
            let copy = HeaderValue::from_bytes(value.as_bytes()).unwrap_or_else(|_| value.clone());
            (name.clone(), copy)
        })
        .collect();
    *request.headers_mut() = copied;
    if let Ok(uri) = Uri::try_from(request.uri().to_string()) {
        // axum's router keeps a copy of the URI as it came (`OriginalUri`), pointing into the
        // same buffer: it gets the copy too, or it alone keeps the 16 KiB alive.
        if let Some(OriginalUri(original)) = request.extensions_mut().get_mut::<OriginalUri>() {
            *original = uri.clone();
        }
        *request.uri_mut() = uri;
    }
    request
}

/// The browser origins allowed to connect; empty allows every origin.
#[derive(Clone, Debug, Default)]
pub struct AllowedOrigins(Arc<[String]>);

impl AllowedOrigins {
    pub fn new(origins: &[String]) -> Self {
        let normalized: Vec<String> = origins
            .iter()
            .map(|origin| origin.trim().trim_end_matches('/').to_ascii_lowercase())
            .filter(|origin| !origin.is_empty())
            .collect();
        Self(normalized.into())
    }

    fn allows(&self, origin: Option<&HeaderValue>) -> bool {
        let Some(origin) = origin else {
            return true;
        };
        self.0.is_empty()
            || origin
                .to_str()
                .is_ok_and(|origin| self.0.contains(&origin.to_ascii_lowercase()))
    }
}

/// Refuses a request whose `Origin` is not allowed, before socketioxide sees it: a page on
/// another site cannot open a connection with a token it got hold of. An allowed browser
/// origin gets the CORS headers that let its page read the answers: without them a page on
/// the app's own origin could not use HTTP long-polling (WebSocket needs none). No
/// credentials are allowed: tokens travel in the Socket.IO handshake, never in cookies.
pub async fn check_origin(
    State(allowed): State<AllowedOrigins>,
    request: Request,
    next: Next,
) -> Response {
    let origin = request.headers().get(header::ORIGIN).cloned();
    if !allowed.allows(origin.as_ref()) {
        crate::metrics::origin_refused();
        return (StatusCode::FORBIDDEN, "origin not allowed").into_response();
    }
    let Some(origin) = origin else {
        return next.run(request).await;
    };
    let mut response = if is_preflight(&request) {
        preflight_answer(request.headers())
    } else {
        next.run(request).await
    };
    let headers = response.headers_mut();
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    headers.append(header::VARY, HeaderValue::from_static("origin"));
    response
}

/// A browser asking whether it may send a request that is not "simple" (e.g. with headers
/// of the app's own, as `extraHeaders` adds).
fn is_preflight(request: &Request) -> bool {
    request.method() == axum::http::Method::OPTIONS
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
}

/// Allows the Engine.IO methods and whichever headers the browser asks for; browsers may
/// cache the answer for 10 minutes.
fn preflight_answer(request: &HeaderMap) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST"),
    );
    if let Some(asked) = request.get(header::ACCESS_CONTROL_REQUEST_HEADERS) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, asked.clone());
    }
    headers.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("600"),
    );
    response
}

/// The process is up and serving HTTP.
async fn healthz() -> &'static str {
    "ok"
}

/// Every backend answers its health check with SERVING; otherwise 503 with each one's state.
/// Always 503 once shutdown has begun.
async fn readyz(State(state): State<HttpState>) -> Response {
    if state.draining.is_draining() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({ "ready": false, "draining": true })),
        )
            .into_response();
    }
    let mut readiness = state.backends.readiness().await;
    readiness.events = state.following.states();
    readiness.ready &= state.following.all();
    let status = if readiness.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(readiness)).into_response()
}

async fn render_metrics(State(state): State<HttpState>) -> impl IntoResponse {
    (
        [("content-type", "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}
