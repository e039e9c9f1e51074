//! Who may open a new connection: not a client IP past its handshake rate, and nobody
//! while the edge drains for shutdown.
//!
//! Only new Engine.IO handshakes are counted (a request to the Socket.IO path without a
//! `sid`): the polls and upgrade of a connection already admitted pass freely. The key is
//! the client's address as `client_ip` finds it: the TCP peer, or behind a trusted proxy the
//! address the proxy forwarded.

use std::{
    net::IpAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use axum::{
    extract::{ConnectInfo, Request, State},
    http::{HeaderValue, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use parley_common::rate_limit::RateLimit;

use crate::{
    client_ip::TrustedProxies,
    connections::{Peer, sid_of},
};

/// Set once shutdown begins: new connections are refused (503) so that clients reconnect
/// to another edge, and `/readyz` fails so that load balancers stop sending them here.
#[derive(Clone, Default)]
pub struct Draining(Arc<AtomicBool>);

impl Draining {
    pub fn start(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn is_draining(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// The admission rules the middleware applies.
#[derive(Clone)]
pub struct Admission {
    pub draining: Draining,
    per_ip: Arc<RateLimit<IpAddr>>,
    proxies: TrustedProxies,
}

impl Admission {
    /// Admits `per_minute` handshakes per client IP (with bursts of as many); 0 admits all.
    pub fn new(per_minute: u32, proxies: TrustedProxies, draining: Draining) -> Self {
        Self {
            draining,
            per_ip: Arc::new(RateLimit::per_minute(per_minute)),
            proxies,
        }
    }
}

/// Whether `request` opens a new Engine.IO connection.
fn is_handshake(request: &Request) -> bool {
    request.uri().path().starts_with("/socket.io") && sid_of(request).is_none()
}

/// The middleware: refuses a new connection while draining (503) or past the client IP's
/// rate (429 with `Retry-After`); everything else passes.
pub async fn admit(
    State(admission): State<Admission>,
    ConnectInfo(peer): ConnectInfo<Peer>,
    request: Request,
    next: Next,
) -> Response {
    if !is_handshake(&request) {
        return next.run(request).await;
    }
    if admission.draining.is_draining() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down").into_response();
    }
    let client = admission
        .proxies
        .client_ip(peer.addr.ip(), request.headers());
    if let Err(wait_ms) = admission.per_ip.check(&client) {
        crate::metrics::handshake_limited();
        let seconds = wait_ms.div_ceil(1000).max(1).to_string();
        let mut response =
            (StatusCode::TOO_MANY_REQUESTS, "too many new connections").into_response();
        if let Ok(value) = HeaderValue::from_str(&seconds) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        return response;
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(uri: &str) -> Request {
        Request::builder()
            .uri(uri)
            .body(axum::body::Body::empty())
            .expect("a request")
    }

    #[test]
    fn only_requests_without_a_sid_are_handshakes() {
        assert!(is_handshake(&request(
            "/socket.io/?EIO=4&transport=polling"
        )));
        assert!(is_handshake(&request(
            "/socket.io/?EIO=4&transport=websocket"
        )));
        assert!(!is_handshake(&request(
            "/socket.io/?EIO=4&transport=polling&sid=abc"
        )));
        assert!(!is_handshake(&request("/readyz")));
    }

    #[test]
    fn the_sid_is_read_from_the_query() {
        let poll = request("/socket.io/?EIO=4&transport=polling&sid=abc-1");
        assert_eq!(sid_of(&poll), Some("abc-1"));
        assert_eq!(
            sid_of(&request("/socket.io/?EIO=4&transport=polling")),
            None
        );
    }
}
