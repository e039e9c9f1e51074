//! The Socket.IO edge: the only public door of Parley.
//!
//! It authenticates each handshake by JWT, validates and answers client events by calling the
//! services over gRPC, and serves health, readiness and metrics. It keeps no state that must
//! survive it.

pub mod admission;
pub mod auth;
pub mod backends;
mod call_devices;
mod calls_wire;
mod client_events;
pub mod client_ip;
pub mod config;
mod connections;
pub mod error;
pub mod error_code;
pub mod event_limits;
mod http;
pub mod interest;
mod known_users;
mod metrics;
mod namespaces;
pub mod payload;
pub mod protocol_schema;
mod relay;
pub mod reply;
mod resync;
mod rooms;
mod server_events;
mod sessions;
mod slow_sockets;
pub mod startup;
mod token_lifetime;
mod wire;

pub use namespaces::NAMESPACES;

/// The payload decoding of every client event, for the fuzz targets in `edge/fuzz`: they must
/// run the very functions the edge runs, and those live in private modules. Not an API.
/// (The handshake's decoding is `auth::Authenticator::identify`, public already.)
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::client_events::{Caller, Decoded, decode, names};
    pub use socketioxide::ParserError;
}
