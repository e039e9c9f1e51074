//! Who is online: sessions, statuses and last seen, in memory. Pure: every call takes the
//! current time, and returns the changes friends must be told about, so the rules are
//! tested without a clock or a database.
//!
//! A user is online while any of their sessions is live. A session is live until it closes,
//! misses its heartbeat window, or its edge's lease lapses. When the last live session goes,
//! the user turns OFFLINE only after a grace period, so a device that reconnects at once
//! (a flapping network) causes no OFFLINE/ONLINE pair.
//!
//! Each replica holds a share of the users, by shard ([`crate::shards`]): the state keeps
//! only users of the shards it holds, and forgets a shard's users silently when it lets go
//! of it. A shard just taken over warms up: until the edges' renewals have rebuilt its
//! sessions, nobody of it is announced OFFLINE (a user whose session is known here but whose
//! other device is not yet would look gone).
//!
//! Kept apart from [`crate::domain`], which holds the types, because this is the one part
//! with a notion of time. Session and edge ids arrive validated ([`crate::domain::SessionId`],
//! [`crate::domain::EdgeId`]) and are only compared here, so they are kept as plain text.

use std::{
    collections::{HashMap, HashSet},
    time::Duration,
};

use crate::{
    domain::{Status, UserId},
    shards::{SHARDS, shard_of},
};
use chrono::{DateTime, Utc};
use tokio::time::Instant;

/// How long things may last.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// A session without a heartbeat for this long is no longer live.
    pub heartbeat_timeout: Duration,
    /// How long a user whose last session went stays shown as before.
    pub grace: Duration,
    /// How long an edge's sessions live without a lease renewal.
    pub lease_ttl: Duration,
}

/// A change of what friends see of `user`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub user: UserId,
    pub status: Status,
    pub last_seen: DateTime<Utc>,
}

#[derive(Debug)]
struct Session {
    user: UserId,
    edge: String,
    /// A renewal whose list was taken before this cannot know the session: it must not end it.
    registered_at: Instant,
    last_beat: Instant,
    live: bool,
}

#[derive(Debug, Clone, Copy)]
struct Lease {
    until: Instant,
    /// When the edge last listed its sessions.
    last_listed: Option<Instant>,
}

#[derive(Debug)]
struct User {
    sessions: HashSet<String>,
    /// The status the user chose; kept while they are away.
    chosen: Status,
    /// What friends see now.
    shown: Status,
    last_seen: Option<DateTime<Utc>>,
    /// When the last live session went, while the grace period runs.
    leaving_since: Option<(Instant, DateTime<Utc>)>,
}

/// Everything presence-svc knows about who is online.
#[derive(Debug)]
pub struct PresenceState {
    timing: Timing,
    sessions: HashMap<String, Session>,
    users: HashMap<UserId, User>,
    leases: HashMap<String, Lease>,
    /// Last-seen times changed since the last flush to the database.
    unsaved: HashMap<UserId, DateTime<Utc>>,
    /// Per shard: `Some(when it is warm)` if held here.
    held: Vec<Option<Instant>>,
}

/// A heartbeat for a session presence-svc does not hold.
#[derive(Debug, PartialEq, Eq)]
pub struct UnknownSession;

/// Why a session cannot be opened here.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The session id is held by another user.
    SessionTaken,
    /// The user's shard is held by another replica.
    NotHeld,
}

impl PresenceState {
    /// A state that holds no shard yet.
    pub fn new(timing: Timing) -> Self {
        Self {
            timing,
            sessions: HashMap::new(),
            users: HashMap::new(),
            leases: HashMap::new(),
            unsaved: HashMap::new(),
            held: vec![None; SHARDS as usize],
        }
    }

    /// Whether `user`'s shard is held here.
    pub fn holds(&self, user: UserId) -> bool {
        self.held_shard(shard_of(user)).is_some()
    }

    fn held_shard(&self, shard: u32) -> Option<Instant> {
        usize::try_from(shard)
            .ok()
            .and_then(|shard| self.held.get(shard).copied().flatten())
    }

    /// Whether `user`'s shard is still warming up at `now`.
    fn warming(&self, user: UserId, now: Instant) -> bool {
        self.held_shard(shard_of(user))
            .is_some_and(|warm_at| now < warm_at)
    }

