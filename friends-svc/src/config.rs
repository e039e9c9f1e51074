//! Flags of `friends-svc`, each with an environment-variable fallback.

use std::{net::SocketAddr, time::Duration};

use parley_common::config::{
    BusArgs, DatabaseArgs, InternalArgs, parse_duration, parse_optional_addr,
};

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
    pub bus: BusArgs,

    #[command(flatten)]
    pub internal: InternalArgs,

    #[command(flatten)]
    pub request_cooldowns: RequestCooldowns,
}

/// How long a requester must wait before asking the same user again, so that nobody can
/// ring another user with a request/cancel loop (docs/API.md, `/friends`). Only the
/// requester waits: the other user can still ask back, and accept.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct RequestCooldowns {
    /// After the target declined the request: the target said no, so a long wait.
    #[arg(
        long = "friend-request-declined-cooldown",
        env = "PARLEY_FRIEND_REQUEST_DECLINED_COOLDOWN",
        default_value = "1h",
        value_parser = parse_duration
    )]
    pub declined: Duration,

    /// After the requester cancelled their own request: short, since cancelling may be a
    /// slip, but long enough that a loop rings the target a few times an hour at most.
    #[arg(
        long = "friend-request-cancelled-cooldown",
        env = "PARLEY_FRIEND_REQUEST_CANCELLED_COOLDOWN",
        default_value = "10m",
        value_parser = parse_duration
    )]
    pub cancelled: Duration,
}

impl Default for RequestCooldowns {
    /// The defaults of the flags.
    fn default() -> Self {
        Self {
            declined: Duration::from_secs(3600),
            cancelled: Duration::from_secs(600),
        }
    }
}
