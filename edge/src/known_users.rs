//! Users this edge recorded with friends-svc a short while ago.
//!
//! One client opens up to three namespace sockets per connection, and mobile clients
//! reconnect often; recording the user once per set of claims, not once per socket, keeps
//! friends-svc out of every handshake.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use uuid::Uuid;

use crate::auth::Identity;

/// How long a recorded user is trusted to still be recorded (friends-svc could have lost
/// it, e.g. a wiped development database).
const FRESH_FOR: Duration = Duration::from_secs(600);
/// Bound on the entries; past it the cache starts over rather than growing.
const CAPACITY: usize = 100_000;

#[derive(Default)]
pub struct KnownUsers {
    entries: Mutex<HashMap<Uuid, Entry>>,
}

struct Entry {
    claims: Claims,
    stored_username: String,
    recorded_at: Instant,
}

#[derive(PartialEq, Eq)]
struct Claims {
    username: String,
    avatar: Option<String>,
    issued_at: Option<i64>,
}

impl Claims {
    fn of(identity: &Identity) -> Self {
        Self {
            username: identity.username.clone(),
            avatar: identity.avatar.clone(),
            issued_at: identity.issued_at,
        }
    }
}

impl KnownUsers {
    /// The stored username of a user recorded recently with the same claims.
    pub fn stored_username(&self, identity: &Identity) -> Option<String> {
        let entries = self.lock();
        let entry = entries.get(&identity.user_id)?;
        (entry.recorded_at.elapsed() < FRESH_FOR && entry.claims == Claims::of(identity))
            .then(|| entry.stored_username.clone())
    }

    pub fn remember(&self, identity: &Identity, stored_username: String) {
        let mut entries = self.lock();
        if entries.len() >= CAPACITY {
            entries.clear();
        }
        entries.insert(
            identity.user_id,
            Entry {
                claims: Claims::of(identity),
                stored_username,
                recorded_at: Instant::now(),
            },
        );
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Entry>> {
        // Every write is a single insert or clear: a poisoned map is still consistent.
        parley_common::lock::lock(&self.entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice(avatar: Option<&str>) -> Identity {
        Identity {
            user_id: Uuid::from_u128(1),
            username: "alice".into(),
            avatar: avatar.map(str::to_owned),
            issued_at: Some(1),
            expires_at: 0,
        }
    }

    #[test]
    fn a_user_is_known_only_with_the_same_claims() {
        let known = KnownUsers::default();
        assert_eq!(known.stored_username(&alice(None)), None);
        known.remember(&alice(None), "alice-1f3a".into());
        assert_eq!(
            known.stored_username(&alice(None)).as_deref(),
            Some("alice-1f3a")
        );
        assert_eq!(
            known.stored_username(&alice(Some("https://a.test/a.png"))),
            None
        );
    }
}
