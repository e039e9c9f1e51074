//! Flags of `friends-svc`, each with an environment-variable fallback.

use std::net::SocketAddr;

use parley_common::config::DatabaseArgs;

/// How `friends-svc` runs.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "friends-svc", version, about = "Parley friends service (gRPC)")]
pub struct Config {
    /// Address the gRPC server listens on. Port 0 picks a free port (tests do this).
    #[arg(long, env = "PARLEY_FRIENDS_ADDR", default_value = "127.0.0.1:50051")]
    pub listen_addr: SocketAddr,

    #[command(flatten)]
    pub database: DatabaseArgs,
}
