//! Names and avatars of message senders, cached for a few minutes so that rendering a
//! message is not a call to friends-svc each time.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use parley_proto::chat::v1 as pb;

use crate::{
    domain::UserId,
    error::Error,
    users::{self, FriendsClient},
};

/// How long a profile is shown without asking again: names follow tokens, so a rename
/// shows within this.
const FRESH_FOR: Duration = Duration::from_secs(300);
/// Bound on the entries; past it the cache starts over rather than growing.
const CAPACITY: usize = 100_000;

pub struct Profiles {
    client: FriendsClient,
    cache: Mutex<HashMap<UserId, (pb::User, Instant)>>,
}

impl Profiles {
    pub fn new(client: FriendsClient) -> Self {
        Self {
            client,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The profiles of `ids` (unknown users get an empty name rather than failing a render).
    pub async fn get(&self, ids: &[UserId]) -> Result<HashMap<UserId, pb::User>, Error> {
        let mut found = HashMap::new();
        let mut missing = Vec::new();
        {
            let cache = self.lock();
            for id in ids {
                match cache.get(id) {
                    Some((user, at)) if at.elapsed() < FRESH_FOR => {
                        found.insert(*id, user.clone());
                    }
                    _ => missing.push(*id),
                }
            }
        }
        missing.sort();
        missing.dedup();
        if !missing.is_empty() {
            let fetched = users::profiles(&self.client, &missing).await?;
            let mut cache = self.lock();
            if cache.len() + fetched.len() > CAPACITY {
                cache.clear();
            }
            for (id, user) in fetched {
                cache.insert(id, (user.clone(), Instant::now()));
                found.insert(id, user);
            }
        }
        Ok(found)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<UserId, (pb::User, Instant)>> {
        // Single inserts and clears only: a poisoned map is still consistent.
        parley_common::lock::lock(&self.cache)
    }
}
