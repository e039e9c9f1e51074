//! The Socket.IO edge: the only public door of Parley.
//!
//! It authenticates each handshake by JWT, validates and answers client events by calling the
//! services over gRPC, and serves health, readiness and metrics. It keeps no state that must
//! survive it.

pub mod admission;
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
mod resync;
mod sessions;
mod slow_sockets;
pub mod startup;
mod wire;

pub use handlers::NAMESPACES;

/// The payload decoding of every client event, for the fuzz targets in `edge/fuzz`: they must
/// run the very functions the handlers run, and those live in private modules. Not an API.
/// (The handshake's decoding is `auth::Authenticator::identify`, public already.)
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::handlers::Decoded;
    pub use socketioxide::ParserError;

    /// `/chat`'s events and what each does with its payload.
    pub mod chat {
        pub use crate::handlers::chat::{EVENTS, decode};
    }

    /// `/status`'s events and what each does with its payload.
    pub mod status {
        pub use crate::handlers::status::{EVENTS, decode};
    }

    /// `/friends`' events and what each does with its payload.
    pub mod friends {
        pub use crate::handlers::friends::{EVENTS, decode};
    }
}
