//! The operations of presence-svc: the rules of [`crate::state`] applied under one lock,
//! with the friend lists they need, what is stored ([`crate::repo`]) and what friends are
//! told ([`crate::events`]).

use std::{
    collections::{HashMap, HashSet},
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
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
    peers::Peers,
    repo::{self, Stored},
    shards::{self, Leases},
    state::{Change, PresenceState, Refusal, Timing},
};

/// The answer for a user whose shard another replica holds: the caller asks the replicas
/// again (`RenewEdgeLease` names each one's shards) and retries.
pub const HELD_ELSEWHERE: &str = "the user's presence shard is held by another replica; retry";

/// What friends see of a user: status and last seen.
pub type Shown = (Status, Option<DateTime<Utc>>);

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
    lease_ttl: Duration,
    /// The user shards this replica holds, and who holds the others.
    leases: Mutex<Leases>,
    /// The other replicas, asked for what their users look like.
    peers: Peers,
    /// Each edge's last renewal, all its sessions (of every shard): a shard taken over is
    /// rebuilt from these at once, instead of at each edge's next renewal.
    listed: Mutex<HashMap<String, Listed>>,
}

/// The sessions an edge listed, and when.
struct Listed {
    at: Instant,
    sessions: Vec<(String, UserId)>,
}

impl Presence {
    /// The service, and the fan-out of its events through Postgres, to stop at shutdown.
    pub fn new(
        event_bus: &bus::Bus,
        pool: PgPool,
        friends: FriendsClient,
        timing: Timing,
        leases: Leases,
        peers: Peers,
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
            leases: Mutex::new(leases),
            peers,
            listed: Mutex::new(HashMap::new()),
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
        self.check_held(user)?;
        self.ensure_loaded(&[user]).await?;
        let (session, edge) = (session.as_str(), edge.as_str());
        self.apply(
            |state, now, wall| match state.open_session(user, session, edge, now, wall) {
                Ok(changes) => (Ok(state.chosen(user).unwrap_or(Status::Online)), changes),
                Err(Refusal::SessionTaken) => (
                    Err(Error::AlreadyExists("session_id: held by another user")),
                    Vec::new(),
                ),
                Err(Refusal::NotHeld) => (Err(Error::Unavailable(HELD_ELSEWHERE)), Vec::new()),
            },
        )
    }

    /// `UNAVAILABLE` unless `user`'s shard is held here (checked again under the lock by
    /// whatever changes the state; this spares the loads of a call that cannot succeed).
    fn check_held(&self, user: UserId) -> Result<(), Error> {
        if self.state().holds(user) {
            Ok(())
        } else {
            Err(Error::Unavailable(HELD_ELSEWHERE))
        }
    }

    /// Ends `user`'s session; a session of someone else is left alone.
    pub fn close_session(&self, user: UserId, session: &SessionId) -> Result<(), Error> {
        let session = session.as_str();
        self.apply(|state, now, wall| {
            if !state.holds(user) {
                return (Err(Error::Unavailable(HELD_ELSEWHERE)), Vec::new());
            }
            if state.owner(session) != Some(user) {
                return (Ok(()), Vec::new());
            }
            (Ok(()), state.close_session(session, now, wall))
        })
    }

    /// Renews a session's heartbeat window; a session presence-svc does not hold (it
    /// restarted) is registered again for `edge`.
    pub async fn heartbeat(
        &self,
        user: UserId,
        session: &SessionId,
        edge: &EdgeId,
    ) -> Result<(), Error> {
        self.check_held(user)?;
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
        self.check_held(user)?;
        self.ensure_loaded(&[user]).await?;
        let mut db = self.pool.acquire().await?;
        repo::save_chosen(&mut db, user, status).await?;
        self.apply(|state, now, wall| ((), state.choose(user, status, now, wall)));
        Ok(status)
    }

