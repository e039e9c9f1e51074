//! Relaying service events to sockets.
//!
//! The edge holds one long-lived `Subscribe` stream per service and receives each event once,
//! however many recipients it has; it then emits it to the recipients' sockets on this edge
//! through socketioxide rooms (`crate::rooms`). A broken stream is reopened with backoff and
//! jitter, asking the service to replay what was missed since the last event id. Each
//! service's events are turned into client events in its own module.

mod calls;
pub(crate) mod chat;
pub(crate) mod friends;
mod presence;

use std::{
    collections::BTreeMap,
    future::Future,
    sync::{Arc, Mutex, PoisonError},
};

use parley_common::follow::{After, Followed, follow};
use parley_proto::{
    calls::v1::CallEvent, chat::v1::ChatEvent, friends::v1::FriendsEvent,
    presence::v1::PresenceEvent,
};
use serde::Serialize;
use socketioxide::SocketIo;
use tokio::task::JoinHandle;

use crate::{backends::Backends, rooms::user_room, server_events::ServerEvent};

/// The event stream of one service, as the edge follows and relays it.
trait ServiceEvent: prost::Message + Sized + Send + 'static {
    /// The service's name, in logs.
    const SERVICE: &'static str;
    /// Whether a gap in the stream (events the service no longer has) makes every client
    /// reconnect and catch up; otherwise a gap is the clients' to mend, by listing again.
    const GAP_RESYNCS_EVERYONE: bool;

    fn event_id(&self) -> u64;

    /// The id the stream sent before this event, on streams that name it (see `follow`).
    fn previous_event_id(&self) -> Option<u64> {
        None
    }

    /// Opens the stream of events after `after` for edge `edge_id`.
    fn subscribe(
        backends: Backends,
        edge_id: String,
        after: After,
    ) -> impl Future<Output = Result<tonic::Response<tonic::Streaming<Self>>, tonic::Status>> + Send;

    /// Emits the event to its recipients' sockets on this edge.
    fn relay(self, io: &SocketIo, backends: &Backends) -> impl Future<Output = ()> + Send;

    /// What a gap after the first subscription does: by default every client reconnects
    /// when [`Self::GAP_RESYNCS_EVERYONE`], and nothing happens otherwise.
    fn mend_gap(io: &SocketIo) -> impl Future<Output = ()> + Send {
        async move {
            if Self::GAP_RESYNCS_EVERYONE {
                crate::resync::everyone(io);
            }
        }
    }
}

/// The parts of a [`ServiceEvent`] impl that differ between services only in their types:
/// the event id, and the `Subscribe` call of the service's client in `Backends`.
macro_rules! subscription {
    ($client:ident, $request:ident) => {
        fn event_id(&self) -> u64 {
            self.event_id
        }

        async fn subscribe(
            mut backends: crate::backends::Backends,
            edge_id: String,
            after: parley_common::follow::After,
        ) -> Result<tonic::Response<tonic::Streaming<Self>>, tonic::Status> {
            let request = $request {
                edge_id,
                after_event_id: after.event_id,
            };
            backends.$client.subscribe(after.request(request)).await
        }
    };
}
use subscription;