    /// Takes `shard` on, warm from `warm_at`; one held already stays as it is.
    pub fn hold(&mut self, shard: u32, warm_at: Instant) {
        if let Some(held @ None) = usize::try_from(shard)
            .ok()
            .and_then(|shard| self.held.get_mut(shard))
        {
            *held = Some(warm_at);
        }
    }

    /// Lets go of `shards`: their users and sessions are forgotten without telling anyone,
    /// since the replica that takes them over shows them from then on. One pass over the
    /// users and sessions, however many shards (a rebalance gives back hundreds at once).
    pub fn let_go(&mut self, shards: &[u32]) {
        let mut dropped = false;
        for shard in shards {
            if let Some(held) = usize::try_from(*shard)
                .ok()
                .and_then(|shard| self.held.get_mut(shard))
            {
                dropped |= held.take().is_some();
            }
        }
        if !dropped {
            return;
        }
        let held = &self.held;
        let kept = |user: UserId| {
            usize::try_from(shard_of(user))
                .ok()
                .and_then(|shard| held.get(shard).copied().flatten())
                .is_some()
        };
        self.users.retain(|user, _| kept(*user));
        self.sessions.retain(|_, session| kept(session.user));
        self.unsaved.retain(|user, _| kept(*user));
    }

    /// The shards held here, in order.
    pub fn held_shards(&self) -> Vec<u32> {
        (0..SHARDS)
            .filter(|shard| self.held_shard(*shard).is_some())
            .collect()
    }

    /// Whether `user` is in memory (their stored status and last seen are loaded).
    pub fn knows(&self, user: UserId) -> bool {
        self.users.contains_key(&user)
    }

    /// Brings a user into memory with what the database holds; a user of a shard held
    /// elsewhere is not kept.
    pub fn load(&mut self, user: UserId, chosen: Status, last_seen: Option<DateTime<Utc>>) {
        if !self.holds(user) {
            return;
        }
        self.users.entry(user).or_insert(User {
            sessions: HashSet::new(),
            chosen,
            shown: Status::Offline,
            last_seen,
            leaving_since: None,
        });
    }

    /// What friends see of `user`: (status, last seen), if in memory.
    pub fn shown(&self, user: UserId) -> Option<(Status, Option<DateTime<Utc>>)> {
        self.users
            .get(&user)
            .map(|user| (user.shown, user.last_seen))
    }

    /// The status `user` chose, if in memory.
    pub fn chosen(&self, user: UserId) -> Option<Status> {
        self.users.get(&user).map(|user| user.chosen)
    }

    /// The user a session belongs to, if held.
    pub fn owner(&self, session: &str) -> Option<UserId> {
        self.sessions.get(session).map(|held| held.user)
    }

    pub fn open_session(
        &mut self,
        user: UserId,
        session: &str,
        edge: &str,
        now: Instant,
        wall: DateTime<Utc>,
    ) -> Result<Vec<Change>, Refusal> {
        if !self.holds(user) {
            return Err(Refusal::NotHeld);
        }
        if self.owner(session).is_some_and(|owner| owner != user) {
            return Err(Refusal::SessionTaken);
        }
        self.load(user, Status::Online, None);
        Ok(self.attach(user, session, edge, now, wall))
    }

    fn attach(
        &mut self,
        user: UserId,
        session: &str,
        edge: &str,
        now: Instant,
        wall: DateTime<Utc>,
    ) -> Vec<Change> {
        let registered_at = self
            .sessions
            .get(session)
            .map_or(now, |held| held.registered_at);
        self.sessions.insert(
            session.to_owned(),
            Session {
                user,
                edge: edge.to_owned(),
                registered_at,
                last_beat: now,
                live: true,
            },
        );
        self.leases.entry(edge.to_owned()).or_insert(Lease {
            until: now + self.timing.lease_ttl,
            last_listed: None,
        });
        if let Some(state) = self.users.get_mut(&user) {
            state.sessions.insert(session.to_owned());
        }
        self.settle(user, now, wall)
    }

    pub fn close_session(
        &mut self,
        session: &str,
        now: Instant,
        wall: DateTime<Utc>,
    ) -> Vec<Change> {
        match self.detach(session) {
            Some(user) => self.settle(user, now, wall),
            None => Vec::new(),
        }
    }

    fn detach(&mut self, session: &str) -> Option<UserId> {
        let removed = self.sessions.remove(session)?;
        if let Some(state) = self.users.get_mut(&removed.user) {
            state.sessions.remove(session);
        }
        Some(removed.user)
    }