    /// The status of each of `user`'s friends: from memory for the shards held here, from
    /// their holders for the others; friends-svc names them in calls of up to 1000.
    pub async fn friends_status(&self, user: UserId) -> Result<Vec<FriendView>, Error> {
        self.graph.ensure(&self.friends, user).await?;
        let friend_ids = self.graph.friends_of(user);
        if friend_ids.is_empty() {
            return Ok(Vec::new());
        }
        let shown = self.shown_anywhere(&friend_ids).await?;
        let named = parley_common::friends::users(&self.friends, &friend_ids)
            .await
            .map_err(friends_svc)?;
        let mut views: Vec<FriendView> = named
            .into_iter()
            .filter_map(|named| {
                let id = UserId(Uuid::parse_str(&named.id).ok()?);
                let (status, last_seen) =
                    shown.get(&id).copied().unwrap_or((Status::Offline, None));
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

    /// What friends see of each of `users`, wherever their shard is held. `UNAVAILABLE`
    /// while a shard has no holder (its replica died and no other took it yet) or a holder
    /// does not answer: a friend shown OFFLINE for want of an answer would be a false one.
    async fn shown_anywhere(&self, users: &[UserId]) -> Result<HashMap<UserId, Shown>, Error> {
        let (here, elsewhere): (Vec<UserId>, Vec<UserId>) = {
            let state = self.state();
            users.iter().partition(|user| state.holds(**user))
        };
        let mut shown = self.shown_here(&here).await?;
        let by_holder = match self.by_holder(&elsewhere) {
            Some(grouped) => grouped,
            None => {
                // A shard moved since the last round: read the holders again, once.
                self.read_holders().await?;
                self.by_holder(&elsewhere)
                    .ok_or(Error::Unavailable(HELD_ELSEWHERE))?
            }
        };
        let asked = by_holder
            .iter()
            .map(|(holder, users)| self.peers.statuses(holder, users));
        for (answer, (_, asked_about)) in futures_util::future::join_all(asked)
            .await
            .into_iter()
            .zip(&by_holder)
        {
            let answered = answer?;
            if asked_about.iter().any(|user| !answered.contains_key(user)) {
                // The shard moved between the read of the holders and the call.
                return Err(Error::Unavailable(HELD_ELSEWHERE));
            }
            shown.extend(answered);
        }
        Ok(shown)
    }

    /// `users` by the replica that holds them, as last read; `None` if one seems held by
    /// nobody, or by this replica (it does not, or it would not be asked).
    fn by_holder(&self, users: &[UserId]) -> Option<HashMap<Arc<str>, Vec<UserId>>> {
        let leases = parley_common::lock::lock(&self.leases);
        let mut grouped: HashMap<Arc<str>, Vec<UserId>> = HashMap::new();
        for user in users {
            let holder = leases
                .holder_of(*user)
                .filter(|holder| *holder != leases.me)?;
            grouped.entry(holder).or_default().push(*user);
        }
        Some(grouped)
    }

    /// Reads who holds each shard now.
    async fn read_holders(&self) -> Result<(), Error> {
        let ttl = parley_common::lock::lock(&self.leases).ttl;
        let mut db = self.pool.acquire().await?;
        let holders = repo::shard_holders(&mut db, ttl).await?;
        parley_common::lock::lock(&self.leases).read(&numbered(holders));
        Ok(())
    }

    /// What friends see of those of `users` whose shard is held here (the others are left
    /// out): one read loads the stored status of those not in memory yet.
    pub async fn shown_here(&self, users: &[UserId]) -> Result<HashMap<UserId, Shown>, Error> {
        self.load_stored(users).await?;
        let state = self.state();
        Ok(users
            .iter()
            .filter(|user| state.holds(**user))
            .map(|user| (*user, state.shown(*user).unwrap_or((Status::Offline, None))))
            .collect())
    }

    /// An edge vouches for its live sessions; every replica gets every edge's renewal,
    /// registers the sessions of its own shards and keeps the whole list (see `listed`).
    /// The lease is extended first, so that a slow or failed load of users (after a restart,
    /// many at once) never lets the edge's sessions lapse; the sessions are registered once
    /// their users are loaded. Returns the shards held here.
    pub async fn renew_lease(
        &self,
        edge: &EdgeId,
        sessions: Vec<(SessionId, UserId)>,
    ) -> Result<Vec<u32>, Error> {
        let edge = edge.as_str();
        self.apply(|state, now, _| (state.extend_lease(edge, now), Vec::new()));
        self.record_renewal(edge).await;
        // Moved, not copied: a renewal may list an edge's tens of thousands of sessions; only
        // this replica's share is copied.
        let listed: Vec<(String, UserId)> = sessions
            .into_iter()
            .map(|(session, user)| (session.into_string(), user))
            .collect();
        let sessions: Vec<(String, UserId)> = {
            let state = self.state();
            listed
                .iter()
                .filter(|(_, user)| state.holds(*user))
                .cloned()
                .collect()
        };
        parley_common::lock::lock(&self.listed).insert(
            edge.to_owned(),
            Listed {
                at: Instant::now(),
                sessions: listed,
            },
        );
        let mut users: Vec<UserId> = sessions.iter().map(|(_, user)| *user).collect();
        users.sort();
        users.dedup();
        self.ensure_loaded(&users).await?;
        Ok(self.apply(|state, now, wall| {
            let changes = state.renew_lease(edge, &sessions, now, wall);
            (state.held_shards(), changes)
        }))
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
        let expired = parley_common::lock::lock(&self.leases).expired(now);
        self.let_go(&expired);
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

    /// Renews this replica's lease, takes its share of the free shards and gives back those
    /// another replica should hold; called five times per lease
    /// (`Config::shard_round_interval`). A round that fails changes nothing here: once the
    /// lease can no longer be trusted, [`Self::tick`] lets go of every shard.
    pub async fn renew_shards(&self) {
        let started = Instant::now();
        if let Err(error) = self.shard_round(started).await {
            tracing::warn!(%error, "cannot renew the presence shard leases; will retry");
        }
        metrics::gauge!("parley_presence_shards_held").set(self.state().held_shards().len() as f64);
    }

    async fn shard_round(&self, started: Instant) -> Result<(), Error> {
        let (me, ttl) = {
            let leases = parley_common::lock::lock(&self.leases);
            (leases.me.clone(), leases.ttl)
        };
        let mut db = self.pool.acquire().await?;
        let live = repo::live_replicas(&mut db, &me, ttl).await?;
        let share = shards::share(&me, &live);
        let surplus = parley_common::lock::lock(&self.leases).give_up(&share);
        if !surplus.is_empty() {
            // Stop serving first, so that the shard is never served here once another may
            // take it.
            self.let_go(&surplus);
            repo::release_shards(&mut db, &me, &as_ids(&surplus)).await?;
            tracing::info!(shards = surplus.len(), "presence shards given back");
        }
        // An edge's sessions may be live for a lease after the last renewal a holder heard.
        let taken = repo::take_shards(&mut db, &me, &as_ids(&share), ttl, self.lease_ttl).await?;
        let held = repo::held_by(&mut db, &me).await?;
        let holders = repo::shard_holders(&mut db, ttl).await?;
        let taken_cold: HashSet<u32> = taken
            .iter()
            .filter(|taken| !taken.recently_held)
            .filter_map(|taken| u32::try_from(taken.shard).ok())
            .collect();
        let claimed: Vec<(u32, i64)> = held
            .into_iter()
            .filter_map(|(shard, epoch)| Some((u32::try_from(shard).ok()?, epoch)))
            .collect();
        let moves =
            parley_common::lock::lock(&self.leases).renewed(started, &claimed, &numbered(holders));
        self.let_go(&moves.lost);
        if !moves.gained.is_empty() {
            // A shard held until lately may have users with sessions not registered here yet
            // (opened since their edge's last renewal): until every edge has renewed once
            // (every third of its lease, at most), none of them is announced OFFLINE. Only a
            // shard just taken that nobody held lately is warm at once; one the database
            // already gave this replica (its previous run, on the same address) warms up.
            let now = Instant::now();
            let warm_at = now + self.lease_ttl / 3 + WARM_UP_MARGIN;
            self.apply_at(now, Utc::now(), |state, _, _| {
                for shard in &moves.gained {
                    let warm = if taken_cold.contains(shard) {
                        now
                    } else {
                        warm_at
                    };
                    state.hold(*shard, warm);
                }
                ((), Vec::new())
            });
            tracing::info!(
                shards = moves.gained.len(),
                warming = moves
                    .gained
                    .iter()
                    .filter(|shard| !taken_cold.contains(shard))
                    .count(),
                "presence shards taken"
            );
            self.adopt_listed(&moves.gained).await;
        }
        Ok(())
    }

    /// Registers the sessions of `shards`, just taken over, that the edges listed in their
    /// last renewals: their users show online here at once. Should that fail, the edges'
    /// next renewals register them.
    async fn adopt_listed(&self, shards: &[u32]) {
        let shards: HashSet<u32> = shards.iter().copied().collect();
        let by_edge: Vec<(String, Vec<(String, UserId)>)> = {
            let mut listed = parley_common::lock::lock(&self.listed);
            let ttl = self.lease_ttl;
            listed.retain(|_, list| list.at.elapsed() < ttl);
            listed
                .iter()
                .map(|(edge, list)| {
                    let sessions = list
                        .sessions
                        .iter()
                        .filter(|(_, user)| shards.contains(&shards::shard_of(*user)))
                        .cloned()
                        .collect();
                    (edge.clone(), sessions)
                })
                .collect()
        };
        let mut users: Vec<UserId> = by_edge
            .iter()
            .flat_map(|(_, sessions)| sessions.iter().map(|(_, user)| *user))
            .collect();
        users.sort();
        users.dedup();
        if let Err(error) = self.ensure_loaded(&users).await {
            tracing::warn!(%error, "cannot load the users of shards taken over; the edges' renewals will");
            return;
        }
        self.apply(|state, now, wall| {
            let changes = by_edge
                .iter()
                .flat_map(|(edge, sessions)| state.adopt(edge, sessions, now, wall))
                .collect();
            ((), changes)
        });
        tracing::info!(
            users = users.len(),
            "sessions of shards taken over registered from the edges' renewals"
        );
    }

    /// Gives back every shard held here, at shutdown, so that the other replicas take them
    /// at their next round instead of after the leases expire.
    pub async fn give_back_shards(&self) {
        let (held, me) = {
            let mut leases = parley_common::lock::lock(&self.leases);
            (leases.give_up(&[]), leases.me.clone())
        };
        self.let_go(&held);
        let released = async {
            let mut db = self.pool.acquire().await?;
            repo::release_shards(&mut db, &me, &as_ids(&held)).await?;
            // Until its row ages out, the others would count it live and leave its share.
            repo::forget_replica(&mut db, &me).await?;
            Ok::<(), Error>(())
        };
        if let Err(error) = released.await {
            tracing::warn!(%error, "cannot give the presence shards back; they move when their leases expire");
        }
    }

    /// Forgets the users of `shards`, no longer held here.
    fn let_go(&self, shards: &[u32]) {
        if shards.is_empty() {
            return;
        }
        self.state().let_go(shards);
        tracing::info!(shards = shards.len(), "presence shards let go of");
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
        let ttl = self.lease_ttl;
        parley_common::lock::lock(&self.listed).retain(|_, list| list.at.elapsed() < ttl);
        let state = {
            let mut state = self.state();
            state.forget_idle();
            state
        };
        self.graph.retain(|user| state.knows(user));
        Ok(batch.len())
    }

    /// The shards held here, in order.
    pub fn held_shards(&self) -> Vec<u32> {
        self.state().held_shards()
    }

    pub fn friends_client(&self) -> FriendsClient {
        self.friends.clone()
    }

    pub fn session_count(&self) -> usize {
        self.state().session_count()
    }
}

/// How much longer than the edges' renewal interval a gained shard warms up.
const WARM_UP_MARGIN: Duration = Duration::from_secs(5);

/// Shard numbers as the database stores them.
fn as_ids(shards: &[u32]) -> Vec<i32> {
    shards
        .iter()
        .filter_map(|shard| i32::try_from(*shard).ok())
        .collect()
}

/// Holders as the database lists them, by shard number.
fn numbered(holders: Vec<(i32, String)>) -> Vec<(u32, String)> {
    holders
        .into_iter()
        .filter_map(|(shard, holder)| Some((u32::try_from(shard).ok()?, holder)))
        .collect()
}
