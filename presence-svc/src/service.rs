//! The operations of presence-svc: the in-memory state behind a lock, the friend lists,
//! what is stored, and the events friends receive.

use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use parley_common::{events::EventLog, time::to_timestamp};
use parley_proto::{friends::v1 as friends, presence::v1 as pb};
use sqlx::PgPool;
use tokio::time::Instant;
use uuid::Uuid;

use crate::{
    error::Error,
    graph::{FriendGraph, FriendsClient, NewFriends},
    state::{Change, PresenceState, Status, Timing},
    store,
};

/// Events kept for edges that reconnect, and how far one may fall behind.
const RETAINED_EVENTS: usize = 4096;
const LAG_LIMIT: usize = 16_384;

/// A friend as `get-friends-status` shows them.
#[derive(Debug, Clone)]
pub struct FriendView {
    pub user_id: Uuid,
    pub username: String,
    pub status: Status,
    pub last_seen: Option<DateTime<Utc>>,
}

pub struct Presence {
    state: Mutex<PresenceState>,
    pub events: EventLog<pb::PresenceEvent>,
    pub graph: Arc<FriendGraph>,
    friends: FriendsClient,
    pool: PgPool,
}

impl Presence {
    pub fn new(pool: PgPool, friends: FriendsClient, timing: Timing) -> Self {
        Self {
            state: Mutex::new(PresenceState::new(timing)),
            events: EventLog::new(RETAINED_EVENTS, LAG_LIMIT),
            graph: Arc::new(FriendGraph::default()),
            friends,
            pool,
        }
    }

    fn state(&self) -> MutexGuard<'_, PresenceState> {
        // Every state method leaves it consistent before it can panic: a poisoned lock is
        // still usable.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Brings `users` into memory (stored status and last seen, and their friend lists) so
    /// that their changes can be told to friends without waiting.
    async fn ensure_loaded(&self, users: &[Uuid]) -> Result<(), Error> {
        let unknown: Vec<Uuid> = {
            let state = self.state();
            users
                .iter()
                .copied()
                .filter(|user| !state.knows(*user))
                .collect()
        };
        if !unknown.is_empty() {
            let stored = store::load(&self.pool, &unknown).await?;
            let mut state = self.state();
            for (user, chosen, last_seen) in stored {
                state.load(user, chosen, last_seen);
            }
        }
        for user in users {
            self.graph
                .ensure(&self.friends, *user)
                .await
                .map_err(Error::Friends)?;
        }
        Ok(())
    }

    /// Tells each change to the friends of its user.
    fn publish(&self, changes: Vec<Change>) {
        for change in changes {
            let recipients = self.graph.friends_of(change.user);
            self.tell(&change, &recipients);
        }
    }

    fn tell(&self, change: &Change, recipients: &[Uuid]) {
        if recipients.is_empty() {
            return;
        }
        let recipient_user_ids = recipients.iter().map(Uuid::to_string).collect();
        self.events.publish(|event_id| pb::PresenceEvent {
            event_id,
            recipient_user_ids,
            payload: Some(pb::presence_event::Payload::FriendStatusChanged(
                pb::FriendStatusChanged {
                    user_id: change.user.to_string(),
                    status: to_pb(change.status).into(),
                    last_seen: Some(to_timestamp(change.last_seen)),
                },
            )),
        });
    }

    pub async fn open_session(
        &self,
        user: Uuid,
        session: &str,
        edge: &str,
    ) -> Result<Status, Error> {
        self.ensure_loaded(&[user]).await?;
        let changes = self
            .state()
            .open_session(user, session, edge, Instant::now(), Utc::now());
        self.publish(changes);
        Ok(self.state().chosen(user).unwrap_or(Status::Online))
    }

    pub fn close_session(&self, session: &str) {
        let changes = self
            .state()
            .close_session(session, Instant::now(), Utc::now());
        self.publish(changes);
    }

    /// Renews a session's heartbeat window; a session presence-svc does not hold (it
    /// restarted) is registered again for `edge`.
    pub async fn heartbeat(&self, user: Uuid, session: &str, edge: &str) -> Result<(), Error> {
        let beat = self.state().heartbeat(session, Instant::now(), Utc::now());
        match beat {
            Ok(changes) => self.publish(changes),
            Err(_unknown) => {
                self.open_session(user, session, edge).await?;
            }
        }
        Ok(())
    }

    /// Stores the chosen status first (it is acknowledged), then shows it.
    pub async fn update_status(&self, user: Uuid, status: Status) -> Result<Status, Error> {
        if status == Status::Offline {
            return Err(Error::invalid(
                "status",
                "must be ONLINE, AWAY, DO_NOT_DISTURB or INVISIBLE",
            ));
        }
        self.ensure_loaded(&[user]).await?;
        store::save_chosen(&self.pool, user, status).await?;
        let changes = self
            .state()
            .choose(user, status, Instant::now(), Utc::now());
        self.publish(changes);
        Ok(status)
    }