    /// A heartbeat renews a session's window, and brings a session that missed it back.
    pub fn heartbeat(
        &mut self,
        session: &str,
        now: Instant,
        wall: DateTime<Utc>,
    ) -> Result<Vec<Change>, UnknownSession> {
        let held = self.sessions.get_mut(session).ok_or(UnknownSession)?;
        held.last_beat = now;
        let revived = !held.live;
        held.live = true;
        let user = held.user;
        Ok(if revived {
            self.settle(user, now, wall)
        } else {
            Vec::new()
        })
    }

    /// The user chose a status (not `Offline`, which only absence gives).
    pub fn choose(
        &mut self,
        user: UserId,
        status: Status,
        now: Instant,
        wall: DateTime<Utc>,
    ) -> Vec<Change> {
        self.load(user, status, None);
        if let Some(state) = self.users.get_mut(&user) {
            state.chosen = status;
        }
        self.settle(user, now, wall)
    }

    /// Keeps an edge's sessions alive for another lease period.
    pub fn extend_lease(&mut self, edge: &str, now: Instant) {
        let until = now + self.timing.lease_ttl;
        self.leases
            .entry(edge.to_owned())
            .and_modify(|lease| lease.until = until)
            .or_insert(Lease {
                until,
                last_listed: None,
            });
    }

    /// An edge lists its sessions: its lease runs on, sessions presence-svc lost (it
    /// restarted) are registered again, and those the edge no longer lists end, unless they
    /// were registered after the edge's previous list (this list may predate them).
    pub fn renew_lease(
        &mut self,
        edge: &str,
        sessions: &[(String, UserId)],
        now: Instant,
        wall: DateTime<Utc>,
    ) -> Vec<Change> {
        self.extend_lease(edge, now);
        let previous_list = self
            .leases
            .get_mut(edge)
            .and_then(|lease| lease.last_listed.replace(now));
        let listed: HashSet<&str> = sessions.iter().map(|(id, _)| id.as_str()).collect();
        let gone: Vec<String> = self
            .sessions
            .iter()
            .filter(|(id, held)| {
                held.edge == edge
                    && !listed.contains(id.as_str())
                    && previous_list.is_some_and(|listed_at| held.registered_at <= listed_at)
            })
            .map(|(id, _)| id.clone())
            .collect();
        let mut changes = Vec::new();
        for session in gone {
            changes.extend(self.close_session(&session, now, wall));
        }
        changes.extend(self.adopt(edge, sessions, now, wall));
        changes
    }

    /// Registers those of `edge`'s `sessions` not held yet (of users whose shard is held
    /// here), ending none: for a renewal, and for a shard just taken over, from the edge's
    /// last renewal.
    pub fn adopt(
        &mut self,
        edge: &str,
        sessions: &[(String, UserId)],
        now: Instant,
        wall: DateTime<Utc>,
    ) -> Vec<Change> {
        let mut changes = Vec::new();
        for (session, user) in sessions {
            if !self.sessions.contains_key(session) {
                // A session id held by someone else is skipped, never taken over.
                changes.extend(
                    self.open_session(*user, session, edge, now, wall)
                        .unwrap_or_default(),
                );
            }
        }
        changes
    }

    /// The edges whose lease has lapsed by `now`: [`Self::tick`] ends their sessions unless
    /// they are handed over first.
    pub fn lapsed_edges(&self, now: Instant) -> Vec<String> {
        self.leases
            .iter()
            .filter(|(_, lease)| lease.until <= now)
            .map(|(edge, _)| edge.clone())
            .collect()
    }

    /// Lets go of a lapsed edge that renews its lease with another replica now (a failover
    /// moved it): its sessions are dropped without telling anyone, since the replica that
    /// holds the edge now shows its users. A user left without sessions here is shown
    /// OFFLINE in this replica's memory only, with nothing to store. An edge renewed here
    /// meanwhile (it came back) is kept.
    pub fn hand_over(&mut self, edge: &str, now: Instant) {
        if self.leases.get(edge).is_none_or(|lease| lease.until > now) {
            return;
        }
        self.leases.remove(edge);
        let sessions: Vec<String> = self
            .sessions
            .iter()
            .filter(|(_, held)| held.edge == edge)
            .map(|(id, _)| id.clone())
            .collect();
        for session in sessions {
            let Some(user) = self.detach(&session) else {
                continue;
            };
            if let Some(state) = self.users.get_mut(&user)
                && state.sessions.is_empty()
            {
                state.shown = Status::Offline;
                state.leaving_since = None;
                self.unsaved.remove(&user);
            }
        }
    }

