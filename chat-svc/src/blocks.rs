//! Who blocked whom, as friends-svc answers it, cached and kept fresh by friends-svc's graph
//! stream, so that a DM does not cost a call to friends-svc each time.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use parley_common::{follow::Followed, friends as friends_client};
use parley_proto::friends::v1::{self as friends, graph_change::Change};
use uuid::Uuid;

use crate::{domain::UserId, error::Error, users::FriendsClient};

/// Pairs remembered; past it the cache starts over rather than growing.
const CAPACITY: usize = 200_000;

pub struct Blocks {
    client: FriendsClient,
    /// Whether either of the pair (smaller id first) blocked the other.
    pairs: Mutex<HashMap<(UserId, UserId), bool>>,
    /// Counts graph changes: an answer asked before a change is not cached after it (it
    /// could undo a block that arrived meanwhile).
    changes: std::sync::atomic::AtomicU64,
}

fn pair(a: UserId, b: UserId) -> (UserId, UserId) {
    if a < b { (a, b) } else { (b, a) }
}

/// A user id of a friends-svc event; `None` for one that is no UUID (then ignored).
fn parse_user(text: &str) -> Option<UserId> {
    Uuid::parse_str(text).ok().map(UserId)
}

impl Blocks {
    pub fn new(client: FriendsClient) -> Self {
        Self {
            client,
            pairs: Mutex::new(HashMap::new()),
            changes: std::sync::atomic::AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(UserId, UserId), bool>> {
        // Single inserts, removals and clears: a poisoned map is still consistent.
        parley_common::lock::lock(&self.pairs)
    }

    /// Whether either of `a` and `b` blocked the other.
    pub async fn between(&self, a: UserId, b: UserId) -> Result<bool, Error> {
        if let Some(blocked) = self.lock().get(&pair(a, b)) {
            return Ok(*blocked);
        }
        let mark = self.changes.load(std::sync::atomic::Ordering::SeqCst);
        let blocked = self
            .client
            .clone()
            .is_blocked(friends::IsBlockedRequest {
                user_id: a.to_string(),
                other_user_id: b.to_string(),
            })
            .await
            .map_err(|status| Error::Dependency("friends-svc", status))?
            .into_inner()
            .blocked;
        let mut pairs = self.lock();
        if self.changes.load(std::sync::atomic::Ordering::SeqCst) == mark {
            if pairs.len() >= CAPACITY {
                pairs.clear();
            }
            pairs.insert(pair(a, b), blocked);
        }
        Ok(blocked)
    }

    /// Fails with `PERMISSION_DENIED` when a block stands between `me` and any of `others`.
    pub async fn require_none(&self, me: UserId, others: &[UserId]) -> Result<(), Error> {
        for other in others {
            if self.between(me, *other).await? {
                return Err(Error::PermissionDenied(
                    "a block stands between you and this user",
                ));
            }
        }
        Ok(())
    }

    fn apply(&self, change: &Change) {
        self.changes
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let parse = |a: &str, b: &str| Some(pair(parse_user(a)?, parse_user(b)?));
        match change {
            Change::BlockAdded(added) => {
                if let Some(key) = parse(&added.blocker_id, &added.blocked_id) {
                    self.lock().insert(key, true);
                }
            }
            // A block the other way may remain: ask again next time.
            Change::BlockRemoved(removed) => {
                if let Some(key) = parse(&removed.blocker_id, &removed.blocked_id) {
                    self.lock().remove(&key);
                }
            }
            Change::FriendshipAdded(_) | Change::FriendshipRemoved(_) => {}
        }
    }
}

/// Keeps `blocks` fresh from friends-svc's graph stream until aborted; a gap drops the cache.
pub async fn watch(blocks: Arc<Blocks>, subscriber_id: String) {
    let client = blocks.client.clone();
    friends_client::watch_graph(&client, &subscriber_id, |followed| {
        match followed {
            Followed::Gap => {
                blocks
                    .changes
                    .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                blocks.lock().clear();
            }
            Followed::Event(change) => {
                if let Some(change) = &change.change {
                    blocks.apply(change);
                }
            }
        }
        async {}
    })
    .await;
}
