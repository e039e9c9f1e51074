//! Flags of `calls-svc`, each with an environment-variable fallback.

use std::{net::SocketAddr, time::Duration};

use parley_common::config::{
    BusArgs, DatabaseArgs, InternalArgs, parse_duration, parse_optional_addr,
};

use crate::{domain::Timing, turn::TurnArgs};

/// How `calls-svc` runs.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "calls-svc", version, about = "Parley calls service (gRPC)")]
pub struct Config {
    /// Address the gRPC server listens on. Port 0 picks a free port (tests do this).
    #[arg(long, env = "PARLEY_CALLS_ADDR", default_value = "127.0.0.1:50055")]
    pub listen_addr: SocketAddr,

    /// gRPC address of chat-svc (one or several replicas, comma-separated): who may call
    /// whom, and the CALL messages.
    #[arg(
        long,
        env = "PARLEY_CHAT_URL",
        default_value = "http://127.0.0.1:50053"
    )]
    pub chat_url: String,

    /// gRPC address of friends-svc: friendships, and the blocks that end calls.
    #[arg(
        long,
        env = "PARLEY_FRIENDS_URL",
        default_value = "http://127.0.0.1:50051"
    )]
    pub friends_url: String,

    /// Where `GET /metrics` (Prometheus text) is served; empty turns it off.
    #[arg(long, env = "PARLEY_CALLS_METRICS_ADDR", default_value = "127.0.0.1:9105", value_parser = parse_optional_addr)]
    // Spelled out so that clap takes the parser's own `Option` (empty = off) as the value.
    pub metrics_addr: ::std::option::Option<SocketAddr>,

    #[command(flatten)]
    pub limits: Limits,

    #[command(flatten)]
    pub turn: TurnArgs,

    #[command(flatten)]
    pub database: DatabaseArgs,

    #[command(flatten)]
    pub bus: BusArgs,

    #[command(flatten)]
    pub internal: InternalArgs,
}

/// Times and limits of calls (docs/API.md "/calls").
#[derive(Debug, Clone, clap::Args)]
pub struct Limits {
    /// How long a call rings.
    #[arg(long = "call-ring", env = "PARLEY_CALL_RING", default_value = "60s", value_parser = parse_duration)]
    pub ring: Duration,

    /// How long an answered call may take to connect.
    #[arg(long = "call-connect", env = "PARLEY_CALL_CONNECT", default_value = "30s", value_parser = parse_duration)]
    pub connect: Duration,

    /// How long a ringing call survives its calling device having no socket.
    #[arg(long = "call-caller-grace", env = "PARLEY_CALL_CALLER_GRACE", default_value = "10s", value_parser = parse_duration)]
    pub caller_grace: Duration,

    /// How long an answered call survives a party's device having no socket.
    #[arg(long = "call-resume-grace", env = "PARLEY_CALL_RESUME_GRACE", default_value = "30s", value_parser = parse_duration)]
    pub resume_grace: Duration,

    /// A ringing call with less than this left is not replayed to a device that connects.
    #[arg(long = "call-replay-cutoff", env = "PARLEY_CALL_REPLAY_CUTOFF", default_value = "3s", value_parser = parse_duration)]
    pub replay_cutoff: Duration,

    /// The longest a call may last.
    #[arg(long = "call-max", env = "PARLEY_CALL_MAX", default_value = "12h", value_parser = parse_duration)]
    pub max: Duration,

    /// Only friends may call each other.
    #[arg(long = "calls-friends-only", env = "PARLEY_CALLS_FRIENDS_ONLY", default_value_t = true, action = clap::ArgAction::Set)]
    pub friends_only: bool,

    /// Unanswered calls from one user to another per 10 minutes (0: no limit).
    #[arg(
        long = "call-unanswered-per-pair",
        env = "PARLEY_CALL_UNANSWERED_PER_PAIR",
        default_value_t = 3
    )]
    pub unanswered_per_pair: u32,

    /// How often every replica applies the deadlines.
    #[arg(long = "call-sweep-interval", env = "PARLEY_CALL_SWEEP_INTERVAL", default_value = "1s", value_parser = parse_duration)]
    pub sweep_interval: Duration,
}

impl Limits {
    pub fn timing(&self) -> Timing {
        Timing {
            ring: self.ring,
            connect: self.connect,
            caller_grace: self.caller_grace,
            resume_grace: self.resume_grace,
            replay_cutoff: self.replay_cutoff,
            max: self.max,
        }
    }
}
