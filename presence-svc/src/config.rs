//! Flags of `presence-svc`, each with an environment-variable fallback.

use std::net::SocketAddr;

use parley_common::config::DatabaseArgs;

/// How `presence-svc` runs.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "presence-svc",
    version,
    about = "Parley presence service (gRPC)"
)]
pub struct Config {
    /// Address the gRPC server listens on. Port 0 picks a free port (tests do this).
    #[arg(long, env = "PARLEY_PRESENCE_ADDR", default_value = "127.0.0.1:50052")]
    pub listen_addr: SocketAddr,

    #[command(flatten)]
    pub database: DatabaseArgs,
}