    /// The status of each of `user`'s friends, from memory: one read loads the friends not
    /// in memory yet, one call names them all.
    pub async fn friends_status(&self, user: Uuid) -> Result<Vec<FriendView>, Error> {
        self.graph
            .ensure(&self.friends, user)
            .await
            .map_err(Error::Friends)?;
        let friend_ids = self.graph.friends_of(user);
        if friend_ids.is_empty() {
            return Ok(Vec::new());
        }
        let unknown: Vec<Uuid> = {
            let state = self.state();
            friend_ids
                .iter()
                .copied()
                .filter(|id| !state.knows(*id))
                .collect()
        };
        if !unknown.is_empty() {
            let stored = store::load(&self.pool, &unknown).await?;
            let mut state = self.state();
            for (id, chosen, last_seen) in stored {
                state.load(id, chosen, last_seen);
            }
        }
        let names = self
            .friends
            .clone()
            .get_users(friends::GetUsersRequest {
                user_ids: friend_ids.iter().map(Uuid::to_string).collect(),
            })
            .await
            .map_err(Error::Friends)?
            .into_inner()
            .users;
        let state = self.state();
        let mut views: Vec<FriendView> = names
            .into_iter()
            .filter_map(|named| {
                let id = Uuid::parse_str(&named.id).ok()?;
                let (status, last_seen) = state.shown(id).unwrap_or((Status::Offline, None));
                Some(FriendView {
                    user_id: id,
                    username: named.username,
                    status,
                    last_seen,
                })
            })
            .collect();
        views.sort_by_key(|view| view.username.to_lowercase());
        Ok(views)
    }

    /// An edge vouches for its live sessions (see [`PresenceState::renew_lease`]).
    pub async fn renew_lease(&self, edge: &str, sessions: &[(String, Uuid)]) -> Result<(), Error> {
        let unknown = self.state().unknown_users(sessions);
        self.ensure_loaded(&unknown).await?;
        let changes = self
            .state()
            .renew_lease(edge, sessions, Instant::now(), Utc::now());
        self.publish(changes);
        Ok(())
    }

    /// Applies what time did; called every second or so.
    pub fn tick(&self) {
        let changes = self.state().tick(Instant::now(), Utc::now());
        self.publish(changes);
    }

    /// A friendship formed: each side sees the other's status at once.
    pub fn friendship_formed(&self, (a, b): NewFriends) {
        let now = Utc::now();
        let views = {
            let state = self.state();
            [(a, b), (b, a)].map(|(user, friend)| (state.shown(user), user, friend))
        };
        for (shown, user, friend) in views {
            if let Some((status, last_seen)) = shown {
                let change = Change {
                    user,
                    status,
                    last_seen: last_seen.unwrap_or(now),
                };
                self.tell(&change, &[friend]);
            }
        }
    }

    /// Writes the last-seen times changed since the previous flush, in one statement; with
    /// `final_flush`, everyone shown online is first marked as seen until now. Users no
    /// longer online are then dropped from memory.
    pub async fn flush(&self, final_flush: bool) -> Result<usize, Error> {
        let batch = {
            let mut state = self.state();
            if final_flush {
                state.seen_until(Utc::now());
            }
            state.take_unsaved()
        };
        if let Err(error) = store::save_last_seen(&self.pool, &batch).await {
            // Keep them for the next flush rather than lose them.
            let mut state = self.state();
            for (user, at) in &batch {
                state.mark_unsaved(*user, *at);
            }
            return Err(error.into());
        }
        let forgotten = self.state().forget_idle();
        self.graph.forget(&forgotten);
        Ok(batch.len())
    }

    pub fn friends_client(&self) -> FriendsClient {
        self.friends.clone()
    }

    pub fn session_count(&self) -> usize {
        self.state().session_count()
    }
}

pub fn to_pb(status: Status) -> pb::Status {
    match status {
        Status::Online => pb::Status::Online,
        Status::Away => pb::Status::Away,
        Status::DoNotDisturb => pb::Status::DoNotDisturb,
        Status::Invisible => pb::Status::Invisible,
        Status::Offline => pb::Status::Offline,
    }
}

pub fn from_pb(status: pb::Status) -> Option<Status> {
    Some(match status {
        pb::Status::Online => Status::Online,
        pb::Status::Away => Status::Away,
        pb::Status::DoNotDisturb => Status::DoNotDisturb,
        pb::Status::Invisible => Status::Invisible,
        pb::Status::Offline => Status::Offline,
        pb::Status::Unspecified => return None,
    })
}
