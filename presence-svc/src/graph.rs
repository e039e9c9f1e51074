//! Friend lists, as friends-svc knows them, cached for the users presence-svc holds and kept
//! fresh by friends-svc's graph stream, so telling friends costs no call.
//!
//! A module of its own, beside [`crate::state`], because it is the part that talks to
//! friends-svc (pages of ids, the graph stream, reloads after a gap); the state machine
//! stays free of I/O and of another service's protobuf types.

use std::{
    collections::{HashMap, HashSet},
    sync::{
        Arc, RwLock,
        atomic::{AtomicU64, Ordering},
    },
};

use futures_util::StreamExt;
pub use parley_common::friends::FriendsClient;
use parley_common::{follow::Followed, friends as friends_client};
use parley_proto::friends::v1::{self as friends, graph_change::Change};
use tonic::Status;
use uuid::Uuid;

use crate::{
    domain::UserId,
    error::{Error, friends_svc},
};

/// A friendship formed: both sides should see each other's status at once.
pub type NewFriends = (UserId, UserId);

/// Friend ids per cached user.
#[derive(Default)]
pub struct FriendGraph {
    lists: RwLock<HashMap<UserId, HashSet<UserId>>>,
    /// Counts applied changes and clears: a list loaded while it moved may have missed a
    /// change, so it is loaded again.
    generation: AtomicU64,
}

/// How often a list is reloaded because changes kept arriving while it loaded.
const LOAD_ATTEMPTS: usize = 3;

/// Friend ids per page when loading a list.
const PAGE_SIZE: u32 = 5_000;

impl FriendGraph {
    /// The cached friends of `user`; empty when not cached.
    pub fn friends_of(&self, user: UserId) -> Vec<UserId> {
        self.read()
            .get(&user)
            .map(|friends| friends.iter().copied().collect())
            .unwrap_or_default()
    }

    pub fn is_cached(&self, user: UserId) -> bool {
        self.read().contains_key(&user)
    }

    /// Loads `user`'s list from friends-svc unless cached.
    pub async fn ensure(&self, client: &FriendsClient, user: UserId) -> Result<(), Error> {
        if self.is_cached(user) {
            return Ok(());
        }
        self.load(client, user).await
    }

    /// (Re)loads `user`'s list. If the graph changed meanwhile, the pages may predate a
    /// change the cache never saw for this user: load again.
    async fn load(&self, client: &FriendsClient, user: UserId) -> Result<(), Error> {
        for _ in 0..LOAD_ATTEMPTS {
            let before = self.generation.load(Ordering::SeqCst);
            let ids = fetch(client, user).await.map_err(friends_svc)?;
            if self.generation.load(Ordering::SeqCst) == before {
                self.write().insert(user, ids);
                return Ok(());
            }
        }
        // Told as friends-svc's failure, which it is to the caller: the details go to the log.
        Err(friends_svc(Status::unavailable(
            "the friend graph keeps changing; try again",
        )))
    }

    /// Reloads every cached list, e.g. after changes may have been missed; lists stay in
    /// use (possibly stale) until their reload lands.
    pub async fn refresh_all(&self, client: &FriendsClient) {
        let users: Vec<UserId> = self.read().keys().copied().collect();
        futures_util::stream::iter(users)
            .for_each_concurrent(LOAD_CONCURRENCY, |user| async move {
                if let Err(error) = self.load(client, user).await {
                    tracing::warn!(%error, %user, "cannot reload a friend list; dropping it");
                    self.write().remove(&user);
                }
            })
            .await;
    }
}

/// Friend lists loaded at once when many are needed.
pub const LOAD_CONCURRENCY: usize = 16;

/// All of `user`'s friend ids, page by page.
async fn fetch(client: &FriendsClient, user: UserId) -> Result<HashSet<UserId>, Status> {
    let mut ids = HashSet::new();
    let mut page_token = None;
    loop {
        let page = client
            .clone()
            .list_friend_ids(friends::ListFriendIdsRequest {
                user_id: user.to_string(),
                page_size: Some(PAGE_SIZE),
                page_token: page_token.take(),
            })
            .await?
            .into_inner();
        ids.extend(
            page.friend_ids
                .iter()
                .filter_map(|id| Uuid::parse_str(id).ok().map(UserId)),
        );
        match page.next_page_token {
            Some(next) => page_token = Some(next),
            None => break,
        }
    }
    Ok(ids)
}

impl FriendGraph {
    /// Applies one graph change to the cached lists; returns a friendship new to them (one
    /// already there, loaded after it was made, is no news: friends are told once).
    pub fn apply(&self, change: &Change) -> Option<NewFriends> {
        self.generation.fetch_add(1, Ordering::SeqCst);
        let id = |text: &str| Uuid::parse_str(text).ok().map(UserId);
        let pair = |a: &str, b: &str| Some((id(a)?, id(b)?));
        let mut lists = self.write();
        match change {
            Change::FriendshipAdded(added) => {
                let (a, b) = pair(&added.user_id, &added.other_user_id)?;
                let new_to_a = lists.get_mut(&a).is_some_and(|list| list.insert(b));
                let new_to_b = lists.get_mut(&b).is_some_and(|list| list.insert(a));
                (new_to_a || new_to_b).then_some((a, b))
            }
            Change::FriendshipRemoved(removed) => {
                let (a, b) = pair(&removed.user_id, &removed.other_user_id)?;
                if let Some(list) = lists.get_mut(&a) {
                    list.remove(&b);
                }
                if let Some(list) = lists.get_mut(&b) {
                    list.remove(&a);
                }
                None
            }
            // A block always ends the friendship first (FriendshipRemoved): nothing more to do.
            Change::BlockAdded(_) | Change::BlockRemoved(_) => None,
        }
    }

    /// Keeps only the lists of users `keep` wants (those presence-svc holds in memory).
    pub fn retain(&self, keep: impl Fn(UserId) -> bool) {
        self.write().retain(|user, _| keep(*user));
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<UserId, HashSet<UserId>>> {
        // Writers only insert or remove whole entries: a poisoned map is still consistent.
        self.lists
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<UserId, HashSet<UserId>>> {
        self.lists
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Follows friends-svc's graph stream until aborted, calling `on_friendship` for each new
/// friendship. The first subscription, and every gap in the event ids, reloads the cached
/// lists, which stay in use meanwhile.
pub async fn watch(
    graph: Arc<FriendGraph>,
    client: FriendsClient,
    subscriber_id: String,
    on_friendship: impl Fn(NewFriends) + Send + Sync,
) {
    friends_client::watch_graph(&client, &subscriber_id, |followed| {
        let (graph, client) = (&graph, &client);
        let on_friendship = &on_friendship;
        async move {
            match followed {
                Followed::Gap => graph.refresh_all(client).await,
                Followed::Event(change) => {
                    if let Some(new_friends) = change.change.as_ref().and_then(|c| graph.apply(c)) {
                        on_friendship(new_friends);
                    }
                }
            }
        }
    })
    .await;
}
