//! chat-svc's events to `/chat` sockets, and the room changes that membership events make.

use parley_proto::chat::v1::{ChatEvent, SubscribeRequest, chat_event::Payload};
use serde_json::json;
use socketioxide::SocketIo;

use super::{ServiceEvent, emit_to_rooms, emit_to_rooms_except, subscription};
use crate::{
    rooms::{chat_room, own_socket, user_room},
    wire,
};

impl ServiceEvent for ChatEvent {
    const SERVICE: &'static str = "chat";
    // Missed membership changes would leave sockets in the wrong rooms, and missed messages
    // unseen: every client reconnects (by itself), joins its rooms afresh and catches up with
    // `sync`.
    const GAP_RESYNCS_EVERYONE: bool = true;

    subscription!(chat, SubscribeRequest);

    async fn relay(self, io: &SocketIo) {
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
            Some(Payload::MembershipChanged(changed)) => {
                let Some(namespace) = io.of("/chat") else {
                    return;
                };
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
                let payload = json!({ "room": created.room.map(wire::Room::from) });
                emit_to_rooms(io, "/chat", users, "room-created", &payload).await;
            }
            Some(Payload::UserJoined(joined)) => {
                let payload =
                    json!({ "roomId": joined.room_id, "user": joined.user.map(wire::User::from) });
                emit_to_rooms(io, "/chat", [room, users].concat(), "user-joined", &payload).await;
            }
            Some(Payload::UserLeft(left)) => {
                let payload = json!({ "roomId": left.room_id, "userId": left.user_id });
                emit_to_rooms(io, "/chat", [room, users].concat(), "user-left", &payload).await;
            }
            Some(Payload::NewMessage(new)) => {
                if let Some(message) = new.message {
                    let payload = wire::Message::from(message);
                    emit_to_rooms_except(io, "/chat", room, excluded, "new-message", &payload)
                        .await;
                }
            }
            Some(Payload::NewPrivateMessage(new)) => {
                let (Some(message), Some(namespace)) = (new.message, io.of("/chat")) else {
                    return;
                };
                // The receiver's sockets and the sender's other sockets.
                let mut operators = namespace.to(users);
                if let Some(origin) = &self.origin_socket_id {
                    operators = operators.except(own_socket(origin));
                }
                let payload = wire::Message::from(message);
                crate::slow_sockets::emit(operators, "new-private-message", &payload).await;
            }
            Some(Payload::MessageUpdated(updated)) => {
                let payload = json!({ "message": updated.message.map(wire::Message::from) });
                emit_to_rooms_except(io, "/chat", room, excluded, "message-updated", &payload)
                    .await;
            }
            Some(Payload::MessageDeleted(deleted)) => {
                let payload = json!({ "roomId": deleted.room_id, "messageId": deleted.message_id });
                emit_to_rooms(io, "/chat", room, "message-deleted", &payload).await;
            }
            Some(Payload::MessagesRead(read)) => {
                let payload = json!({
                    "roomId": read.room_id,
                    "userId": read.user_id,
                    "messageId": read.message_id,
                    "readAt": wire::time(read.read_at.as_ref()),
                });
                emit_to_rooms(io, "/chat", room, "messages-read", &payload).await;
            }
            Some(Payload::UserTyping(typing)) => {
                let payload = json!({
                    "roomId": typing.room_id,
                    "userId": typing.user_id,
                    "username": typing.username,
                    "isTyping": typing.is_typing,
                });
                emit_to_rooms_except(io, "/chat", room, excluded, "user-typing", &payload).await;
            }
            None => tracing::warn!(event_id = self.event_id, "chat event without payload"),
        }
    }
}
