//! Who is typing where: expiring in-memory state, never stored, relayed at most once per
//! [`TYPING_WINDOW`] per user and room.
//!
//! A client may toggle typing as fast as it likes (a burst of 500 toggles is one keystroke
//! handler away); each member still hears at most one `user-typing` per window. The first
//! change is announced at once and opens a window; changes within it only update the state,
//! and when it ends the latest state is announced if it differs from the one announced last
//! (opening the next window). So the last state a member hears is always the user's real
//! one, at most one window late. A `true` that is not refreshed ends after
//! [`TYPING_EXPIRY`] with a `false`.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use parley_common::lock::lock;

use crate::{
    domain::{RoomId, UserId},
    events::Announce,
};

/// How long `isTyping: true` lasts without a refresh.
pub const TYPING_EXPIRY: Duration = Duration::from_secs(6);
/// At most one `user-typing` per user and room per window.
pub const TYPING_WINDOW: Duration = Duration::from_secs(1);

/// What an announcement of a user's typing carries besides the state, as of their latest
/// call (which checked their membership and blocks).
#[derive(Debug, Clone)]
pub struct Notice {
    pub username: String,
    /// The typer and the room's members who blocked them.
    pub exclude: Arc<[UserId]>,
}

type Key = (RoomId, UserId);

/// One user's typing in one room.
struct Entry {
    /// The latest state the user sent (or the expiry set).
    typing: bool,
    /// The state the room heard last.
    announced: bool,
    /// A window is open: changes wait for its end.
    holding: bool,
    /// The mark of the latest `true`, which its expiry timer checks.
    mark: u64,
    notice: Notice,
}

/// The typing states; pure, so that the rules are tested without timers.
#[derive(Default)]
struct States {
    entries: HashMap<Key, Entry>,
    /// Numbers every `true`, so that an expiry timer knows whether a newer one came since.
    counter: u64,
}

/// A state to announce now; the announcer then holds a window.
type Announcement = Option<(bool, Notice)>;

impl States {
    /// Records the user's latest state: what to announce now, and the mark of the expiry
    /// timer to start (for a `true`).
    fn set(&mut self, key: Key, typing: bool, notice: Notice) -> (Announcement, Option<u64>) {
        let mark = typing.then(|| {
            self.counter += 1;
            self.counter
        });
        let entry = self.entries.entry(key).or_insert_with(|| Entry {
            typing: false,
            announced: false,
            holding: false,
            mark: 0,
            notice: notice.clone(),
        });
        entry.typing = typing;
        entry.notice = notice;
        if let Some(mark) = mark {
            entry.mark = mark;
        }
        let now = if entry.holding {
            None
        } else {
            Self::announce(entry)
        };
        self.forget_if_idle(key);
        (now, mark)
    }

    /// The window ended: the latest state, if the room has not heard it (then a new window
    /// opens).
    fn window_ended(&mut self, key: Key) -> Announcement {
        let entry = self.entries.get_mut(&key)?;
        entry.holding = false;
        let now = Self::announce(entry);
        self.forget_if_idle(key);
        now
    }

    /// The `true` marked `mark` expired, unless a newer `true` or a `false` came since:
    /// the `false` to announce now, if no window is open (else its end announces it).
    fn expire(&mut self, key: Key, mark: u64) -> Announcement {
        let entry = self.entries.get_mut(&key)?;
        if !(entry.typing && entry.mark == mark) {
            return None;
        }
        entry.typing = false;
        let now = if entry.holding {
            None
        } else {
            Self::announce(entry)
        };
        self.forget_if_idle(key);
        now
    }

    /// The entry's state, if the room has not heard it; announcing opens a window.
    fn announce(entry: &mut Entry) -> Announcement {
        if entry.typing == entry.announced {
            return None;
        }
        entry.announced = entry.typing;
        entry.holding = true;
        Some((entry.typing, entry.notice.clone()))
    }

    /// Drops an entry with nothing left to do, so the map holds only live typists.
    fn forget_if_idle(&mut self, key: Key) {
        if self
            .entries
            .get(&key)
            .is_some_and(|entry| !entry.typing && !entry.announced && !entry.holding)
        {
            self.entries.remove(&key);
        }
    }
}

/// Typing states and the timers that end windows and expire `true`s, announcing through `A`.
pub struct Typing<A> {
    states: Mutex<States>,
    events: Arc<A>,
}