    /// Applies what time did: missed heartbeats, lapsed leases, ended grace periods.
    pub fn tick(&mut self, now: Instant, wall: DateTime<Utc>) -> Vec<Change> {
        let lapsed = self.lapsed_edges(now);
        let mut touched = HashSet::new();
        for edge in lapsed {
            self.leases.remove(&edge);
            let sessions: Vec<String> = self
                .sessions
                .iter()
                .filter(|(_, held)| held.edge == edge)
                .map(|(id, _)| id.clone())
                .collect();
            for session in sessions {
                touched.extend(self.detach(&session));
            }
        }
        for held in self.sessions.values_mut() {
            if held.live && now.duration_since(held.last_beat) >= self.timing.heartbeat_timeout {
                held.live = false;
                touched.insert(held.user);
            }
        }
        let grace = self.timing.grace;
        touched.extend(self.users.iter().filter_map(|(id, user)| {
            let (since, _) = user.leaving_since?;
            (now.duration_since(since) >= grace).then_some(*id)
        }));
        let mut changes = Vec::new();
        for user in touched {
            changes.extend(self.settle(user, now, wall));
        }
        changes
    }

    /// Brings what friends see of `user` in line with their sessions and choice.
    fn settle(&mut self, user: UserId, now: Instant, wall: DateTime<Utc>) -> Vec<Change> {
        let warming = self.warming(user, now);
        let live = self.users.get(&user).is_some_and(|state| {
            state
                .sessions
                .iter()
                .any(|session| self.sessions.get(session).is_some_and(|held| held.live))
        });
        let grace = self.timing.grace;
        let Some(state) = self.users.get_mut(&user) else {
            return Vec::new();
        };
        let target = if live {
            state.leaving_since = None;
            state.chosen.shown()
        } else {
            match state.leaving_since {
                None if state.shown != Status::Offline => {
                    state.leaving_since = Some((now, wall));
                    return Vec::new();
                }
                Some((since, _)) if now.duration_since(since) < grace => return Vec::new(),
                // Once warm, the next tick announces it, dated when the last session went.
                Some(_) if warming => return Vec::new(),
                _ => Status::Offline,
            }
        };
        if target == state.shown {
            return Vec::new();
        }
        // Going offline is dated when the last session went, not when the grace ended.
        let at = match (target, state.leaving_since.take()) {
            (Status::Offline, Some((_, left_at))) => left_at,
            _ => wall,
        };
        state.shown = target;
        state.last_seen = Some(at);
        self.unsaved.insert(user, at);
        vec![Change {
            user,
            status: target,
            last_seen: at,
        }]
    }

    /// Last-seen times to write, taken out of memory's to-do list.
    pub fn take_unsaved(&mut self) -> Vec<(UserId, DateTime<Utc>)> {
        self.unsaved.drain().collect()
    }

    /// Puts back a last-seen time whose write failed, unless a newer one is waiting.
    pub fn mark_unsaved(&mut self, user: UserId, at: DateTime<Utc>) {
        self.unsaved.entry(user).or_insert(at);
    }

    /// Whoever friends see online was seen until `wall` (written at every flush, so that a
    /// crash loses at most one flush interval of last seen).
    pub fn seen_until(&mut self, wall: DateTime<Utc>) {
        for (id, user) in &mut self.users {
            if user.shown != Status::Offline {
                user.last_seen = Some(wall);
                self.unsaved.insert(*id, wall);
            }
        }
    }

    /// Forgets users who are offline with nothing pending, to bound memory.
    pub fn forget_idle(&mut self) {
        let unsaved = &self.unsaved;
        self.users.retain(|id, user| {
            let idle = user.sessions.is_empty()
                && user.leaving_since.is_none()
                && user.shown == Status::Offline
                && !unsaved.contains_key(id);
            !idle
        });
    }

    /// How many sessions are held, live or not.
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }
}

#[cfg(test)]
mod tests {
    //! Time is tokio's paused clock: `advance` moves it exactly, nothing sleeps.

    use super::*;
    use tokio::time::advance;
    use uuid::Uuid;

