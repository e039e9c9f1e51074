//! chat-svc's events to `/chat` sockets, and the room changes that membership events make.

use parley_common::{follow::After, replicas::ROUTE_KEY};
use parley_proto::chat::v1::{ChatEvent, chat_event::Payload};
use schemars::JsonSchema;
use serde::Serialize;
use socketioxide::SocketIo;
use uuid::Uuid;

use super::{ServiceEvent, emit_to_rooms, emit_to_rooms_except};
use crate::{
    backends::Backends,
    rooms::{chat_room, own_socket, user_room},
    server_events::chat::{
        self, MESSAGE_DELETED, MESSAGE_UPDATED, MESSAGES_READ, NEW_MESSAGE, NEW_PRIVATE_MESSAGE,
        ROOM_CREATED, USER_JOINED, USER_LEFT, USER_TYPING,
    },
    wire::{self, MessageAnswer, RoomAnswer},
};

/// `user-joined`: to the room, and to the user who joined.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserJoined {
    #[schemars(with = "Uuid")]
    room_id: String,
    user: Option<wire::User>,
}

/// `user-left`: to the room, and to the user who left or was removed.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserLeft {
    #[schemars(with = "Uuid")]
    room_id: String,
    #[schemars(with = "Uuid")]
    user_id: String,
}

/// `message-deleted`: to every member (it names no sender).
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageDeleted {
    #[schemars(with = "Uuid")]
    room_id: String,
    #[schemars(with = "Uuid")]
    message_id: String,
}

/// `messages-read`: a member's read pointer moved.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessagesRead {
    #[schemars(with = "Uuid")]
    room_id: String,
    /// The member who read.
    #[schemars(with = "Uuid")]
    user_id: String,
    /// The newest message they read.
    #[schemars(with = "Uuid")]
    message_id: String,
    read_at: Option<String>,
}

/// `user-typing`: to the other members, at most one per typist and room a second.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserTyping {
    #[schemars(with = "Uuid")]
    room_id: String,
    #[schemars(with = "Uuid")]
    user_id: String,
    username: String,
    /// The typist's state: the last `user-typing` heard is always the real one.
    is_typing: bool,
}

impl ServiceEvent for ChatEvent {
    const SERVICE: &'static str = "chat";
    // Missed membership changes would leave sockets in the wrong rooms, and missed messages
    // unseen: every client reconnects (by itself), joins its rooms afresh and catches up with
    // `sync`.
    const GAP_RESYNCS_EVERYONE: bool = true;

    fn event_id(&self) -> u64 {
        self.event_id
    }

    fn previous_event_id(&self) -> Option<u64> {
        self.previous_event_id
    }

    /// `SubscribeByInterest`: only the events of this edge's sockets' rooms and users.
    async fn subscribe(
        mut backends: Backends,
        edge_id: String,
        after: After,
    ) -> Result<tonic::Response<tonic::Streaming<Self>>, tonic::Status> {
        // Edges spread over chat-svc's replicas by their ids instead of all following the
        // first: a replica's death then costs only the edges it served a resubscription.
        let route = tonic::metadata::AsciiMetadataValue::try_from(edge_id.as_str());
        let requests = backends.chat_interest.open(edge_id, after.event_id);
        let mut request = after.request(requests);
        if let Ok(route) = route {
            request.metadata_mut().insert(ROUTE_KEY, route);
        }
        backends.chat.subscribe_by_interest(request).await
    }

