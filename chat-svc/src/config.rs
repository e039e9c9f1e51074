//! Flags of `chat-svc`, each with an environment-variable fallback.

use std::net::SocketAddr;

use parley_common::{
    config::{BusArgs, DatabaseArgs, InternalArgs, parse_optional_addr},
    media_url::MediaUrlArgs,
};

/// How `chat-svc` runs.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "chat-svc", version, about = "Parley chat service (gRPC)")]
pub struct Config {
    /// Address the gRPC server listens on. Port 0 picks a free port (tests do this).
    #[arg(long, env = "PARLEY_CHAT_ADDR", default_value = "127.0.0.1:50053")]
    pub listen_addr: SocketAddr,

    /// gRPC address of friends-svc: names of members and blocks between users.
    #[arg(
        long,
        env = "PARLEY_FRIENDS_URL",
        default_value = "http://127.0.0.1:50051"
    )]
    pub friends_url: String,

    /// gRPC address of media-svc (one or several replicas, comma-separated): it resolves the
    /// uploads a message sends. Text messages never call it.
    #[arg(
        long,
        env = "PARLEY_MEDIA_URL",
        default_value = "http://127.0.0.1:50054"
    )]
    pub media_url: String,

    /// Most attachments one message may carry.
    #[arg(long, env = "PARLEY_MAX_ATTACHMENTS", default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=100))]
    pub max_attachments: u16,

    /// Where download URLs point and how they are signed; without keys, attachments are off
    /// (sends with attachments and the attachment calls answer FAILED_PRECONDITION).
    #[command(flatten)]
    pub media_urls: MediaUrlArgs,

    /// `send-message` calls allowed per user per minute (0: no limit).
    #[arg(long, env = "PARLEY_MESSAGE_RATE_PER_MINUTE", default_value_t = 60)]
    pub message_rate_per_minute: u32,

    /// `create-room` calls allowed per user per minute (0: no limit).
    #[arg(long, env = "PARLEY_ROOMS_PER_MINUTE", default_value_t = 10)]
    pub rooms_per_minute: u32,

    /// Members a user may add per minute, by `create-room` (its `memberIds`) and
    /// `add-members` together, counting every user a call names (0: no limit). One call
    /// names at most 100: below 100, a call naming more than the limit is always refused.
    #[arg(long, env = "PARLEY_MEMBERS_ADDED_PER_MINUTE", default_value_t = 200)]
    pub members_added_per_minute: u32,

    /// Message writers, each with its own batch in flight; a room's messages always go through
    /// the same one, so they keep their order (docs/BENCHMARKS.md measures the choice).
    #[arg(long, env = "PARLEY_CHAT_WRITERS", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub writers: u16,

    /// Where `GET /metrics` (Prometheus text) is served; empty turns it off.
    #[arg(long, env = "PARLEY_CHAT_METRICS_ADDR", default_value = "127.0.0.1:9103", value_parser = parse_optional_addr)]
    // Spelled out so that clap takes the parser's own `Option` (empty = off) as the value.
    pub metrics_addr: ::std::option::Option<SocketAddr>,

    #[command(flatten)]
    pub database: DatabaseArgs,

    #[command(flatten)]
    pub bus: BusArgs,

    #[command(flatten)]
    pub internal: InternalArgs,
}
