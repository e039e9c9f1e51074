//! Benchmark users: ids that SQL seeding can compute too, and their tokens.

use std::{net::Ipv4Addr, sync::OnceLock};

use jsonwebtoken::{EncodingKey, Header};
use serde::Serialize;
use uuid::Uuid;

/// The number of the run's first user (`--first-user`); 0 unless set.
static FIRST: OnceLock<usize> = OnceLock::new();

/// Numbers this run's users from `first` on; the first call wins.
pub fn set_first(first: usize) {
    let _ = FIRST.set(first);
}

/// The number of user `n` of this run: `n` past the run's first.
fn number(n: usize) -> usize {
    FIRST.get().copied().unwrap_or(0) + n
}

/// User `n` of a run: `00000000-0000-4000-8000-<first + n, 12 digits>`, so `bench/seed-*.sql`
/// can make the same ids with `lpad(n::text, 12, '0')`.
pub fn user_id(n: usize) -> Uuid {
    let text = format!("00000000-0000-4000-8000-{:012}", number(n));
    Uuid::parse_str(&text).unwrap_or_default()
}

pub fn username(n: usize) -> String {
    format!("u{}", number(n))
}

/// What begins the `clientMsgId` of user `n`'s sends: the user and a tag of this run. Without
/// the tag a run against a database that an earlier run used sends the same ids again, which
/// the server rightly answers as retries, with the stored message and no delivery (seen: 6%
/// of DMs delivered on a reused database).
pub fn msg_id_prefix(n: usize) -> String {
    static RUN: OnceLock<u32> = OnceLock::new();
    let run = RUN.get_or_init(|| fastrand::u32(..));
    format!("{}-{run:08x}", username(n))
}

#[derive(Serialize)]
struct Claims<'a> {
    sub: String,
    name: &'a str,
    iat: i64,
    exp: i64,
}

/// An HS256 token for user `n`, valid for a day.
pub fn token(secret: &str, n: usize) -> anyhow::Result<String> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs() as i64;
    let name = username(n);
    let claims = Claims {
        sub: user_id(n).to_string(),
        name: &name,
        iat: now,
        exp: now + 86_400,
    };
    Ok(jsonwebtoken::encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )?)
}

/// The loopback address user `n` connects from: 127.0.0.2 .. 127.0.0.201.
pub fn source_addr(n: usize) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, 2 + (n % 200) as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_the_ones_sql_seeding_makes() {
        assert_eq!(
            user_id(42).to_string(),
            "00000000-0000-4000-8000-000000000042"
        );
        assert_ne!(user_id(1), user_id(2));
    }
}
