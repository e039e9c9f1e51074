//! The operations of presence-svc: the rules of [`crate::state`] applied under one lock,
//! with the friend lists they need, what is stored ([`crate::repo`]) and what friends are
//! told ([`crate::events`]).

use std::sync::{
    Arc, Mutex, MutexGuard,
    atomic::{AtomicU64, Ordering},
};

use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use parley_common::bus;
use sqlx::PgPool;
use tokio::time::Instant;
use uuid::Uuid;

use crate::{
    domain::{EdgeId, FriendView, SessionId, Status, UserId},
    error::{Error, friends_svc},
    events::Events,
    graph::{FriendGraph, FriendsClient, LOAD_CONCURRENCY, NewFriends},
    repo::{self, Stored},
    state::{Change, PresenceState, Timing},
};

/// What the last-seen flushes wrote so far, for tests and metrics.
#[derive(Debug, Default)]
pub struct FlushStats {
    pub flushes: AtomicU64,
    pub rows: AtomicU64,
}

/// The core of presence-svc, shared by the gRPC handlers and the periodic tasks.
pub struct Presence {
    /// Who is online, behind one lock, so that a change and its events leave together.
    state: Mutex<PresenceState>,
    /// What friends are told, on every replica.
    pub events: Events,
    /// The friend lists of the users in memory, so that telling friends costs no call.
    pub graph: Arc<FriendGraph>,
    /// friends-svc: friend lists when first needed, names for `get-friends-status`.
    friends: FriendsClient,
    /// Where chosen statuses and last-seen times outlive a restart.
    pool: PgPool,
    pub flush_stats: FlushStats,
    /// This process among the replicas, in the shared record of edge leases: a lease that
    /// lapses here while its edge renews with another replica was handed over, not lost.
    replica: Uuid,
    /// How long an edge's lease lasts: a renewal elsewhere within it means the edge lives.
    lease_ttl: std::time::Duration,
}

impl Presence {
    /// The service, and the fan-out of its events through Postgres, to stop at shutdown.
    pub fn new(
        event_bus: &bus::Bus,
        pool: PgPool,
        friends: FriendsClient,
        timing: Timing,
    ) -> (Self, bus::FanOut) {
        let (events, running) = Events::start(event_bus, pool.clone());
        let presence = Self {
            state: Mutex::new(PresenceState::new(timing)),
            events,
            graph: Arc::new(FriendGraph::default()),
            friends,
            pool,
            flush_stats: FlushStats::default(),
            replica: Uuid::new_v4(),
            lease_ttl: timing.lease_ttl,
        };
        (presence, running)
    }

