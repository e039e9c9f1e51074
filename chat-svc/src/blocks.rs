//! Who blocked whom, as friends-svc answers it, cached and kept fresh by friends-svc's graph
//! stream, so that a DM does not cost a call to friends-svc each time.
//!
//! Two caches: per pair ("is there a block between these two", for DMs, room creation and
//! additions), and per user ([`UserBlocks`]: whom they blocked, who blocked them), for room
//! events. A sender's live events go out once per event to the room minus the members who
//! blocked the sender, so each event needs "who among these up to 1000 members blocked the
//! sender": one set per sender answers it with one call to friends-svc when the sender is
//! first seen (and after a block change of theirs), where pairs would cost a call per
//! member. The same set says a reader whose messages to mark `senderBlocked`.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
};

use parley_common::{follow::Followed, friends as friends_client};
use parley_proto::friends::v1::{self as friends, graph_change::Change};
use uuid::Uuid;

use crate::{domain::UserId, error::Error, users::FriendsClient};

/// Pairs remembered; past it the cache starts over rather than growing.
const CAPACITY: usize = 200_000;
/// Users whose blocks are remembered; past it that cache starts over.
const USERS_CAPACITY: usize = 100_000;

/// Both directions of one user's blocks.
#[derive(Debug, Default)]
pub struct UserBlocks {
    /// Whom the user blocked.
    pub blocked: HashSet<UserId>,
    /// Who blocked the user.
    pub blockers: HashSet<UserId>,
}

impl UserBlocks {
    /// The members of a room who blocked this user: who must not hear the user's live
    /// events there. Walks the smaller of the two sets.
    pub fn blockers_among(&self, members: &HashSet<UserId>) -> Vec<UserId> {
        if self.blockers.len() <= members.len() {
            self.blockers
                .iter()
                .filter(|user| members.contains(user))
                .copied()
                .collect()
        } else {
            members
                .iter()
                .filter(|user| self.blockers.contains(user))
                .copied()
                .collect()
        }
    }
}

pub struct Blocks {
    client: FriendsClient,
    /// Whether either of the pair (smaller id first) blocked the other.
    pairs: Mutex<HashMap<(UserId, UserId), bool>>,
    /// Each recently seen user's blocks; a block change drops the entries of both users.
    users: Mutex<HashMap<UserId, Arc<UserBlocks>>>,
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
            users: Mutex::new(HashMap::new()),
            changes: std::sync::atomic::AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(UserId, UserId), bool>> {
        // Single inserts, removals and clears: a poisoned map is still consistent.
        parley_common::lock::lock(&self.pairs)
    }

    fn lock_users(&self) -> std::sync::MutexGuard<'_, HashMap<UserId, Arc<UserBlocks>>> {
        // Single inserts, removals and clears, as for `pairs`.
        parley_common::lock::lock(&self.users)
    }

    /// Whom `user` blocked and who blocked `user`.
    pub async fn of(&self, user: UserId) -> Result<Arc<UserBlocks>, Error> {
        if let Some(found) = self.lock_users().get(&user) {
            return Ok(found.clone());
        }
        let mark = self.changes.load(std::sync::atomic::Ordering::SeqCst);
        let answer = self
            .client
            .clone()
            .list_block_ids(friends::ListBlockIdsRequest {
                user_id: user.to_string(),
            })
            .await
            .map_err(|status| Error::Dependency("friends-svc", status))?
            .into_inner();
        let ids = |texts: &[String]| texts.iter().filter_map(|text| parse_user(text)).collect();
        let found = Arc::new(UserBlocks {
            blocked: ids(&answer.blocked_ids),
            blockers: ids(&answer.blocker_ids),
        });
        let mut users = self.lock_users();
        if self.changes.load(std::sync::atomic::Ordering::SeqCst) == mark {
            if users.len() >= USERS_CAPACITY {
                users.clear();
            }
            users.insert(user, found.clone());
        }
        Ok(found)
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
        let forget_users = |a: &str, b: &str| {
            let mut users = self.lock_users();
            for user in [a, b].into_iter().filter_map(parse_user) {
                users.remove(&user);
            }
        };
        match change {
            Change::BlockAdded(added) => {
                if let Some(key) = parse(&added.blocker_id, &added.blocked_id) {
                    self.lock().insert(key, true);
                }
                forget_users(&added.blocker_id, &added.blocked_id);
            }
            // A block the other way may remain: ask again next time.
            Change::BlockRemoved(removed) => {
                if let Some(key) = parse(&removed.blocker_id, &removed.blocked_id) {
                    self.lock().remove(&key);
                }
                forget_users(&removed.blocker_id, &removed.blocked_id);
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
                blocks.lock_users().clear();
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

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;

    #[test]
    fn only_members_who_blocked_the_sender_are_left_out() {
        let user = || UserId(Uuid::new_v4());
        let (blocker, other_blocker, member) = (user(), user(), user());
        let blocks = UserBlocks {
            blocked: HashSet::new(),
            blockers: HashSet::from([blocker, other_blocker]),
        };
        let small_room = HashSet::from([blocker, member]);
        assert_eq!(blocks.blockers_among(&small_room), vec![blocker]);
        let one = HashSet::from([member]);
        assert!(
            blocks.blockers_among(&one).is_empty(),
            "smaller room, walked the other way"
        );
    }
}