    const TIMING: Timing = Timing {
        heartbeat_timeout: Duration::from_secs(90),
        grace: Duration::from_secs(5),
        lease_ttl: Duration::from_secs(30),
    };

    /// A state holding every shard, warm already.
    fn holding_all() -> PresenceState {
        let mut state = PresenceState::new(TIMING);
        for shard in 0..SHARDS {
            state.hold(shard, Instant::now());
        }
        state
    }

    fn statuses(changes: &[Change]) -> Vec<Status> {
        changes.iter().map(|change| change.status).collect()
    }

    fn someone() -> UserId {
        UserId(Uuid::new_v4())
    }

    fn now() -> (Instant, DateTime<Utc>) {
        (Instant::now(), Utc::now())
    }

    #[tokio::test(start_paused = true)]
    async fn several_devices_make_one_change_each_way() {
        let mut state = holding_all();
        let alice = someone();
        let (at, wall) = now();
        assert_eq!(
            statuses(
                &state
                    .open_session(alice, "phone", "e1", at, wall)
                    .expect("a free session id")
            ),
            [Status::Online]
        );
        assert!(
            state
                .open_session(alice, "laptop", "e1", at, wall)
                .expect("a free session id")
                .is_empty()
        );
        assert!(
            state.close_session("phone", at, wall).is_empty(),
            "one device still live"
        );
        assert!(
            state.close_session("laptop", at, wall).is_empty(),
            "grace period first"
        );

        advance(Duration::from_secs(5)).await;
        let (at, later) = now();
        let changes = state.tick(at, later);
        assert_eq!(statuses(&changes), [Status::Offline]);
        assert_eq!(
            changes[0].last_seen, wall,
            "dated when the last device left"
        );
        assert!(state.tick(at, later).is_empty(), "told once");
    }

    #[tokio::test(start_paused = true)]
    async fn a_device_that_reconnects_within_the_grace_period_causes_no_change() {
        let mut state = holding_all();
        let alice = someone();
        let (at, wall) = now();
        state
            .open_session(alice, "phone", "e1", at, wall)
            .expect("a free session id");
        assert!(state.close_session("phone", at, wall).is_empty());
        advance(Duration::from_secs(4)).await;
        let (at, wall) = now();
        assert!(state.tick(at, wall).is_empty());
        assert!(
            state
                .open_session(alice, "phone-2", "e1", at, wall)
                .expect("a free session id")
                .is_empty()
        );
        advance(Duration::from_secs(10)).await;
        let (at, wall) = now();
        assert!(state.tick(at, wall).is_empty(), "no OFFLINE/ONLINE pair");
    }

    #[tokio::test(start_paused = true)]
    async fn a_session_without_heartbeats_ends_and_a_heartbeat_brings_it_back() {
        let mut state = holding_all();
        let alice = someone();
        let (at, wall) = now();
        state
            .open_session(alice, "phone", "e1", at, wall)
            .expect("a free session id");
        for _ in 0..3 {
            advance(Duration::from_secs(60)).await;
            let (at, wall) = now();
            state.heartbeat("phone", at, wall).expect("held");
            state.renew_lease("e1", &[("phone".into(), alice)], at, wall);
            assert!(state.tick(at, wall).is_empty(), "heartbeats keep it live");
        }
        advance(Duration::from_secs(89)).await;
        let (at, wall) = now();
        state.renew_lease("e1", &[("phone".into(), alice)], at, wall);
        assert!(state.tick(at, wall).is_empty());
        advance(Duration::from_secs(1)).await;
        let (at, wall) = now();
        assert!(
            state.tick(at, wall).is_empty(),
            "missed: the grace period starts"
        );
        advance(Duration::from_secs(5)).await;
        let (at, wall) = now();
        assert_eq!(statuses(&state.tick(at, wall)), [Status::Offline]);

        let (at, wall) = now();
        let back = state.heartbeat("phone", at, wall).expect("still held");
        assert_eq!(statuses(&back), [Status::Online]);
    }

