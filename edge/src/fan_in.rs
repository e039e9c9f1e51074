//! Service event streams into Socket.IO emits.
//!
//! The edge holds one long-lived `Subscribe` stream per service and receives each event once,
//! however many recipients it has; it then emits it to the recipients' sockets on this edge
//! through socketioxide rooms. A broken stream is reopened with backoff and jitter, asking
//! the service to replay what was missed since the last event id.

use parley_common::follow::{Followed, follow};
use parley_proto::{
    chat::v1::{self as chat, chat_event::Payload as ChatPayload},
    friends::v1::{self as friends, friends_event::Payload},
    presence::v1 as presence,
};
use serde::Serialize;
use serde_json::json;
use socketioxide::SocketIo;
use tokio::task::JoinHandle;

use crate::{
    backends::Backends,
    handlers::{chat_room, own_socket, user_room},
    wire,
};

/// Starts relaying friends-svc's events to `/friends` sockets; runs until aborted.
pub fn spawn_friends(io: SocketIo, backends: Backends, edge_id: String) -> JoinHandle<()> {
    tokio::spawn(follow(
        "friends",
        move |after_event_id| {
            let mut client = backends.friends.clone();
            let request = friends::SubscribeRequest {
                edge_id: edge_id.clone(),
                after_event_id,
            };
            async move { client.subscribe(request).await }
        },
        |event: &friends::FriendsEvent| event.event_id,
        move |followed| {
            let io = io.clone();
            async move {
                // A gap is the clients' to mend: they `sync` (chat) or list again.
                if let Followed::Event(event) = followed {
                    relay_friends_event(&io, event).await;
                }
            }
        },
    ))
}

/// Starts relaying presence-svc's events to `/status` sockets; runs until aborted.
pub fn spawn_presence(io: SocketIo, backends: Backends, edge_id: String) -> JoinHandle<()> {
    tokio::spawn(follow(
        "presence",
        move |after_event_id| {
            let mut client = backends.presence.clone();
            let request = presence::SubscribeRequest {
                edge_id: edge_id.clone(),
                after_event_id,
            };
            async move { client.subscribe(request).await }
        },
        |event: &presence::PresenceEvent| event.event_id,
        move |followed| {
            let io = io.clone();
            async move {
                // A gap is the clients' to mend: they `sync` (chat) or list again.
                if let Followed::Event(event) = followed {
                    relay_presence_event(&io, event).await;
                }
            }
        },
    ))
}

/// Starts relaying chat-svc's events to `/chat` sockets; runs until aborted.
pub fn spawn_chat(io: SocketIo, backends: Backends, edge_id: String) -> JoinHandle<()> {
    tokio::spawn(follow(
        "chat",
        move |after_event_id| {
            let mut client = backends.chat.clone();
            let request = chat::SubscribeRequest {
                edge_id: edge_id.clone(),
                after_event_id,
            };
            async move { client.subscribe(request).await }
        },
        |event: &chat::ChatEvent| event.event_id,
        {
            // The first subscription reports a gap too; sockets that connected before it
            // listed their rooms themselves, so only later gaps need mending.
            let mut first_gap = true;
            move |followed| {
                let io = io.clone();
                let initial = matches!(followed, Followed::Gap) && std::mem::take(&mut first_gap);
                async move {
                    match followed {
                        Followed::Event(event) => relay_chat_event(&io, event).await,
                        Followed::Gap if initial => {}
                        // Missed membership changes would leave sockets in the wrong rooms, and
                        // missed messages unseen: every client reconnects (by itself), joins
                        // its rooms afresh and catches up with `sync`.
                        Followed::Gap => crate::resync::everyone(&io).await,
                    }
                }
            }
        },
    ))
}

async fn relay_friends_event(io: &SocketIo, event: friends::FriendsEvent) {
    let recipients = event.recipient_user_ids;
    match event.payload {
        Some(Payload::FriendRequestReceived(received)) => {
            let request = received.request.map(wire::FriendRequest::from);
            emit(
                io,
                "/friends",
                &recipients,
                "friend-request-received",
                &json!({ "request": request }),
            )
            .await;
        }
        Some(Payload::FriendRequestAccepted(accepted)) => {
            // Each side is told about the other person.
            let since = wire::time(accepted.since.as_ref());
            let requester = wire::user(accepted.requester);
            let accepter = wire::user(accepted.accepter);
            for (recipient, friend) in [(&requester, &accepter), (&accepter, &requester)] {
                let payload = json!({
                    "requestId": accepted.request_id,
                    "friend": { "user": friend, "since": since },
                });
                emit(
                    io,
                    "/friends",
                    std::slice::from_ref(&recipient.id),
                    "friend-request-accepted",
                    &payload,
                )
                .await;
            }
        }
        Some(Payload::FriendRequestCancelled(cancelled)) => {
            let payload = json!({ "requestId": cancelled.request_id });
            emit(
                io,
                "/friends",
                &recipients,
                "friend-request-cancelled",
                &payload,
            )
            .await;
        }
        Some(Payload::FriendRemoved(removed)) => {
            let payload = json!({ "userId": removed.user_id });
            emit(io, "/friends", &recipients, "friend-removed", &payload).await;
        }
        None => tracing::warn!(event_id = event.event_id, "friends event without payload"),
    }
}

