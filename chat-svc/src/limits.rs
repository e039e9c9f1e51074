//! In-memory state that must never touch the database: who is in which room (for checks on
//! hot paths), who is typing, and how fast each user sends.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use futures_util::StreamExt;
use parley_common::events::EventLog;
use parley_proto::chat::v1::{self as pb, chat_event::Payload};
use uuid::Uuid;

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Every write is a single insert, update or removal: a poisoned map is still consistent.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Who is in a room, and whether it is a direct room (whose two members never change).
#[derive(Debug)]
pub struct RoomMembers {
    pub members: HashSet<Uuid>,
    pub direct: bool,
}

impl RoomMembers {
    /// In a direct room, the member who is not `me`.
    pub fn other_than(&self, me: Uuid) -> Option<Uuid> {
        if !self.direct {
            return None;
        }
        self.members.iter().copied().find(|member| *member != me)
    }
}

/// Members of recently used rooms. Filled from the database on a miss and dropped by every
/// membership change: at commit by the replica that made it, and on its event by the others
/// (see [`follow_membership`]).
#[derive(Default)]
pub struct MemberCache {
    rooms: Mutex<HashMap<Uuid, Arc<RoomMembers>>>,
    /// Counts changes: a list read from the database before a change must not be cached
    /// after it.
    changes: Mutex<u64>,
}

/// Rooms whose members are kept; past it the cache starts over.
const CACHED_ROOMS: usize = 50_000;

impl MemberCache {
    pub fn get(&self, room: Uuid) -> Option<Arc<RoomMembers>> {
        lock(&self.rooms).get(&room).cloned()
    }

    /// A mark to take before reading members from the database, for [`Self::put`].
    pub fn mark(&self) -> u64 {
        *lock(&self.changes)
    }

    /// Caches members read after `mark`, unless a change came since.
    pub fn put(&self, room: Uuid, members: Arc<RoomMembers>, mark: u64) {
        let changes = lock(&self.changes);
        if *changes != mark {
            return;
        }
        let mut rooms = lock(&self.rooms);
        if rooms.len() >= CACHED_ROOMS {
            rooms.clear();
        }
        rooms.insert(room, members);
    }

    pub fn forget(&self, room: Uuid) {
        let mut changes = lock(&self.changes);
        *changes += 1;
        lock(&self.rooms).remove(&room);
    }

    fn forget_all(&self) {
        let mut changes = lock(&self.changes);
        *changes += 1;
        lock(&self.rooms).clear();
    }
}

/// Drops the cached members of every room whose membership another replica changed, as its
/// event arrives; runs until aborted. After missing events (the stream broke) every room is
/// dropped.
pub async fn follow_membership(log: Arc<EventLog<pb::ChatEvent>>, members: Arc<MemberCache>) {
    loop {
        let mut events = log.subscribe(None);
        members.forget_all();
        while let Some(Ok(event)) = events.next().await {
            if let Some(Payload::MembershipChanged(changed)) = event.payload
                && let Ok(room) = changed.room_id.parse()
            {
                members.forget(room);
            }
        }
        // Cut off for falling behind, or the service is stopping (and aborts this task).
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// The DM room of each recently active pair (smaller id first). A pair's DM room never
/// changes once made, so an entry never goes stale; past the bound the map starts over.
#[derive(Default)]
pub struct DirectRooms {
    rooms: Mutex<HashMap<(Uuid, Uuid), Uuid>>,
}

impl DirectRooms {
    pub fn get(&self, pair: (Uuid, Uuid)) -> Option<Uuid> {
        lock(&self.rooms).get(&pair).copied()
    }

    pub fn insert(&self, pair: (Uuid, Uuid), room: Uuid) {
        let mut rooms = lock(&self.rooms);
        if rooms.len() >= CACHED_ROOMS && !rooms.contains_key(&pair) {
            rooms.clear();
        }
        rooms.insert(pair, room);
    }
}

/// A per-user token bucket: `per_minute` sends a minute, in bursts of at most as many.
pub struct RateLimiter {
    per_minute: u32,
    buckets: Mutex<HashMap<Uuid, (f64, Instant)>>,
}

/// Users tracked at once; full buckets are dropped past it.
const TRACKED_USERS: usize = 100_000;

impl RateLimiter {
    /// `per_minute` 0 turns the limit off.
    pub fn new(per_minute: u32) -> Self {
        Self {
            per_minute,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one send from `user`'s allowance, or says in how many ms one is available.
    pub fn check(&self, user: Uuid) -> Result<(), u64> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let capacity = f64::from(self.per_minute);
        let per_ms = capacity / 60_000.0;
        let now = Instant::now();
        let mut buckets = lock(&self.buckets);
        if buckets.len() >= TRACKED_USERS {
            buckets.retain(|_, (tokens, at)| {
                *tokens + at.elapsed().as_millis() as f64 * per_ms < capacity
            });
        }
        let (tokens, at) = buckets.entry(user).or_insert((capacity, now));
        *tokens = (*tokens + now.duration_since(*at).as_millis() as f64 * per_ms).min(capacity);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - *tokens) / per_ms).ceil() as u64)
        }
    }
}