impl<A: Announce + Send + Sync + 'static> Typing<A> {
    pub fn new(events: Arc<A>) -> Arc<Self> {
        Arc::new(Self {
            states: Mutex::new(States::default()),
            events,
        })
    }

    /// Records that `user` is (or stopped) typing in `room`, announcing it now or at the end
    /// of the open window; a `true` expires after [`TYPING_EXPIRY`] unless refreshed.
    pub fn set(self: &Arc<Self>, room: RoomId, user: UserId, typing: bool, notice: Notice) {
        let key = (room, user);
        // Plain updates of a map: a poisoned lock still holds consistent entries.
        let (now, expiry) = lock(&self.states).set(key, typing, notice);
        if let Some(mark) = expiry {
            let this = self.clone();
            tokio::spawn(async move {
                tokio::time::sleep(TYPING_EXPIRY).await;
                let now = lock(&this.states).expire(key, mark);
                if let Some(announcement) = now {
                    this.announce(key, announcement);
                }
            });
        }
        if let Some(announcement) = now {
            self.announce(key, announcement);
        }
    }

    /// Announces a state, then holds the window: at each end, the latest state if it changed.
    fn announce(self: &Arc<Self>, key: Key, (typing, notice): (bool, Notice)) {
        self.publish(key, typing, &notice);
        let this = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(TYPING_WINDOW).await;
                let next = lock(&this.states).window_ended(key);
                match next {
                    Some((typing, notice)) => this.publish(key, typing, &notice),
                    None => return,
                }
            }
        });
    }

    fn publish(&self, (room, user): Key, typing: bool, notice: &Notice) {
        self.events
            .typing(room, user, &notice.username, typing, &notice.exclude);
    }
}

#[cfg(test)]
mod tests {
    use parley_proto::chat::v1::{self as pb, chat_event::Payload};
    use uuid::Uuid;

    use super::*;

    /// The `is_typing` of every `user-typing` announced, in order.
    #[derive(Default)]
    struct Heard(Mutex<Vec<bool>>);

    impl Announce for Heard {
        fn push(&self, event: pb::ChatEvent) {
            if let Some(Payload::UserTyping(typing)) = event.payload {
                lock(&self.0).push(typing.is_typing);
            }
        }
    }

    impl Heard {
        fn all(&self) -> Vec<bool> {
            lock(&self.0).clone()
        }
    }

    fn setup() -> (Arc<Typing<Heard>>, Arc<Heard>, RoomId, UserId, Notice) {
        let heard = Arc::new(Heard::default());
        let user = UserId(Uuid::new_v4());
        let notice = Notice {
            username: "alice".to_owned(),
            exclude: Arc::from([user]),
        };
        (
            Typing::new(heard.clone()),
            heard,
            RoomId(Uuid::new_v4()),
            user,
            notice,
        )
    }

    #[tokio::test(start_paused = true)]
    async fn an_unrefreshed_true_expires_after_six_seconds_and_a_refresh_delays_it() {
        let (typing, heard, room, user, notice) = setup();
        typing.set(room, user, true, notice.clone());
        tokio::time::sleep(Duration::from_secs(4)).await;
        typing.set(room, user, true, notice.clone()); // refreshed at 4 s: ends at 10 s
        tokio::time::sleep(Duration::from_millis(2500)).await;
        assert_eq!(heard.all(), vec![true], "6.5 s: refreshed, still typing");
        tokio::time::sleep(Duration::from_secs(4)).await;
        assert_eq!(heard.all(), vec![true, false], "10.5 s: one false, once");
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert_eq!(heard.all(), vec![true, false], "nothing more");
        assert!(
            lock(&typing.states).entries.is_empty(),
            "nothing left in memory"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_of_toggles_is_heard_once_a_window_and_ends_on_the_last_state() {
        let (typing, heard, room, user, notice) = setup();
        for n in 0..500 {
            typing.set(room, user, n % 2 == 0, notice.clone());
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        // The burst took 1 s; the last toggle (n = 499) was a false.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let all = heard.all();
        assert!(all.len() <= 3, "at most one per window: {all:?}");
        assert_eq!(all.last(), Some(&false), "the final state: {all:?}");
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert_eq!(heard.all(), all, "and no expiry after a false");
    }

    #[tokio::test(start_paused = true)]
    async fn a_true_that_ends_inside_a_window_is_heard_as_false_at_its_end() {
        let (typing, heard, room, user, notice) = setup();
        typing.set(room, user, true, notice.clone());
        typing.set(room, user, false, notice.clone());
        typing.set(room, user, true, notice.clone());
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(
            heard.all(),
            vec![true],
            "true, then true again: no change to tell"
        );
        typing.set(room, user, false, notice.clone());
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(heard.all(), vec![true, false], "outside a window: at once");
    }
}
