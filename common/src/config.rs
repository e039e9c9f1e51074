//! Command-line flags shared by several processes; each has an environment-variable fallback.

use std::time::Duration;

/// How a service reaches Postgres.
#[derive(Debug, Clone, clap::Args)]
pub struct DatabaseArgs {
    /// Postgres connection URL. Each service works in its own schema of this database.
    #[arg(
        long = "database-url",
        env = "DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/parley"
    )]
    pub url: String,

    /// Upper bound of the connection pool. Batched write paths need few connections; the bound
    /// keeps several replicas from exhausting Postgres' `max_connections`.
    #[arg(
        long = "db-max-connections",
        env = "PARLEY_DB_MAX_CONNECTIONS",
        default_value_t = 10
    )]
    pub max_connections: u32,

    /// How long a request waits for a free connection before it fails with `UNAVAILABLE`.
    #[arg(
        long = "db-acquire-timeout",
        env = "PARLEY_DB_ACQUIRE_TIMEOUT",
        default_value = "5s",
        value_parser = parse_duration
    )]
    pub acquire_timeout: Duration,
}

/// Which bus carries a service's events to its replicas (`bus`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum BusKind {
    /// Postgres LISTEN/NOTIFY: nothing else to run, for one machine.
    #[default]
    Postgres,
    /// NATS JetStream, relayed from the outbox: for replicas on several machines.
    Nats,
}

/// How a service's events reach its replicas, and where NATS is when it carries them.
#[derive(Debug, Clone, clap::Args)]
pub struct BusArgs {
    /// `postgres` or `nats` (docs/decisions/0016-scale-out-on-nats.md).
    #[arg(long = "bus", env = "PARLEY_BUS", value_enum, default_value_t = BusKind::Postgres)]
    pub kind: BusKind,

    /// The NATS servers, comma-separated; used with `--bus nats` only.
    #[arg(
        long = "nats-url",
        env = "PARLEY_NATS_URL",
        default_value = "nats://127.0.0.1:4222"
    )]
    pub nats_url: String,

    /// Begins the names of this system's streams and subjects, so that several systems (or
    /// test runs) share one NATS cluster: letters, digits, `_` and `-`.
    #[arg(long = "nats-prefix", env = "PARLEY_NATS_PREFIX", default_value = "parley", value_parser = parse_nats_prefix)]
    pub nats_prefix: String,

    /// Copies of each stream the NATS cluster keeps (at most its number of servers).
    #[arg(long = "nats-replicas", env = "PARLEY_NATS_REPLICAS", default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=5))]
    pub nats_replicas: u8,
}

impl Default for BusArgs {
    fn default() -> Self {
        Self {
            kind: BusKind::Postgres,
            nats_url: "nats://127.0.0.1:4222".to_owned(),
            nats_prefix: "parley".to_owned(),
            nats_replicas: 1,
        }
    }
}

/// A prefix that is valid in a stream name and as one token of a subject.
pub fn parse_nats_prefix(text: &str) -> Result<String, String> {
    let valid = !text.is_empty()
        && text.len() <= 64
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if valid {
        Ok(text.to_owned())
    } else {
        Err(format!(
            "`{text}` is not a prefix: use 1 to 64 letters, digits, `_` or `-`"
        ))
    }
}

/// How Parley's processes recognise each other on internal gRPC (see `service_token`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct InternalArgs {
    /// A secret shared by every Parley process: services refuse calls without it, clients
    /// send it. Unset: no check (services listen on loopback by default).
    #[arg(long, env = "PARLEY_SERVICE_TOKEN", hide_env_values = true)]
    pub service_token: Option<String>,

    /// Lets a service listen beyond loopback (e.g. `0.0.0.0`) without a service token, for a
    /// network that is private by other means. Off: such a service refuses to start, since
    /// anyone who reaches the address could call every RPC, internal ones included. The edge
    /// serves no gRPC and ignores it.
    #[arg(
        long,
        env = "PARLEY_ALLOW_UNAUTHENTICATED_GRPC",
        default_value_t = false,
        action = clap::ArgAction::Set
    )]
    pub allow_unauthenticated_grpc: bool,
}

/// Parses an address that may be left empty (the feature it serves is then off).
pub fn parse_optional_addr(text: &str) -> Result<Option<std::net::SocketAddr>, String> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    text.trim()
        .parse()
        .map(Some)
        .map_err(|_| format!("`{text}` is not an address like 127.0.0.1:9101"))
}

/// Parses durations written as `250ms`, `5s`, `2m` or `1h`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("`{text}` has no unit: write e.g. 500ms, 5s, 2m or 1h"))?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` does not start with a whole number"))?;
    let millis = match unit {
        "ms" => number,
        "s" => number.saturating_mul(1_000),
        "m" => number.saturating_mul(60_000),
        "h" => number.saturating_mul(3_600_000),
        _ => return Err(format!("`{unit}` is not a unit: use ms, s, m or h")),
    };
    Ok(Duration::from_millis(millis))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_each_unit() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
    }

    #[test]
    fn nats_prefixes_are_single_subject_tokens() {
        assert_eq!(
            parse_nats_prefix("parley_test-1"),
            Ok("parley_test-1".to_owned())
        );
        assert!(parse_nats_prefix("").is_err());
        assert!(parse_nats_prefix("a.b").is_err());
        assert!(parse_nats_prefix("a*").is_err());
        assert!(parse_nats_prefix("a b").is_err());
    }

    #[test]
    fn durations_without_a_known_unit_are_refused() {
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("5 days").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("").is_err());
    }
}
