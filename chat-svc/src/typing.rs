//! Who is typing where: expiring in-memory state, never stored.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use parley_common::lock::lock;

use crate::domain::{RoomId, UserId};

/// Who is typing where: a `true` without a refresh expires after [`TYPING_EXPIRY`].
#[derive(Default)]
pub struct Typing {
    /// The latest `true` of each (room, user), by counter, so that an expiry timer knows
    /// whether a newer `true` or a `false` came since it was set.
    latest: Mutex<HashMap<(RoomId, UserId), u64>>,
    counter: Mutex<u64>,
}

/// How long `isTyping: true` lasts without a refresh.
pub const TYPING_EXPIRY: Duration = Duration::from_secs(6);

impl Typing {
    /// Records a `true`; returns the mark its expiry timer checks, and whether the user
    /// was typing already (then nothing is announced: the expiry only moves on).
    pub fn started(&self, room: RoomId, user: UserId) -> (u64, bool) {
        let mark = {
            let mut counter = lock(&self.counter);
            *counter += 1;
            *counter
        };
        let was_typing = lock(&self.latest).insert((room, user), mark).is_some();
        (mark, was_typing)
    }

    /// Records a `false`; whether the user was typing.
    pub fn stopped(&self, room: RoomId, user: UserId) -> bool {
        lock(&self.latest).remove(&(room, user)).is_some()
    }

    /// After [`TYPING_EXPIRY`], ends the `true` marked `mark` unless a newer `true` or a
    /// `false` came since, and then runs `on_expiry` (to announce the `false`).
    pub fn expire_later(
        self: &Arc<Self>,
        room: RoomId,
        user: UserId,
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
    pub fn expire(&self, room: RoomId, user: UserId, mark: u64) -> bool {
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
    use uuid::Uuid;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn an_unrefreshed_true_expires_after_six_seconds_and_a_refresh_delays_it() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let typing = Arc::new(Typing::default());
        let expired = Arc::new(AtomicUsize::new(0));
        let (room, user) = (RoomId(Uuid::new_v4()), UserId(Uuid::new_v4()));
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
        let (room, user) = (RoomId(Uuid::new_v4()), UserId(Uuid::new_v4()));
        let (first, was_typing) = typing.started(room, user);
        assert!(!was_typing);
        let (second, was_typing) = typing.started(room, user);
        assert!(was_typing, "a refresh");
        assert!(!typing.expire(room, user, first), "refreshed since");
        assert!(typing.expire(room, user, second));
        assert!(!typing.stopped(room, user), "already expired");
    }
}
