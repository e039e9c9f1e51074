//! Flags of `media-svc`, each with an environment-variable fallback.

use std::{net::SocketAddr, time::Duration};

use parley_common::{
    config::{DatabaseArgs, InternalArgs, parse_duration, parse_optional_addr},
    media_url::MediaUrlArgs,
};

use crate::store::StoreArgs;

/// How `media-svc` runs.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "media-svc",
    version,
    about = "Parley media service (gRPC and HTTP)"
)]
pub struct Config {
    /// Address the gRPC server listens on. Port 0 picks a free port (tests do this).
    #[arg(long, env = "PARLEY_MEDIA_ADDR", default_value = "127.0.0.1:50054")]
    pub listen_addr: SocketAddr,

    /// Address of the HTTP data plane (uploads and downloads by signed URL). Clients reach it
    /// at PARLEY_MEDIA_PUBLIC_URL, which should be an origin of its own.
    #[arg(long, env = "PARLEY_MEDIA_HTTP_ADDR", default_value = "127.0.0.1:3100")]
    pub http_addr: SocketAddr,

    /// gRPC address of chat-svc: who may post where, and which message holds an attachment.
    #[arg(
        long,
        env = "PARLEY_CHAT_URL",
        default_value = "http://127.0.0.1:50053"
    )]
    pub chat_url: String,

    /// Where `GET /metrics` (Prometheus text) is served; empty turns it off.
    #[arg(long, env = "PARLEY_MEDIA_METRICS_ADDR", default_value = "127.0.0.1:9104", value_parser = parse_optional_addr)]
    // Spelled out so that clap takes the parser's own `Option` (empty = off) as the value.
    pub metrics_addr: ::std::option::Option<SocketAddr>,

    #[command(flatten)]
    pub urls: MediaUrlArgs,

    #[command(flatten)]
    pub store: StoreArgs,

    #[command(flatten)]
    pub limits: Limits,

    #[command(flatten)]
    pub database: DatabaseArgs,

    #[command(flatten)]
    pub internal: InternalArgs,
}

/// Sizes, counts, quotas and lifetimes (docs/API.md "Attachments"; the README's table).
#[derive(Debug, Clone, clap::Args)]
pub struct Limits {
    /// Largest file one upload may declare, in bytes.
    #[arg(long, env = "PARLEY_MEDIA_MAX_UPLOAD_BYTES", default_value_t = 100 * MIB)]
    pub max_upload_bytes: u64,

    /// Attachments one message may carry (told to clients; chat-svc enforces its own
    /// PARLEY_MAX_ATTACHMENTS).
    #[arg(long, env = "PARLEY_MEDIA_MAX_ATTACHMENTS", default_value_t = 10)]
    pub max_attachments: u32,

    /// Uploads a user may have reserved and not completed at once.
    #[arg(long, env = "PARLEY_MEDIA_MAX_PENDING_UPLOADS", default_value_t = 20)]
    pub max_pending_uploads: u32,

    /// Bytes a user may reserve per UTC day (0: no limit).
    #[arg(long, env = "PARLEY_MEDIA_DAILY_BYTES", default_value_t = 1024 * MIB)]
    pub daily_bytes: u64,

    /// Bytes a user may store in all (0: no limit).
    #[arg(long, env = "PARLEY_MEDIA_MAX_STORED_BYTES", default_value_t = 10 * 1024 * MIB)]
    pub max_stored_bytes: u64,

    /// `create-upload` calls per user per minute (0: no limit).
    #[arg(long, env = "PARLEY_MEDIA_UPLOADS_PER_MINUTE", default_value_t = 30)]
    pub uploads_per_minute: u32,

    /// How long a reservation and its upload URL stay valid.
    #[arg(long, env = "PARLEY_MEDIA_UPLOAD_TTL", default_value = "1h", value_parser = parse_duration)]
    pub upload_ttl: Duration,

    /// How long a completed attachment may wait to be sent before the sweeper removes it.
    #[arg(long, env = "PARLEY_MEDIA_UNSENT_TTL", default_value = "24h", value_parser = parse_duration)]
    pub unsent_ttl: Duration,

    /// How long the bytes of a deleted attachment are kept (it answers 404 at once).
    #[arg(long, env = "PARLEY_MEDIA_PURGE_AFTER", default_value = "24h", value_parser = parse_duration)]
    pub purge_after: Duration,

    /// How often the sweeper runs.
    #[arg(long, env = "PARLEY_MEDIA_SWEEP_INTERVAL", default_value = "1m", value_parser = parse_duration)]
    pub sweep_interval: Duration,

    /// How often each sent attachment is checked again with chat-svc, in case the event of
    /// its message's deletion was lost.
    #[arg(long, env = "PARLEY_MEDIA_RECONCILE_AFTER", default_value = "24h", value_parser = parse_duration)]
    pub reconcile_after: Duration,

    /// Images up to this size are stripped, decoded and given variants; a larger one is kept
    /// as a FILE of type application/octet-stream.
    #[arg(long, env = "PARLEY_MEDIA_MAX_IMAGE_BYTES", default_value_t = 50 * MIB)]
    pub max_image_bytes: u64,

    /// Images processed at once (each on a blocking thread, off the async runtime); 0: half
    /// the cores, at least one.
    #[arg(long, env = "PARLEY_MEDIA_PROCESSING_THREADS", default_value_t = 0)]
    pub processing_threads: usize,

    /// HTTP requests per client IP per minute on the data plane (0: no limit).
    #[arg(
        long,
        env = "PARLEY_MEDIA_HTTP_PER_IP_PER_MINUTE",
        default_value_t = 600
    )]
    pub http_per_ip_per_minute: u32,
}

const MIB: u64 = 1024 * 1024;

impl Default for Limits {
    /// The defaults of the flags.
    fn default() -> Self {
        Self {
            max_upload_bytes: 100 * MIB,
            max_attachments: 10,
            max_pending_uploads: 20,
            daily_bytes: 1024 * MIB,
            max_stored_bytes: 10 * 1024 * MIB,
            uploads_per_minute: 30,
            upload_ttl: Duration::from_secs(3600),
            unsent_ttl: Duration::from_secs(24 * 3600),
            purge_after: Duration::from_secs(24 * 3600),
            sweep_interval: Duration::from_secs(60),
            reconcile_after: Duration::from_secs(24 * 3600),
            max_image_bytes: 50 * MIB,
            processing_threads: 0,
            http_per_ip_per_minute: 600,
        }
    }
}
