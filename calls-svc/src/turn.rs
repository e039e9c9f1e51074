//! STUN/TURN servers for a user, TURN with time-limited REST credentials as coturn's
//! `use-auth-secret` checks them: username `<expiry unix seconds>:<user id>`, credential
//! base64(HMAC-SHA1(secret, username)) (docs/API.md "get-ice-servers").

use std::time::Duration;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use parley_proto::calls::v1::IceServer;
use sha1::Sha1;

use crate::domain::UserId;

/// Credentials with less than this left are minted again in Accept and Resume.
pub const REMINT_BELOW: Duration = Duration::from_secs(5 * 60);

/// The settings: URLs, and the secret shared with the TURN servers.
#[derive(Debug, Clone, clap::Args)]
pub struct TurnArgs {
    /// The secret shared with coturn (`static-auth-secret`); unset: the URLs are given
    /// without credentials.
    #[arg(long, env = "PARLEY_TURN_SECRET", hide_env_values = true)]
    pub turn_secret: Option<String>,

    /// Comma-separated `stun:`, `turn:` and `turns:` URLs, e.g.
    /// `stun:turn.example.com:3478,turn:turn.example.com:3478?transport=udp`.
    #[arg(long, env = "PARLEY_TURN_URLS", default_value = "")]
    pub turn_urls: String,

    /// How long minted TURN credentials are accepted for new allocations.
    #[arg(long, env = "PARLEY_TURN_TTL", default_value = "1h", value_parser = parley_common::config::parse_duration)]
    pub turn_ttl: Duration,
}

/// The configured servers, ready to mint.
#[derive(Debug, Clone)]
pub struct Turn {
    secret: Option<String>,
    stun: Vec<String>,
    turn: Vec<String>,
    pub ttl: Duration,
}

/// Servers for one user, and when their credentials stop being accepted.
#[derive(Debug, Clone, Default)]
pub struct Minted {
    pub servers: Vec<IceServer>,
    pub expires_at: Option<DateTime<Utc>>,
}

impl Turn {
    pub fn new(args: &TurnArgs) -> anyhow::Result<Self> {
        let (mut stun, mut turn) = (Vec::new(), Vec::new());
        for url in args
            .turn_urls
            .split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
        {
            if url.starts_with("stun:") || url.starts_with("stuns:") {
                stun.push(url.to_owned());
            } else if url.starts_with("turn:") || url.starts_with("turns:") {
                turn.push(url.to_owned());
            } else {
                anyhow::bail!("PARLEY_TURN_URLS: `{url}` is not a stun:, turn: or turns: URL");
            }
        }
        Ok(Self {
            secret: args.turn_secret.clone().filter(|secret| !secret.is_empty()),
            stun,
            turn,
            ttl: args.turn_ttl,
        })
    }

    /// The servers for `user` at `now`.
    pub fn mint(&self, user: UserId, now: DateTime<Utc>) -> Minted {
        let Some(secret) = &self.secret else {
            let urls: Vec<String> = self.stun.iter().chain(&self.turn).cloned().collect();
            let servers = if urls.is_empty() {
                Vec::new()
            } else {
                vec![IceServer {
                    urls,
                    username: None,
                    credential: None,
                }]
            };
            return Minted {
                servers,
                expires_at: None,
            };
        };
        let ttl = chrono::Duration::from_std(self.ttl).unwrap_or(chrono::Duration::hours(1));
        let expires_at = now + ttl;
        let mut servers = Vec::new();
        if !self.stun.is_empty() {
            servers.push(IceServer {
                urls: self.stun.clone(),
                username: None,
                credential: None,
            });
        }
        if !self.turn.is_empty() {
            let username = format!("{}:{user}", expires_at.timestamp());
            servers.push(IceServer {
                urls: self.turn.clone(),
                credential: Some(credential(secret, &username)),
                username: Some(username),
            });
        }
        Minted {
            servers,
            expires_at: Some(expires_at),
        }
    }

    /// Fresh servers when those minted at `minted_at` expire within [`REMINT_BELOW`] of
    /// `now`; none otherwise (the ones the device holds still serve).
    pub fn remint(&self, user: UserId, minted_at: DateTime<Utc>, now: DateTime<Utc>) -> Minted {
        let ttl = chrono::Duration::from_std(self.ttl).unwrap_or_default();
        let left = (minted_at + ttl - now).to_std().unwrap_or_default();
        if self.secret.is_some() && left < REMINT_BELOW {
            self.mint(user, now)
        } else {
            Minted::default()
        }
    }
}

/// coturn's REST credential of `username`.
fn credential(secret: &str, username: &str) -> String {
    // HMAC takes keys of any length.
    let mut mac = match Hmac::<Sha1>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(username.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    fn turn(secret: Option<&str>, urls: &str) -> Turn {
        Turn::new(&TurnArgs {
            turn_secret: secret.map(str::to_owned),
            turn_urls: urls.to_owned(),
            turn_ttl: Duration::from_secs(3600),
        })
        .unwrap()
    }

    #[test]
    fn the_credential_is_coturns_hmac_of_the_username() {
        // python3: base64(hmac.new(b'north-wind', username, hashlib.sha1).digest())
        assert_eq!(
            credential(
                "north-wind",
                "1800003600:6f1c2a9e-0000-4000-8000-000000000001"
            ),
            "UjdKMSXJOtjWXyQO0XdM5pKSxIQ="
        );
    }

    #[test]
    fn minted_servers_carry_an_expiring_username_for_turn_only() {
        let user = UserId(uuid::Uuid::parse_str("6f1c2a9e-0000-4000-8000-000000000001").unwrap());
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let minted = turn(
            Some("north-wind"),
            "stun:t.example:3478, turn:t.example:3478?transport=udp,turns:t.example:5349",
        )
        .mint(user, now);
        assert_eq!(
            minted.expires_at,
            DateTime::from_timestamp(1_800_003_600, 0)
        );
        assert_eq!(minted.servers.len(), 2);
        assert_eq!(minted.servers[0].urls, vec!["stun:t.example:3478"]);
        assert_eq!(minted.servers[0].username, None);
        let relay = &minted.servers[1];
        assert_eq!(relay.urls.len(), 2);
        assert_eq!(
            relay.username.as_deref(),
            Some("1800003600:6f1c2a9e-0000-4000-8000-000000000001")
        );
        assert_eq!(
            relay.credential.as_deref(),
            Some("UjdKMSXJOtjWXyQO0XdM5pKSxIQ=")
        );
    }

    #[test]
    fn without_a_secret_the_urls_come_bare_and_never_expire() {
        let user = UserId(uuid::Uuid::new_v4());
        let now = Utc::now();
        let minted = turn(None, "stun:s.example").mint(user, now);
        assert_eq!(minted.expires_at, None);
        assert_eq!(minted.servers[0].credential, None);
        assert!(turn(None, "").mint(user, now).servers.is_empty());
        assert!(
            Turn::new(&TurnArgs {
                turn_secret: None,
                turn_urls: "http://x".into(),
                turn_ttl: Duration::from_secs(1),
            })
            .is_err()
        );
    }

    #[test]
    fn credentials_are_minted_again_only_near_their_expiry() {
        let user = UserId(uuid::Uuid::new_v4());
        let turn = turn(Some("s"), "turn:t.example");
        let minted_at = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let early = minted_at + chrono::Duration::minutes(10);
        assert!(turn.remint(user, minted_at, early).servers.is_empty());
        let late = minted_at + chrono::Duration::minutes(56);
        assert_eq!(turn.remint(user, minted_at, late).servers.len(), 1);
    }
}
