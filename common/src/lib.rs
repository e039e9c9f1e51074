//! What every Parley process does the same way: configuration, telemetry, trace propagation,
//! gRPC server scaffolding, the Postgres pool and migrations, shutdown, and the table that maps
//! gRPC status codes to the client-facing error codes of docs/API.md.
//!
//! No domain code lives here.

pub mod bus;
pub mod config;
pub mod db;
pub mod error;
pub mod error_code;
pub mod events;
pub mod follow;
pub mod friends;
pub mod grpc;
pub mod metrics;
pub mod propagation;
pub mod replicas;
pub mod service_token;
pub mod shutdown;
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;
pub mod time;

pub use error_code::ErrorCode;
