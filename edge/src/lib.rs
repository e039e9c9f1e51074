//! The Socket.IO edge: the only public door of Parley.
//!
//! It authenticates each handshake by JWT, validates and answers client events by calling the
//! services over gRPC, and serves health, readiness and metrics. It keeps no state that must
//! survive it.

pub mod auth;
pub mod backends;
pub mod config;
pub mod error;
mod fan_in;
mod handlers;
mod http;
mod known_users;
mod metrics;
pub mod payload;
pub mod reply;
mod sessions;
pub mod startup;
mod wire;

pub use handlers::NAMESPACES;
