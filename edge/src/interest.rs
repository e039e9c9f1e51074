//! Which chat rooms and users this edge follows the events of: those of its own `/chat`
//! sockets. chat-svc's `SubscribeByInterest` stream sends only their events, so an edge
//! takes in what its clients receive, not every event of the system.
//!
//! Interest is added before it is needed and waited for: a connecting socket's user before
//! its rooms are listed (so that no membership change falls between the two), its rooms
//! before it joins them. A room that a membership change brings a local user into is added
//! by chat-svc itself, in stream order. Interest is dropped lazily: every
//! [`RECONCILE_EVERY`], rooms and users that no local socket has been in for
//! [`LINGER`] are removed, naming the last event seen, so that chat-svc keeps a room that a
//! membership change added after it. A new stream (another replica, a restart) starts with
//! the whole interest.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use futures_util::{Stream, StreamExt};
use parley_proto::chat::v1::InterestRequest;
use socketioxide::SocketIo;
use tokio::sync::{mpsc, watch};

use crate::{rooms, server_events::chat::NAMESPACE};

/// How long an added interest waits for chat-svc's mark before going on (the stream is
/// down: its next subscription carries the interest and replays what was missed).
const APPLIED_WAIT: Duration = Duration::from_secs(2);

/// How long a room or user stays of interest after its last local socket left.
pub const LINGER: Duration = Duration::from_secs(30);

/// How often unused interest is dropped.
pub const RECONCILE_EVERY: Duration = Duration::from_secs(30);

/// This edge's chat interest. Cloning is cheap: clones share it.
#[derive(Clone)]
pub struct ChatInterest(Arc<Shared>);

struct Shared {
    /// How long a room or user stays of interest after its last local socket left.
    linger: Duration,
    state: Mutex<State>,
    /// The newest change chat-svc has said holds.
    applied: watch::Sender<u64>,
    /// The id of the last chat event relayed.
    seen: AtomicU64,
}

#[derive(Default)]
struct State {
    rooms: HashMap<String, Entry>,
    users: HashMap<String, Entry>,
    last_change: u64,
    /// Where changes go: the request stream of the current subscription.
    changes: Option<mpsc::UnboundedSender<InterestRequest>>,
}

struct Entry {
    /// When a socket last needed it.
    wanted_at: Instant,
    /// The change that added it; 0 when chat-svc added it.
    change: u64,
}

/// Kind of ids an [`ChatInterest::add`] names.
#[derive(Clone, Copy)]
pub enum Kind {
    Rooms,
    Users,
}

impl std::fmt::Debug for ChatInterest {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.lock();
        formatter
            .debug_struct("ChatInterest")
            .field("rooms", &state.rooms.len())
            .field("users", &state.users.len())
            .finish()
    }
}

impl Default for ChatInterest {
    fn default() -> Self {
        Self::lingering(LINGER)
    }
}

impl ChatInterest {
    /// An interest whose unused rooms and users stay for `linger`.
    fn lingering(linger: Duration) -> Self {
        Self(Arc::new(Shared {
            linger,
            state: Mutex::default(),
            applied: watch::Sender::default(),
            seen: AtomicU64::default(),
        }))
    }

    /// Adds `ids` (rooms or users) and waits until chat-svc sends their events, or for
    /// [`APPLIED_WAIT`] when the stream is down.
    pub async fn add(&self, kind: Kind, ids: impl IntoIterator<Item = String>) {
        let wait_for = {
            let mut state = self.lock();
            let change = state.last_change + 1;
            let mut added = Vec::new();
            let mut wait_for = 0;
            let now = Instant::now();
            for id in ids {
                match state.want(kind, &id, now, change) {
                    Wanted::Already { since } => wait_for = wait_for.max(since),
                    Wanted::New => added.push(id),
                }
            }
            if !added.is_empty() {
                state.last_change = change;
                wait_for = change;
                let mut request = InterestRequest {
                    change_id: change,
                    // Lets chat-svc forget what it kept for removals chosen before this.
                    seen_event_id: self.0.seen.load(Ordering::Relaxed),
                    ..Default::default()
                };
                match kind {
                    Kind::Rooms => request.add_room_ids = added,
                    Kind::Users => request.add_user_ids = added,
                }
                state.send(request);
            }
            wait_for
        };
        let mut applied = self.0.applied.subscribe();
        let held = tokio::time::timeout(APPLIED_WAIT, applied.wait_for(|at| *at >= wait_for));
        if held.await.is_err() {
            tracing::warn!("chat-svc did not confirm the chat interest in time");
        }
    }

