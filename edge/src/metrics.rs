//! Prometheus metrics of the edge, served at `GET /metrics`.

pub use parley_common::metrics::recorder as prometheus;

/// A socket connected to (`+1`) or left (`-1`) a namespace.
pub fn connections_changed(namespace: &str, delta: f64) {
    metrics::gauge!("parley_edge_connections", "namespace" => namespace.to_owned())
        .increment(delta);
}

/// The events of one service's stream that reach this edge, and their bytes as protobuf:
/// what the edge takes in, to divide by what its own clients get (docs/BENCHMARKS.md, the NATS
/// bus). Made once per stream, so counting an event looks nothing up.
pub struct Intake {
    events: metrics::Counter,
    bytes: metrics::Counter,
}

impl Intake {
    pub fn of(service: &'static str) -> Self {
        Self {
            events: metrics::counter!("parley_edge_followed_events_total", "service" => service),
            bytes: metrics::counter!("parley_edge_followed_bytes_total", "service" => service),
        }
    }

    pub fn count(&self, bytes: usize) {
        self.events.increment(1);
        self.bytes.increment(bytes as u64);
    }
}

/// A client event was answered with `outcome` (`OK` or a docs/API.md error code).
pub fn event_handled(event: &str, outcome: &'static str) {
    metrics::counter!("parley_edge_events_total", "event" => event.to_owned(), "outcome" => outcome)
        .increment(1);
}

/// A handshake was refused.
pub fn connection_refused(namespace: &str) {
    metrics::counter!("parley_edge_connections_refused_total", "namespace" => namespace.to_owned())
        .increment(1);
}

/// A handshake came from a browser origin that is not allowed.
pub fn origin_refused() {
    metrics::counter!("parley_edge_origins_refused_total").increment(1);
}

/// An event was emitted to `rooms` socketioxide rooms.
pub fn fanned_out(event: &str, rooms: usize) {
    metrics::histogram!("parley_edge_fanout_rooms", "event" => event.to_owned())
        .record(rooms as f64);
}

/// Some sockets did not get an emit (a full buffer or a closed socket).
pub fn emit_dropped(event: &str) {
    metrics::counter!("parley_edge_dropped_emits_total", "event" => event.to_owned()).increment(1);
}

/// A socket missed an event because it did not read fast enough, and is made to resync.
pub fn socket_lagging(namespace: &str) {
    metrics::counter!("parley_edge_lagging_sockets_total", "namespace" => namespace.to_owned())
        .increment(1);
}

/// A new connection was refused: its client IP opened too many lately.
pub fn handshake_limited() {
    metrics::counter!("parley_edge_handshakes_limited_total").increment(1);
}

/// Every client was made to reconnect: the edge may have missed chat events.
pub fn everyone_resynced() {
    metrics::counter!("parley_edge_resync_all_total").increment(1);
}

/// A socket's token expired without a refresh; its transport is closed.
pub fn token_expired(namespace: &str) {
    metrics::counter!("parley_edge_tokens_expired_total", "namespace" => namespace.to_owned())
        .increment(1);
}

/// A client event was refused: its user is past the rate of its class.
pub fn event_limited(class: &'static str) {
    metrics::counter!("parley_edge_events_limited_total", "class" => class).increment(1);
}