/// Who is typing where: a `true` without a refresh expires after [`TYPING_EXPIRY`].
#[derive(Default)]
pub struct Typing {
    /// The latest `true` of each (room, user), by counter, so that an expiry timer knows
    /// whether a newer `true` or a `false` came since it was set.
    latest: Mutex<HashMap<(Uuid, Uuid), u64>>,
    counter: Mutex<u64>,
}

/// How long `isTyping: true` lasts without a refresh.
pub const TYPING_EXPIRY: Duration = Duration::from_secs(6);

impl Typing {
    /// Records a `true`; returns the mark its expiry timer checks, and whether the user
    /// was typing already (then nothing is announced: the expiry only moves on).
    pub fn started(&self, room: Uuid, user: Uuid) -> (u64, bool) {
        let mark = {
            let mut counter = lock(&self.counter);
            *counter += 1;
            *counter
        };
        let was_typing = lock(&self.latest).insert((room, user), mark).is_some();
        (mark, was_typing)
    }

    /// Records a `false`; whether the user was typing.
    pub fn stopped(&self, room: Uuid, user: Uuid) -> bool {
        lock(&self.latest).remove(&(room, user)).is_some()
    }

    /// After [`TYPING_EXPIRY`], ends the `true` marked `mark` unless a newer `true` or a
    /// `false` came since, and then runs `on_expiry` (to announce the `false`).
    pub fn expire_later(
        self: &Arc<Self>,
        room: Uuid,
        user: Uuid,
        mark: u64,
        on_expiry: impl FnOnce() + Send + 'static,
    ) {
        let typing = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(TYPING_EXPIRY).await;
            if typing.expire(room, user, mark) {
                on_expiry();
            }
        });
    }

    /// Ends the `true` marked `mark` if nothing newer came since; whether it did.
    pub fn expire(&self, room: Uuid, user: Uuid, mark: u64) -> bool {
        let mut latest = lock(&self.latest);
        if latest.get(&(room, user)) == Some(&mark) {
            latest.remove(&(room, user));
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_refuses_the_sixty_first_send_of_a_minute_with_a_wait() {
        let limiter = RateLimiter::new(60);
        let user = Uuid::new_v4();
        for _ in 0..60 {
            assert!(limiter.check(user).is_ok());
        }
        let wait = limiter.check(user).expect_err("limited");
        assert!((1..=1000).contains(&wait), "{wait}");
        assert!(limiter.check(Uuid::new_v4()).is_ok(), "per user");
        assert!(RateLimiter::new(0).check(user).is_ok(), "0 disables");
    }

    #[tokio::test(start_paused = true)]
    async fn an_unrefreshed_true_expires_after_six_seconds_and_a_refresh_delays_it() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let typing = Arc::new(Typing::default());
        let expired = Arc::new(AtomicUsize::new(0));
        let (room, user) = (Uuid::new_v4(), Uuid::new_v4());
        let start = |typing: &Arc<Typing>| {
            let (mark, _) = typing.started(room, user);
            let expired = expired.clone();
            typing.expire_later(room, user, mark, move || {
                expired.fetch_add(1, Ordering::SeqCst);
            });
        };
        start(&typing);
        tokio::time::sleep(Duration::from_secs(4)).await;
        start(&typing); // refreshed at 4 s: ends at 10 s, not 6 s
        tokio::time::sleep(Duration::from_millis(2500)).await;
        assert_eq!(
            expired.load(Ordering::SeqCst),
            0,
            "6.5 s: refreshed, still typing"
        );
        tokio::time::sleep(Duration::from_secs(4)).await;
        assert_eq!(expired.load(Ordering::SeqCst), 1, "10.5 s: one false, once");
        assert!(!typing.stopped(room, user), "nothing left to stop");
    }

    #[test]
    fn only_the_latest_typing_mark_expires() {
        let typing = Typing::default();
        let (room, user) = (Uuid::new_v4(), Uuid::new_v4());
        let (first, was_typing) = typing.started(room, user);
        assert!(!was_typing);
        let (second, was_typing) = typing.started(room, user);
        assert!(was_typing, "a refresh");
        assert!(!typing.expire(room, user, first), "refreshed since");
        assert!(typing.expire(room, user, second));
        assert!(!typing.stopped(room, user), "already expired");
    }
}
