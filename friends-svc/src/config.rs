//! Flags of `friends-svc`, each with an environment-variable fallback.

use std::net::SocketAddr;

use parley_common::config::{DatabaseArgs, InternalArgs, parse_optional_addr};

/// How `friends-svc` runs.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "friends-svc", version, about = "Parley friends service (gRPC)")]
pub struct Config {
    /// Address the gRPC server listens on. Port 0 picks a free port (tests do this).
    #[arg(long, env = "PARLEY_FRIENDS_ADDR", default_value = "127.0.0.1:50051")]
    pub listen_addr: SocketAddr,

    /// Where `GET /metrics` (Prometheus text) is served; empty turns it off.
    #[arg(long, env = "PARLEY_FRIENDS_METRICS_ADDR", default_value = "127.0.0.1:9101", value_parser = parse_optional_addr)]
    // Spelled out so that clap takes the parser's own `Option` (empty = off) as the value.
    pub metrics_addr: ::std::option::Option<SocketAddr>,

    #[command(flatten)]
    pub database: DatabaseArgs,

    #[command(flatten)]
    pub internal: InternalArgs,
}