    /// Notes a room that chat-svc added itself, for a local user who became a member.
    pub fn note_room(&self, room_id: &str) {
        self.lock().want(Kind::Rooms, room_id, Instant::now(), 0);
    }

    /// The request stream of a new subscription after `after_event_id`: its first request
    /// names the subscriber and the whole interest, the later ones are the changes made
    /// while it lasts.
    pub fn open(
        &self,
        edge_id: String,
        after_event_id: Option<u64>,
    ) -> impl Stream<Item = InterestRequest> + Send + 'static {
        let (sender, receiver) = mpsc::unbounded_channel();
        let first = {
            let mut state = self.lock();
            state.last_change += 1;
            state.changes = Some(sender);
            InterestRequest {
                edge_id,
                after_event_id,
                change_id: state.last_change,
                add_room_ids: state.rooms.keys().cloned().collect(),
                add_user_ids: state.users.keys().cloned().collect(),
                ..Default::default()
            }
        };
        let changes = futures_util::stream::unfold(receiver, |mut receiver| async move {
            let change = receiver.recv().await?;
            Some((change, receiver))
        });
        futures_util::stream::once(async move { first }).chain(changes)
    }

    /// chat-svc's mark for `change_id`: the change holds.
    pub fn applied(&self, change_id: u64) {
        self.0.applied.send_if_modified(|at| {
            let newer = change_id > *at;
            if newer {
                *at = change_id;
            }
            newer
        });
    }

    /// A chat event (or mark) was relayed.
    pub fn saw(&self, event_id: u64) {
        self.0.seen.store(event_id, Ordering::Relaxed);
    }

    /// Drops the rooms and users that no socket of `io`'s `/chat` has been in for
    /// [`LINGER`] (unless made [`Self::lingering`] otherwise), and adds those of sockets
    /// that are missing.
    pub async fn reconcile(&self, io: &SocketIo) {
        let Some(namespace) = io.of(NAMESPACE) else {
            return;
        };
        let present = match namespace.rooms().await {
            Ok(present) => present,
            Err(error) => {
                tracing::warn!(%error, "cannot list the chat rooms of this edge's sockets");
                return;
            }
        };
        let now = Instant::now();
        let mut state = self.lock();
        let change = state.last_change + 1;
        // Rooms and users of sockets that are not of interest (none should be) are added.
        let (mut add_room_ids, mut add_user_ids) = (Vec::new(), Vec::new());
        for room in &present {
            let (kind, id, added) = match (rooms::chat_room_id(room), rooms::user_of_room(room)) {
                (Some(id), _) => (Kind::Rooms, id, &mut add_room_ids),
                (_, Some(id)) => (Kind::Users, id, &mut add_user_ids),
                _ => continue,
            };
            if let Wanted::New = state.want(kind, id, now, change) {
                added.push(id.to_owned());
            }
        }
        let unused = |entries: &mut HashMap<String, Entry>| {
            let gone: Vec<String> = entries
                .iter()
                .filter(|(_, entry)| now.duration_since(entry.wanted_at) >= self.0.linger)
                .map(|(id, _)| id.clone())
                .collect();
            for id in &gone {
                entries.remove(id);
            }
            gone
        };
        let remove_room_ids = unused(&mut state.rooms);
        let remove_user_ids = unused(&mut state.users);
        if [
            &add_room_ids,
            &add_user_ids,
            &remove_room_ids,
            &remove_user_ids,
        ]
        .iter()
        .all(|ids| ids.is_empty())
        {
            return;
        }
        if !add_room_ids.is_empty() || !add_user_ids.is_empty() {
            tracing::debug!(
                rooms = add_room_ids.len(),
                users = add_user_ids.len(),
                "sockets were in rooms not of chat interest"
            );
        }
        state.last_change = change;
        let request = InterestRequest {
            change_id: change,
            add_room_ids,
            add_user_ids,
            remove_room_ids,
            remove_user_ids,
            seen_event_id: self.0.seen.load(Ordering::Relaxed),
            ..Default::default()
        };
        state.send(request);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        parley_common::lock::lock(&self.0.state)
    }
}