async fn relay_presence_event(io: &SocketIo, event: presence::PresenceEvent) {
    match event.payload {
        Some(presence::presence_event::Payload::FriendStatusChanged(changed)) => {
            let payload = wire::FriendStatusChanged::from(changed);
            emit(
                io,
                "/status",
                &event.recipient_user_ids,
                "friend-status-changed",
                &payload,
            )
            .await;
        }
        None => tracing::warn!(event_id = event.event_id, "presence event without payload"),
    }
}

async fn relay_chat_event(io: &SocketIo, event: chat::ChatEvent) {
    let users: Vec<String> = event.user_ids.iter().map(|user| user_room(user)).collect();
    let room: Vec<String> = event.room_id.iter().map(|room| chat_room(room)).collect();
    match event.payload {
        Some(ChatPayload::MembershipChanged(changed)) => {
            let Some(namespace) = io.of("/chat") else {
                return;
            };
            let target = chat_room(&changed.room_id);
            for user in &changed.added_user_ids {
                if let Err(error) = namespace
                    .clone()
                    .to(user_room(user))
                    .join(target.clone())
                    .await
                {
                    tracing::warn!(%error, "cannot put a member's sockets in their room");
                }
            }
            for user in &changed.removed_user_ids {
                if let Err(error) = namespace
                    .clone()
                    .to(user_room(user))
                    .leave(target.clone())
                    .await
                {
                    tracing::warn!(%error, "cannot take a former member's sockets out of a room");
                }
            }
        }
        Some(ChatPayload::RoomCreated(created)) => {
            let payload = json!({ "room": created.room.map(wire::Room::from) });
            emit_to(io, "/chat", users, "room-created", &payload).await;
        }
        Some(ChatPayload::UserJoined(joined)) => {
            let payload =
                json!({ "roomId": joined.room_id, "user": joined.user.map(wire::User::from) });
            emit_to(io, "/chat", [room, users].concat(), "user-joined", &payload).await;
        }
        Some(ChatPayload::UserLeft(left)) => {
            let payload = json!({ "roomId": left.room_id, "userId": left.user_id });
            emit_to(io, "/chat", [room, users].concat(), "user-left", &payload).await;
        }
        Some(ChatPayload::NewMessage(new)) => {
            if let Some(message) = new.message {
                emit_to(
                    io,
                    "/chat",
                    room,
                    "new-message",
                    &wire::Message::from(message),
                )
                .await;
            }
        }
        Some(ChatPayload::NewPrivateMessage(new)) => {
            let (Some(message), Some(namespace)) = (new.message, io.of("/chat")) else {
                return;
            };
            // The receiver's sockets and the sender's other sockets.
            let mut operators = namespace.to(users);
            if let Some(origin) = &event.origin_socket_id {
                operators = operators.except(own_socket(origin));
            }
            crate::slow_sockets::emit(
                operators,
                "new-private-message",
                &wire::Message::from(message),
            )
            .await;
        }
        Some(ChatPayload::MessageUpdated(updated)) => {
            let payload = json!({ "message": updated.message.map(wire::Message::from) });
            emit_to(io, "/chat", room, "message-updated", &payload).await;
        }
        Some(ChatPayload::MessageDeleted(deleted)) => {
            let payload = json!({ "roomId": deleted.room_id, "messageId": deleted.message_id });
            emit_to(io, "/chat", room, "message-deleted", &payload).await;
        }
        Some(ChatPayload::MessagesRead(read)) => {
            let payload = json!({
                "roomId": read.room_id,
                "userId": read.user_id,
                "messageId": read.message_id,
                "readAt": wire::time(read.read_at.as_ref()),
            });
            emit_to(io, "/chat", room, "messages-read", &payload).await;
        }
        Some(ChatPayload::UserTyping(typing)) => {
            let Some(namespace) = io.of("/chat") else {
                return;
            };
            if room.is_empty() {
                return;
            }
            let payload = json!({
                "roomId": typing.room_id,
                "userId": typing.user_id,
                "username": typing.username,
                "isTyping": typing.is_typing,
            });
            // To the other members: every socket of the typist is skipped.
            let excluded: Vec<String> = event
                .exclude_user_ids
                .iter()
                .map(|user| user_room(user))
                .collect();
            crate::slow_sockets::emit(namespace.to(room).except(excluded), "user-typing", &payload)
                .await;
        }
        None => tracing::warn!(event_id = event.event_id, "chat event without payload"),
    }
}

/// Emits one event to every socket of `users` in `namespace`, serialized once.
async fn emit<T: Serialize>(
    io: &SocketIo,
    namespace: &str,
    users: &[String],
    event: &str,
    payload: &T,
) {
    let rooms: Vec<String> = users.iter().map(|user| user_room(user)).collect();
    emit_to(io, namespace, rooms, event, payload).await;
}

/// Emits one event to every socket in any of `rooms` of `namespace` (once per socket),
/// serialized once.
async fn emit_to<T: Serialize>(
    io: &SocketIo,
    namespace: &str,
    rooms: Vec<String>,
    event: &str,
    payload: &T,
) {
    let Some(namespace) = io.of(namespace) else {
        return;
    };
    if rooms.is_empty() {
        return;
    }
    crate::metrics::fanned_out(event, rooms.len());
    crate::slow_sockets::emit(namespace.to(rooms), event, payload).await;
}