/// Which services' event streams this edge has opened yet. Until it follows every one, an
/// event committed now could miss a socket that connects now (after the socket read its
/// state, before the stream opened), so the edge is not ready (`/readyz`).
#[derive(Clone, Default)]
pub struct Following(Arc<Mutex<BTreeMap<&'static str, bool>>>);

impl Following {
    fn set(&self, service: &'static str, following: bool) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(service, following);
    }

    /// Each service's stream: `FOLLOWING` once it has been opened, `NOT YET` before.
    pub fn states(&self) -> BTreeMap<&'static str, &'static str> {
        let streams = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        streams
            .iter()
            .map(|(service, &following)| {
                (*service, if following { "FOLLOWING" } else { "NOT YET" })
            })
            .collect()
    }

    /// Whether every stream has been opened.
    pub fn all(&self) -> bool {
        let streams = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        streams.values().all(|&following| following)
    }
}

/// Starts relaying every service's events (calls-svc's only when the deployment has one);
/// the tasks run until aborted. `following` learns when each stream first opens.
pub fn spawn_all(
    io: &SocketIo,
    backends: &Backends,
    edge_id: &str,
    following: &Following,
) -> Vec<JoinHandle<()>> {
    let start = |spawn: fn(SocketIo, Backends, String, Following) -> JoinHandle<()>| {
        spawn(
            io.clone(),
            backends.clone(),
            edge_id.to_owned(),
            following.clone(),
        )
    };
    let mut tasks = vec![
        start(spawn::<FriendsEvent>),
        start(spawn::<PresenceEvent>),
        start(spawn::<ChatEvent>),
        tokio::spawn(crate::interest::reconcile_forever(
            backends.chat_interest.clone(),
            io.clone(),
        )),
    ];
    if backends.has_calls() {
        tasks.push(start(spawn::<CallEvent>));
    }
    tasks
}

fn spawn<E: ServiceEvent>(
    io: SocketIo,
    backends: Backends,
    edge_id: String,
    following: Following,
) -> JoinHandle<()> {
    following.set(E::SERVICE, false);
    // The first subscription reports a gap too; sockets that connected before it fetched
    // their state themselves, so only later gaps need mending.
    let mut first_gap = true;
    let intake = crate::metrics::Intake::of(E::SERVICE);
    // One clone for the task; each event takes a reference count, not the clients.
    let relaying = Arc::new(backends.clone());
    tokio::spawn(follow(
        E::SERVICE,
        move |after| E::subscribe(backends.clone(), edge_id.clone(), after),
        E::event_id,
        E::previous_event_id,
        move |followed| {
            let io = io.clone();
            let backends = relaying.clone();
            let initial = matches!(followed, Followed::Gap) && std::mem::take(&mut first_gap);
            if initial {
                following.set(E::SERVICE, true);
            }
            if let Followed::Event(event) = &followed {
                intake.count(event.encoded_len());
            }
            async move {
                match followed {
                    Followed::Event(event) => event.relay(&io, &backends).await,
                    Followed::Gap if initial => {}
                    Followed::Gap => E::mend_gap(&io).await,
                }
            }
        },
    ))
}

/// Emits one event to every socket of `users` in the event's namespace, serialized once.
async fn emit_to_users<T: Serialize>(
    io: &SocketIo,
    users: &[String],
    event: ServerEvent<T>,
    payload: &T,
) {
    let rooms: Vec<String> = users.iter().map(|user| user_room(user)).collect();
    emit_to_rooms(io, rooms, event, payload).await;
}

/// Emits one event to every socket in any of `rooms` of the event's namespace (once per
/// socket), serialized once.
async fn emit_to_rooms<T: Serialize>(
    io: &SocketIo,
    rooms: Vec<String>,
    event: ServerEvent<T>,
    payload: &T,
) {
    emit_to_rooms_except(io, rooms, Vec::new(), event, payload).await;
}

/// [`emit_to_rooms`] but for every socket in any of `except` (rooms too, e.g. the user
/// rooms of those who must not hear it): still one broadcast, serialized once.
async fn emit_to_rooms_except<T: Serialize>(
    io: &SocketIo,
    rooms: Vec<String>,
    except: Vec<String>,
    event: ServerEvent<T>,
    payload: &T,
) {
    // An event of every namespace has none to broadcast in.
    let Some(namespace) = event.namespace().and_then(|namespace| io.of(namespace)) else {
        return;
    };
    if rooms.is_empty() {
        return;
    }
    crate::metrics::fanned_out(event.name(), rooms.len());
    let operators = if except.is_empty() {
        namespace.to(rooms)
    } else {
        namespace.to(rooms).except(except)
    };
    crate::slow_sockets::emit(operators, event, payload).await;
}