    #[tokio::test(start_paused = true)]
    async fn when_an_edge_stops_renewing_its_sessions_end() {
        let mut state = holding_all();
        let (alice, bob) = (someone(), someone());
        let (at, wall) = now();
        state
            .open_session(alice, "a", "dead-edge", at, wall)
            .expect("a free session id");
        state
            .open_session(bob, "b", "live-edge", at, wall)
            .expect("a free session id");
        for _ in 0..6 {
            advance(Duration::from_secs(10)).await;
            let (at, wall) = now();
            state.renew_lease("live-edge", &[("b".into(), bob)], at, wall);
            state.heartbeat("a", at, wall).ok();
            state.heartbeat("b", at, wall).ok();
            state.tick(at, wall);
        }
        let (at, wall) = now();
        assert_eq!(
            state.shown(alice).map(|(status, _)| status),
            Some(Status::Offline)
        );
        assert_eq!(
            state.shown(bob).map(|(status, _)| status),
            Some(Status::Online)
        );
        assert!(
            state.heartbeat("a", at, wall).is_err(),
            "the session is gone"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_edge_handed_over_to_another_replica_takes_no_one_offline() {
        let mut state = holding_all();
        let (alice, bob) = (someone(), someone());
        let (at, wall) = now();
        state.renew_lease("moved", &[("a".into(), alice)], at, wall);
        state.renew_lease("back", &[("b".into(), bob)], at, wall);
        advance(Duration::from_secs(30)).await;
        let (at, wall) = now();
        assert_eq!(state.lapsed_edges(at).len(), 2);
        // "back" renews here again before the handover is decided: it stays.
        state.renew_lease("back", &[("b".into(), bob)], at, wall);
        state.hand_over("moved", at);
        state.hand_over("back", at);
        advance(Duration::from_secs(10)).await;
        let (at, wall) = now();
        assert!(state.tick(at, wall).is_empty(), "nobody announced OFFLINE");
        assert_eq!(state.owner("a"), None, "the moved edge's session is let go");
        assert_eq!(state.owner("b"), Some(bob));
        state.take_unsaved();
        state.forget_idle();
        assert!(!state.knows(alice), "and its user forgotten");
    }

    #[tokio::test(start_paused = true)]
    async fn a_renewal_registers_lost_sessions_and_ends_unlisted_ones() {
        let mut state = holding_all();
        let (alice, bob) = (someone(), someone());
        let (at, wall) = now();
        state
            .open_session(bob, "b", "e1", at, wall)
            .expect("a free session id");
        state.renew_lease("e1", &[("b".into(), bob)], at, wall);
        advance(Duration::from_secs(10)).await;
        let (at, wall) = now();
        // As after a restart: alice's session is unknown here, bob's was closed meanwhile.
        let changes = state.renew_lease("e1", &[("a".into(), alice)], at, wall);
        assert_eq!(changes.len(), 1);
        assert_eq!(
            (changes[0].user, changes[0].status),
            (alice, Status::Online)
        );
        assert_eq!(state.owner("b"), None, "no longer listed");
        assert_eq!(state.owner("a"), Some(alice));
    }

    #[tokio::test(start_paused = true)]
    async fn a_renewal_listed_before_a_session_opened_does_not_end_it() {
        let mut state = holding_all();
        let alice = someone();
        let (at, wall) = now();
        state.renew_lease("e1", &[], at, wall);
        advance(Duration::from_secs(10)).await;
        let (at, wall) = now();
        state
            .open_session(alice, "a", "e1", at, wall)
            .expect("a free session id");
        // This renewal's list was taken before "a" opened, so it does not mention it.
        assert!(state.renew_lease("e1", &[], at, wall).is_empty());
        assert_eq!(state.owner("a"), Some(alice));
    }

    #[tokio::test(start_paused = true)]
    async fn a_session_id_of_another_user_is_not_taken_over() {
        let mut state = holding_all();
        let (alice, mallory) = (someone(), someone());
        let (at, wall) = now();
        state
            .open_session(alice, "a", "e1", at, wall)
            .expect("a free session id");
        assert_eq!(
            state.open_session(mallory, "a", "e1", at, wall),
            Err(Refusal::SessionTaken)
        );
        assert_eq!(state.owner("a"), Some(alice));
    }

    #[tokio::test(start_paused = true)]
    async fn invisible_users_look_offline_and_their_status_outlives_their_sessions() {
        let mut state = holding_all();
        let alice = someone();
        let (at, wall) = now();
        state
            .open_session(alice, "phone", "e1", at, wall)
            .expect("a free session id");
        assert_eq!(
            statuses(&state.choose(alice, Status::Away, at, wall)),
            [Status::Away]
        );
        assert_eq!(
            statuses(&state.choose(alice, Status::Invisible, at, wall)),
            [Status::Offline]
        );
        assert!(state.close_session("phone", at, wall).is_empty());
        advance(Duration::from_secs(10)).await;
        let (at, wall) = now();
        assert!(state.tick(at, wall).is_empty(), "already shown offline");
        assert!(
            state
                .open_session(alice, "phone", "e1", at, wall)
                .expect("a free session id")
                .is_empty(),
            "still invisible"
        );
        assert_eq!(
            statuses(&state.choose(alice, Status::Online, at, wall)),
            [Status::Online]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn last_seen_changes_wait_for_the_flush_and_heartbeats_add_none() {
        let mut state = holding_all();
        let alice = someone();
        let (at, wall) = now();
        state
            .open_session(alice, "phone", "e1", at, wall)
            .expect("a free session id");
        assert_eq!(state.take_unsaved().len(), 1, "coming online is a change");
        for _ in 0..100 {
            advance(Duration::from_secs(1)).await;
            let (at, wall) = now();
            state.heartbeat("phone", at, wall).expect("held");
        }
        assert!(
            state.take_unsaved().is_empty(),
            "heartbeats change nothing to store"
        );
        let (_, wall) = now();
        state.seen_until(wall);
        assert_eq!(
            state.take_unsaved(),
            vec![(alice, wall)],
            "at shutdown, online means seen now"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_offline_user_is_forgotten_only_once_their_last_seen_is_written() {
        let mut state = holding_all();
        let alice = someone();
        let (at, wall) = now();
        state
            .open_session(alice, "phone", "e1", at, wall)
            .expect("a free session id");
        state.close_session("phone", at, wall);
        advance(Duration::from_secs(5)).await;
        let (at, wall) = now();
        assert_eq!(statuses(&state.tick(at, wall)), [Status::Offline]);
        state.forget_idle();
        assert!(state.knows(alice), "last seen not written yet");
        state.take_unsaved();
        state.forget_idle();
        assert!(!state.knows(alice));
    }

    #[tokio::test(start_paused = true)]
    async fn a_shard_taken_over_announces_no_offline_until_warm() {
        let mut state = PresenceState::new(TIMING);
        let alice = someone();
        let (at, wall) = now();
        assert_eq!(
            state.open_session(alice, "phone", "e1", at, wall),
            Err(Refusal::NotHeld),
            "not held yet"
        );
        state.hold(shard_of(alice), at + Duration::from_secs(15));
        state
            .open_session(alice, "phone", "e1", at, wall)
            .expect("held now");
        // Her laptop, on another edge, is not registered yet; the phone goes.
        assert!(state.close_session("phone", at, wall).is_empty());
        advance(Duration::from_secs(10)).await;
        let (at, later) = now();
        assert!(
            state.tick(at, later).is_empty(),
            "past the grace, still warming"
        );
        advance(Duration::from_secs(5)).await;
        let (at, later) = now();
        let changes = state.tick(at, later);
        assert_eq!(statuses(&changes), [Status::Offline], "warm: she is gone");
        assert_eq!(changes[0].last_seen, wall, "dated when her session went");
    }

    #[tokio::test(start_paused = true)]
    async fn letting_go_of_a_shard_forgets_its_users_silently() {
        let mut state = holding_all();
        let alice = someone();
        let mut bob = someone();
        while shard_of(bob) == shard_of(alice) {
            bob = someone();
        }
        let (at, wall) = now();
        state
            .open_session(alice, "phone", "e1", at, wall)
            .expect("held");
        state
            .open_session(bob, "laptop", "e1", at, wall)
            .expect("held");
        // With other shards let go of at once, bob's not among them.
        let others: Vec<u32> = (0..SHARDS)
            .filter(|shard| *shard != shard_of(bob))
            .collect();
        state.let_go(&others);
        assert!(!state.knows(alice));
        assert_eq!(state.owner("phone"), None);
        assert_eq!(
            state.owner("laptop"),
            Some(bob),
            "bob's shard is still held"
        );
        assert_eq!(
            state.take_unsaved().len(),
            1,
            "the new holder writes her last seen; bob's stays to write"
        );
        state.let_go(&[shard_of(bob)]);
        advance(Duration::from_secs(200)).await;
        let (at, wall) = now();
        assert!(state.tick(at, wall).is_empty(), "nothing announced");
        assert!(!state.held_shards().contains(&shard_of(alice)));
    }
}
