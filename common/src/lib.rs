//! What several Parley processes do the same way: configuration, telemetry and metrics, trace
//! propagation, gRPC server scaffolding and the service token, the Postgres pool and
//! migrations, shutdown, the services' error type, and the event machinery behind every
//! service's `Subscribe` stream (the event log, its fan-out across replicas, following
//! another service's stream). Besides, the one client two services share: chat-svc's and
//! presence-svc's client of friends-svc (`friends`), and the replica-spreading channel
//! (`replicas`).
//!
//! No rules of any service live here: what a service decides is its own.

pub mod bus;
pub mod chat;
pub mod config;
pub mod db;
pub mod error;
pub mod events;
pub mod follow;
pub mod friends;
pub mod grpc;
pub mod ids;
pub mod listen;
pub mod lock;
pub mod media_url;
pub mod metrics;
pub mod propagation;
pub mod rate_limit;
pub mod replicas;
pub mod service_token;
pub mod shutdown;
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;
pub mod time;
