//! Flags of `presence-svc`, each with an environment-variable fallback.

use std::{net::SocketAddr, time::Duration};

use parley_common::config::{
    BusArgs, DatabaseArgs, InternalArgs, parse_duration, parse_optional_addr,
};

use crate::state::Timing;

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

    /// gRPC address of friends-svc, for friend lists.
    #[arg(
        long,
        env = "PARLEY_FRIENDS_URL",
        default_value = "http://127.0.0.1:50051"
    )]
    pub friends_url: String,

    /// A session without a heartbeat for this long no longer counts as online.
    #[arg(long, env = "PARLEY_HEARTBEAT_TIMEOUT", default_value = "90s", value_parser = parse_duration)]
    pub heartbeat_timeout: Duration,

    /// How long after a user's last session goes friends still see them as before: a device
    /// that reconnects within it causes no OFFLINE/ONLINE pair.
    #[arg(long, env = "PARLEY_PRESENCE_GRACE", default_value = "5s", value_parser = parse_duration)]
    pub grace: Duration,

    /// How long an edge's sessions live without the edge renewing its lease. An edge whose
    /// lease lapses here but that renewed with another replica within this long moved there
    /// (a failover): its sessions are let go without announcing anyone OFFLINE.
    #[arg(long, env = "PARLEY_EDGE_LEASE_TTL", default_value = "30s", value_parser = parse_duration)]
    pub lease_ttl: Duration,

    /// How this replica is reached by the edges and the other replicas: its name in the
    /// shard lease table. Empty: `http://` and the address it listens on (with `HOSTNAME`
    /// for an unspecified IP such as 0.0.0.0). Replicas must each have their own.
    #[arg(long, env = "PARLEY_PRESENCE_ADVERTISE_URL", default_value = "")]
    pub advertise_url: String,

    /// How long a replica's lease on its user shards lasts without renewal (renewed five
    /// times per lease): when a replica dies, its shards move after at most about this long.
    #[arg(long, env = "PARLEY_PRESENCE_SHARD_TTL", default_value = "10s", value_parser = parse_duration)]
    pub shard_ttl: Duration,

    /// How often changed last-seen times are written (in one batch); a crash loses at most
    /// this much.
    #[arg(long, env = "PARLEY_LAST_SEEN_FLUSH_INTERVAL", default_value = "30s", value_parser = parse_duration)]
    pub flush_interval: Duration,

    /// Where `GET /metrics` (Prometheus text) is served; empty turns it off.
    #[arg(long, env = "PARLEY_PRESENCE_METRICS_ADDR", default_value = "127.0.0.1:9102", value_parser = parse_optional_addr)]
    // Spelled out so that clap takes the parser's own `Option` (empty = off) as the value.
    pub metrics_addr: ::std::option::Option<SocketAddr>,

    #[command(flatten)]
    pub database: DatabaseArgs,

    #[command(flatten)]
    pub bus: BusArgs,

    #[command(flatten)]
    pub internal: InternalArgs,
}

impl Config {
    pub fn timing(&self) -> Timing {
        Timing {
            heartbeat_timeout: self.heartbeat_timeout,
            grace: self.grace,
            lease_ttl: self.lease_ttl,
        }
    }

    /// How often the shard leases are renewed: five times per lease.
    pub fn shard_round_interval(&self) -> Duration {
        (self.shard_ttl / 5).max(Duration::from_millis(100))
    }

    /// How often time-based rules are applied: fine enough for the shortest of them.
    pub fn tick_interval(&self) -> Duration {
        (self.grace.min(self.heartbeat_timeout) / 5)
            .clamp(Duration::from_millis(50), Duration::from_secs(1))
    }
}
