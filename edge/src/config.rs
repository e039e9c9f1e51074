//! Flags of the edge, each with an environment-variable fallback.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use parley_common::config::{InternalArgs, parse_duration};

use crate::{client_ip::Network, event_limits::EventLimitArgs};

/// The `edge` command line: serve (the default), print a development token, or print the
/// client protocol's JSON Schema.
#[derive(Debug, clap::Parser)]
#[command(
    name = "edge",
    version,
    about = "Parley Socket.IO edge",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub serve: Config,
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Run the edge (what plain `edge` does).
    Serve(Box<Config>),
    /// Print an HS256 token for a development user, signed with PARLEY_JWT_SECRET.
    Token(TokenArgs),
    /// Print the client protocol as JSON Schema (clients/js/protocol/schema.json).
    Schema,
}

/// How the edge runs.
#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// Address the HTTP and Socket.IO server listens on. Port 0 picks a free port.
    #[arg(long, env = "PARLEY_EDGE_ADDR", default_value = "127.0.0.1:3000")]
    pub listen_addr: SocketAddr,

    /// gRPC address of chat-svc.
    #[arg(
        long,
        env = "PARLEY_CHAT_URL",
        default_value = "http://127.0.0.1:50053"
    )]
    pub chat_url: String,

    /// gRPC address of presence-svc.
    #[arg(
        long,
        env = "PARLEY_PRESENCE_URL",
        default_value = "http://127.0.0.1:50052"
    )]
    pub presence_url: String,

    /// gRPC address of friends-svc.
    #[arg(
        long,
        env = "PARLEY_FRIENDS_URL",
        default_value = "http://127.0.0.1:50051"
    )]
    pub friends_url: String,

    /// gRPC address of media-svc (attachments). Empty: this deployment has no media-svc; the
    /// attachment events then answer `UNAVAILABLE` and `/readyz` does not wait for it.
    #[arg(
        long,
        env = "PARLEY_MEDIA_URL",
        default_value = "http://127.0.0.1:50054"
    )]
    pub media_url: String,

    /// gRPC address(es) of calls-svc (voice and video calls). Empty: this deployment has no
    /// calls-svc; the `/calls` events then answer `UNAVAILABLE`, its sockets get no
    /// `calls-state`, and `/readyz` does not wait for it.
    #[arg(
        long,
        env = "PARLEY_CALLS_URL",
        default_value = "http://127.0.0.1:50055"
    )]
    pub calls_url: String,

    /// Deadline of every unary gRPC call; past it the client gets `UNAVAILABLE`.
    #[arg(long, env = "PARLEY_GRPC_TIMEOUT", default_value = "5s", value_parser = parse_duration)]
    pub grpc_timeout: Duration,

    /// How often the edge renews its presence lease (one call for all its `/status`
    /// sessions). Keep it well under presence-svc's `PARLEY_EDGE_LEASE_TTL`. A failed renewal
    /// is tried again after 1 s (at most this interval), on the next replica.
    #[arg(long, env = "PARLEY_EDGE_LEASE_INTERVAL", default_value = "10s", value_parser = parse_duration)]
    pub lease_interval: Duration,

    /// How long calls-svc keeps this edge's `/calls` sockets without a renewal (sent with
    /// each renewal, every `PARLEY_EDGE_LEASE_INTERVAL`): when this edge dies, its callers'
    /// legs are lost this long after its last renewal. At least twice the interval.
    #[arg(long, env = "PARLEY_CALLS_LEASE_TTL", default_value = "30s", value_parser = parse_duration)]
    pub calls_lease_ttl: Duration,

    /// New connections (Engine.IO handshakes) one client IP may open per minute, in bursts
    /// of as many; 0 turns the limit off. Behind a proxy, list it in
    /// `PARLEY_TRUSTED_PROXIES`, or every client shares its IP.
    #[arg(
        long,
        env = "PARLEY_HANDSHAKES_PER_IP_PER_MINUTE",
        default_value_t = 300
    )]
    pub handshakes_per_ip_per_minute: u32,

    /// Requests to `/healthz`, `/readyz` and `/metrics` one client IP may make per minute,
    /// in bursts of as many (`/readyz` calls every backend's health check); 0 turns the limit
    /// off. Past it: `429`.
    #[arg(long, env = "PARLEY_PROBES_PER_IP_PER_MINUTE", default_value_t = 120)]
    pub probes_per_ip_per_minute: u32,

    /// Proxies (addresses or networks such as `10.0.0.0/8`, comma-separated) whose
    /// `Forwarded` / `X-Forwarded-For` headers name the client; from any other peer those
    /// headers are ignored. Empty: the TCP peer is the client.
    #[arg(long, env = "PARLEY_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<Network>,

    /// Namespace connects one client connection may make per minute, in bursts of as many
    /// (a client opens one per namespace, again after each reconnect of its own); 0 turns
    /// the limit off. Past it a connect is refused with `RATE_LIMITED`.
    #[arg(
        long,
        env = "PARLEY_NAMESPACE_CONNECTS_PER_MINUTE",
        default_value_t = 30
    )]
    pub namespace_connects_per_minute: u32,

    /// Largest Socket.IO packet (and HTTP long-polling body) accepted from a client.
    #[arg(long, env = "PARLEY_MAX_PACKET_BYTES", default_value_t = 64 * 1024)]
    pub max_packet_bytes: u64,

    /// Origins (scheme://host[:port]) whose browsers may connect, comma-separated. A handshake
    /// that carries another `Origin` is refused with 403; one without `Origin` (native and
    /// server-side clients) is let through to the token check. Empty: every origin.
    #[arg(long, env = "PARLEY_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,

    #[command(flatten)]
    pub auth: AuthArgs,

    #[command(flatten)]
    pub event_limits: EventLimitArgs,

    #[command(flatten)]
    pub internal: InternalArgs,
}

/// Which tokens the edge accepts.
#[derive(Debug, Clone, clap::Args)]
pub struct AuthArgs {
    /// Shared secret for HS256 tokens.
    #[arg(long, env = "PARLEY_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,

    /// PEM file with an RSA or Ed25519 public key, for RS256/RS384/RS512/PS256/PS384/PS512
    /// or EdDSA tokens.
    #[arg(long, env = "PARLEY_JWT_PUBLIC_KEY_FILE")]
    pub jwt_public_key_file: Option<PathBuf>,

    /// When set, tokens must carry exactly this `iss`.
    #[arg(long, env = "PARLEY_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,

    /// When set, tokens must list this `aud`.
    #[arg(long, env = "PARLEY_JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,

    /// Clock skew tolerated on `exp` and `nbf`.
    #[arg(long, env = "PARLEY_JWT_LEEWAY", default_value = "30s", value_parser = parse_duration)]
    pub jwt_leeway: Duration,
}

/// `edge token`: a token for local development and tests.
#[derive(Debug, Clone, clap::Args)]
pub struct TokenArgs {
    /// The username; the user id is derived from it, so the same name always gets the same id.
    #[arg(long)]
    pub user: String,

    /// How long the token is valid.
    #[arg(long, default_value = "24h", value_parser = parse_duration)]
    pub ttl: Duration,

    /// Secret to sign with.
    #[arg(long, env = "PARLEY_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: String,
}