/// What [`State::want`] found.
enum Wanted {
    /// Of interest already, since the change `since` (0: chat-svc added it).
    Already { since: u64 },
    /// New: of interest from `change` on, once it is sent.
    New,
}

impl State {
    /// Marks `id` as needed at `now`; a new one is entered as added by `change`.
    fn want(&mut self, kind: Kind, id: &str, now: Instant, change: u64) -> Wanted {
        let entries = match kind {
            Kind::Rooms => &mut self.rooms,
            Kind::Users => &mut self.users,
        };
        if let Some(entry) = entries.get_mut(id) {
            entry.wanted_at = now;
            return Wanted::Already {
                since: entry.change,
            };
        }
        let entry = Entry {
            wanted_at: now,
            change,
        };
        entries.insert(id.to_owned(), entry);
        Wanted::New
    }

    /// Sends a change on the current subscription; with none, the next one carries it.
    fn send(&mut self, request: InterestRequest) {
        if let Some(changes) = &self.changes
            && changes.send(request).is_err()
        {
            self.changes = None;
        }
    }
}

/// Drops unused interest every [`RECONCILE_EVERY`], until aborted.
pub async fn reconcile_forever(interest: ChatInterest, io: SocketIo) {
    let mut tick = tokio::time::interval(RECONCILE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        interest.reconcile(&io).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_new_stream_carries_the_whole_interest_and_later_changes() {
        let interest = ChatInterest::default();
        interest.note_room("r1");
        let mut stream = Box::pin(interest.open("edge".into(), Some(7)));
        let first = stream.next().await.expect("a first request");
        assert_eq!(
            (first.edge_id.as_str(), first.after_event_id),
            ("edge", Some(7))
        );
        assert_eq!(first.add_room_ids, vec!["r1".to_owned()]);
        let waiting = tokio::spawn({
            let interest = interest.clone();
            async move { interest.add(Kind::Users, ["u1".to_owned()]).await }
        });
        let change = tokio::time::timeout(Duration::from_secs(5), stream.next())
            .await
            .expect("sent at once")
            .expect("the change");
        assert_eq!(change.add_user_ids, vec!["u1".to_owned()]);
        assert!(!waiting.is_finished(), "waits for chat-svc's mark");
        interest.applied(change.change_id);
        waiting.await.expect("done once applied");
    }

    #[tokio::test]
    async fn interest_no_socket_needs_is_dropped_once_it_has_lingered() {
        let (_layer, io) = SocketIo::new_layer();
        io.ns(NAMESPACE, |_: socketioxide::extract::SocketRef| async {});
        let interest = ChatInterest::lingering(Duration::from_millis(50));
        let mut stream = Box::pin(interest.open("edge".into(), None));
        stream.next().await.expect("a first request");
        interest.note_room("r1");
        interest.saw(41);
        interest.reconcile(&io).await;
        tokio::time::sleep(Duration::from_millis(60)).await;
        interest.reconcile(&io).await;
        let removal = tokio::time::timeout(Duration::from_secs(5), stream.next())
            .await
            .expect("sent at once")
            .expect("the removal, the first change sent");
        assert_eq!(removal.remove_room_ids, vec!["r1".to_owned()]);
        assert_eq!(removal.seen_event_id, 41, "names the last event seen");
        assert!(removal.add_room_ids.is_empty() && removal.add_user_ids.is_empty());
        let next = Box::pin(interest.open("edge".into(), None)).next().await;
        assert!(
            next.expect("a first request").add_room_ids.is_empty(),
            "gone for good"
        );
    }
}