    async fn relay(self, io: &SocketIo, backends: &Backends) {
        backends.chat_interest.saw(self.event_id);
        // A mark has no recipients: nothing to gather for it.
        if let Some(Payload::InterestMark(mark)) = &self.payload {
            if let Some(change) = mark.change_id {
                backends.chat_interest.applied(change);
            }
            return;
        }
        let users: Vec<String> = self.user_ids.iter().map(|user| user_room(user)).collect();
        let room: Vec<String> = self.room_id.iter().map(|room| chat_room(room)).collect();
        // Every socket of these users is skipped: the typer of user-typing, and the members
        // who blocked the sender of a live event (docs/API.md).
        let excluded: Vec<String> = self
            .exclude_user_ids
            .iter()
            .map(|user| user_room(user))
            .collect();
        match self.payload {
            Some(Payload::InterestMark(_)) => {}
            Some(Payload::MembershipChanged(changed)) => {
                let Some(namespace) = io.of(chat::NAMESPACE) else {
                    return;
                };
                // chat-svc sends the room's events from here on if a new member is ours.
                if !changed.added_user_ids.is_empty() {
                    backends.chat_interest.note_room(&changed.room_id);
                }
                let target = chat_room(&changed.room_id);
                for user in &changed.added_user_ids {
                    let joined = namespace.clone().to(user_room(user)).join(target.clone());
                    if let Err(error) = joined.await {
                        tracing::warn!(%error, "cannot put a member's sockets in their room");
                    }
                }
                for user in &changed.removed_user_ids {
                    let left = namespace.clone().to(user_room(user)).leave(target.clone());
                    if let Err(error) = left.await {
                        tracing::warn!(%error, "cannot take a former member's sockets out of a room");
                    }
                }
            }
            Some(Payload::RoomCreated(created)) => {
                let payload = RoomAnswer::from(created.room);
                emit_to_rooms(io, users, ROOM_CREATED, &payload).await;
            }
            Some(Payload::UserJoined(joined)) => {
                let payload = UserJoined {
                    room_id: joined.room_id,
                    user: joined.user.map(wire::User::from),
                };
                emit_to_rooms(io, [room, users].concat(), USER_JOINED, &payload).await;
            }
            Some(Payload::UserLeft(left)) => {
                let payload = UserLeft {
                    room_id: left.room_id,
                    user_id: left.user_id,
                };
                emit_to_rooms(io, [room, users].concat(), USER_LEFT, &payload).await;
            }
            Some(Payload::NewMessage(new)) => {
                if let Some(message) = new.message {
                    let payload = wire::Message::from(message);
                    emit_to_rooms_except(io, room, excluded, NEW_MESSAGE, &payload).await;
                }
            }
            Some(Payload::NewPrivateMessage(new)) => {
                let (Some(message), Some(namespace)) = (new.message, io.of(chat::NAMESPACE)) else {
                    return;
                };
                // The receiver's sockets and the sender's other sockets.
                let mut operators = namespace.to(users);
                if let Some(origin) = &self.origin_socket_id {
                    operators = operators.except(own_socket(origin));
                }
                let payload = wire::Message::from(message);
                crate::slow_sockets::emit(operators, NEW_PRIVATE_MESSAGE, &payload).await;
            }
            Some(Payload::MessageUpdated(updated)) => {
                let payload = MessageAnswer::from(updated.message);
                emit_to_rooms_except(io, room, excluded, MESSAGE_UPDATED, &payload).await;
            }
            Some(Payload::MessageDeleted(deleted)) => {
                let payload = MessageDeleted {
                    room_id: deleted.room_id,
                    message_id: deleted.message_id,
                };
                emit_to_rooms(io, room, MESSAGE_DELETED, &payload).await;
            }
            Some(Payload::MessagesRead(read)) => {
                let payload = MessagesRead {
                    read_at: wire::time(read.read_at.as_ref()),
                    room_id: read.room_id,
                    user_id: read.user_id,
                    message_id: read.message_id,
                };
                emit_to_rooms(io, room, MESSAGES_READ, &payload).await;
            }
            Some(Payload::UserTyping(typing)) => {
                let payload = UserTyping {
                    room_id: typing.room_id,
                    user_id: typing.user_id,
                    username: typing.username,
                    is_typing: typing.is_typing,
                };
                emit_to_rooms_except(io, room, excluded, USER_TYPING, &payload).await;
            }
            None => tracing::warn!(event_id = self.event_id, "chat event without payload"),
        }
    }
}