    fn state(&self) -> MutexGuard<'_, PresenceState> {
        // Every state method leaves it consistent before it can panic: a poisoned lock is
        // still usable.
        parley_common::lock::lock(&self.state)
    }

    /// Changes the state and tells friends before the lock is released, so that events
    /// leave in the order the state changed.
    fn apply<T>(
        &self,
        change: impl FnOnce(&mut PresenceState, Instant, DateTime<Utc>) -> (T, Vec<Change>),
    ) -> T {
        self.apply_at(Instant::now(), Utc::now(), change)
    }

    /// [`Self::apply`] at a time taken earlier, for a change decided on what was true then.
    fn apply_at<T>(
        &self,
        now: Instant,
        wall: DateTime<Utc>,
        change: impl FnOnce(&mut PresenceState, Instant, DateTime<Utc>) -> (T, Vec<Change>),
    ) -> T {
        let mut state = self.state();
        let (result, changes) = change(&mut state, now, wall);
        for change in changes {
            let recipients = self.graph.friends_of(change.user);
            self.events.tell(&change, &recipients);
        }
        result
    }

    /// Brings `users` into memory (stored status and last seen in one read, friend lists a
    /// few at a time) so that their changes can be told to friends without waiting.
    async fn ensure_loaded(&self, users: &[UserId]) -> Result<(), Error> {
        self.load_stored(users).await?;
        futures_util::stream::iter(users.iter().copied().map(Ok))
            .try_for_each_concurrent(LOAD_CONCURRENCY, |user| {
                self.graph.ensure(&self.friends, user)
            })
            .await
    }

    /// Reads, in one query, what is stored of those of `users` not in memory yet.
    async fn load_stored(&self, users: &[UserId]) -> Result<(), Error> {
        let unknown: Vec<UserId> = {
            let state = self.state();
            users
                .iter()
                .copied()
                .filter(|user| !state.knows(*user))
                .collect()
        };
        if unknown.is_empty() {
            return Ok(());
        }
        let mut db = self.pool.acquire().await?;
        let stored = repo::load(&mut db, &unknown).await?;
        let mut state = self.state();
        for Stored {
            user,
            chosen,
            last_seen,
        } in stored
        {
            state.load(user, chosen, last_seen);
        }
        Ok(())
    }

    /// Writes a batch of last-seen times; an empty one needs no connection (nor a database
    /// that answers).
    async fn save_last_seen(&self, batch: &[(UserId, DateTime<Utc>)]) -> Result<(), Error> {
        if batch.is_empty() {
            return Ok(());
        }
        let mut db = self.pool.acquire().await?;
        repo::save_last_seen(&mut db, batch).await?;
        Ok(())
    }

    pub async fn open_session(
        &self,
        user: UserId,
        session: &SessionId,
        edge: &EdgeId,
    ) -> Result<Status, Error> {
        self.ensure_loaded(&[user]).await?;
        let (session, edge) = (session.as_str(), edge.as_str());
        self.apply(
            |state, now, wall| match state.open_session(user, session, edge, now, wall) {
                Ok(changes) => (Ok(state.chosen(user).unwrap_or(Status::Online)), changes),
                Err(_taken) => (
                    Err(Error::AlreadyExists("session_id: held by another user")),
                    Vec::new(),
                ),
            },
        )
    }

    /// Ends `user`'s session; a session of someone else is left alone.
    pub fn close_session(&self, user: UserId, session: &SessionId) {
        let session = session.as_str();
        self.apply(|state, now, wall| {
            if state.owner(session) != Some(user) {
                return ((), Vec::new());
            }
            ((), state.close_session(session, now, wall))
        });
    }

    /// Renews a session's heartbeat window; a session presence-svc does not hold (it
    /// restarted) is registered again for `edge`.
    pub async fn heartbeat(
        &self,
        user: UserId,
        session: &SessionId,
        edge: &EdgeId,
    ) -> Result<(), Error> {
        let held = self.apply(|state, now, wall| match state.owner(session.as_str()) {
            Some(owner) if owner == user => (
                true,
                state
                    .heartbeat(session.as_str(), now, wall)
                    .unwrap_or_default(),
            ),
            Some(_) => (true, Vec::new()),
            None => (false, Vec::new()),
        });
        if !held {
            self.open_session(user, session, edge).await?;
        }
        Ok(())
    }

    /// Stores the chosen status first (it is acknowledged), then shows it.
    pub async fn update_status(&self, user: UserId, status: Status) -> Result<Status, Error> {
        let status = status.choosable()?;
        self.ensure_loaded(&[user]).await?;
        let mut db = self.pool.acquire().await?;
        repo::save_chosen(&mut db, user, status).await?;
        self.apply(|state, now, wall| ((), state.choose(user, status, now, wall)));
        Ok(status)
    }

    /// The status of each of `user`'s friends, from memory: one read loads the friends not
    /// in memory yet, and friends-svc names them in calls of up to 1000.
    pub async fn friends_status(&self, user: UserId) -> Result<Vec<FriendView>, Error> {
        self.graph.ensure(&self.friends, user).await?;
        let friend_ids = self.graph.friends_of(user);
        if friend_ids.is_empty() {
            return Ok(Vec::new());
        }
        self.load_stored(&friend_ids).await?;
        let named = parley_common::friends::users(&self.friends, &friend_ids)
            .await
            .map_err(friends_svc)?;
        let state = self.state();
        let mut views: Vec<FriendView> = named
            .into_iter()
            .filter_map(|named| {
                let id = UserId(Uuid::parse_str(&named.id).ok()?);
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

    /// An edge vouches for its live sessions. The lease is extended first, so that a slow or
    /// failed load of users (after a restart, many at once) never lets the edge's sessions
    /// lapse; the sessions are registered once their users are loaded.
    pub async fn renew_lease(
        &self,
        edge: &EdgeId,
        sessions: Vec<(SessionId, UserId)>,
    ) -> Result<(), Error> {
        let edge = edge.as_str();
        self.apply(|state, now, _| (state.extend_lease(edge, now), Vec::new()));
        self.record_renewal(edge).await;
        // Moved, not copied: a renewal may list an edge's tens of thousands of sessions.
        let sessions: Vec<(String, UserId)> = sessions
            .into_iter()
            .map(|(session, user)| (session.into_string(), user))
            .collect();
        let mut users: Vec<UserId> = sessions.iter().map(|(_, user)| *user).collect();
        users.sort();
        users.dedup();
        self.ensure_loaded(&users).await?;
        self.apply(|state, now, wall| ((), state.renew_lease(edge, &sessions, now, wall)));
        Ok(())
    }

    /// Tells the other replicas that `edge` renews with this one. A failure costs only a
    /// precaution (another replica whose old lease of the edge lapses takes its users
    /// OFFLINE, as before failovers were recognised), so the renewal goes on without it.
    async fn record_renewal(&self, edge: &str) {
        let recorded = async {
            let mut db = self.pool.acquire().await?;
            repo::record_renewal(&mut db, edge, self.replica).await?;
            Ok::<(), Error>(())
        };
        if let Err(error) = recorded.await {
            tracing::warn!(%error, edge, "cannot record the lease renewal");
        }
    }

    /// Applies what time did; called every second or so. An edge whose lease lapsed here
    /// but renews with another replica moved there (a failover, or a blip that rested this
    /// replica for a while): it is handed over silently, and only the edges that renew
    /// nowhere take their users OFFLINE.
    pub async fn tick(&self) {
        // Everything is decided at one instant, so that no edge lapses unasked between the
        // question and the answer.
        let (now, wall) = (Instant::now(), Utc::now());
        let lapsed = self.state().lapsed_edges(now);
        let moved = if lapsed.is_empty() {
            Vec::new()
        } else {
            self.renewed_elsewhere(&lapsed).await
        };
        self.apply_at(now, wall, |state, now, wall| {
            for edge in &moved {
                state.hand_over(edge, now);
            }
            ((), state.tick(now, wall))
        });
        metrics::gauge!("parley_presence_sessions").set(self.session_count() as f64);
    }

    /// Those of the lapsed `edges` that renew with another replica. When the record cannot
    /// be read, none: a dead edge must not keep its users online for want of an answer.
    async fn renewed_elsewhere(&self, edges: &[String]) -> Vec<String> {
        let asked = async {
            let mut db = self.pool.acquire().await?;
            Ok::<_, Error>(
                repo::renewed_elsewhere(&mut db, edges, self.replica, self.lease_ttl).await?,
            )
        };
        match asked.await {
            Ok(moved) => {
                if !moved.is_empty() {
                    tracing::info!(?moved, "edges renew with another replica: handed over");
                    metrics::counter!("parley_presence_edges_handed_over_total")
                        .increment(moved.len() as u64);
                }
                moved
            }
            Err(error) => {
                tracing::warn!(%error, "cannot tell moved edges from dead ones; ending them");
                Vec::new()
            }
        }
    }

    /// A friendship formed: each side sees the other's status at once.
    pub fn friendship_formed(&self, (a, b): NewFriends) {
        let state = self.state();
        for (user, friend) in [(a, b), (b, a)] {
            if let Some((status, last_seen)) = state.shown(user) {
                let change = Change {
                    user,
                    status,
                    last_seen: last_seen.unwrap_or_else(Utc::now),
                };
                self.events.tell(&change, &[friend]);
            }
        }
    }

    /// Writes, in one statement, the last-seen times changed since the previous flush and
    /// "seen until now" for everyone shown online: at most one row per user per flush,
    /// whatever the heartbeats. Users no longer online are then dropped from memory.
    pub async fn flush(&self) -> Result<usize, Error> {
        let started = std::time::Instant::now();
        let batch = {
            let mut state = self.state();
            state.seen_until(Utc::now());
            state.take_unsaved()
        };
        if let Err(error) = self.save_last_seen(&batch).await {
            // Keep them for the next flush rather than lose them.
            let mut state = self.state();
            for (user, at) in &batch {
                state.mark_unsaved(*user, *at);
            }
            return Err(error);
        }
        metrics::counter!("parley_presence_last_seen_rows_total").increment(batch.len() as u64);
        metrics::histogram!("parley_presence_flush_rows").record(batch.len() as f64);
        metrics::histogram!("parley_presence_flush_seconds")
            .record(started.elapsed().as_secs_f64());
        self.flush_stats.flushes.fetch_add(1, Ordering::Relaxed);
        self.flush_stats
            .rows
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        let state = {
            let mut state = self.state();
            state.forget_idle();
            state
        };
        self.graph.retain(|user| state.knows(user));
        Ok(batch.len())
    }

    pub fn friends_client(&self) -> FriendsClient {
        self.friends.clone()
    }

    pub fn session_count(&self) -> usize {
        self.state().session_count()
    }
}
