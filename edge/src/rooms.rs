//! The socketioxide rooms a socket is in, which is how events find their recipients on this
//! edge: every socket of a user, every socket of a chat room's members, one socket.

use std::{collections::HashSet, time::Duration};

use parley_proto::chat::v1 as pb;
use socketioxide::extract::SocketRef;

use crate::{auth::Identity, backends::Backends, interest::Kind};

/// The room that holds every socket of one user in a namespace: events for a user are emitted
/// to it, so all their devices receive them.
pub fn user_room(user_id: &str) -> String {
    format!("user:{user_id}")
}

/// The user whose room [`user_room`] named `room`, if it is one.
pub fn user_of_room(room: &str) -> Option<&str> {
    room.strip_prefix("user:")
}

/// The room of one device of a user on `/calls` (every socket that connected with that
/// `deviceId`): call events routed to one device are emitted to it.
pub fn device_room(user_id: &str, device_id: &str) -> String {
    format!("device:{user_id}:{device_id}")
}

/// The room of a chat room on `/chat`: the sockets of its members.
pub fn chat_room(room_id: &str) -> String {
    format!("room:{room_id}")
}

/// The chat room whose room [`chat_room`] named `room`, if it is one.
pub fn chat_room_id(room: &str) -> Option<&str> {
    room.strip_prefix("room:")
}

/// The room of one socket, so that an event can skip the socket that caused it.
pub fn own_socket(socket_id: &str) -> String {
    format!("socket:{socket_id}")
}

/// How long to wait before each new attempt to list a connecting user's rooms.
const LISTING_RETRIES: [Duration; 2] = [Duration::from_millis(200), Duration::from_secs(1)];

/// Puts a new `/chat` socket in its own room and in the rooms of its user's chat rooms, so
/// that room events reach it without a join. `Err` when chat-svc could not list them,
/// after retries.
pub async fn join_chat_rooms(
    socket: &SocketRef,
    identity: &Identity,
    backends: &Backends,
) -> Result<(), ChatUnavailable> {
    socket.join(own_socket(socket.id.as_str()));
    // From here on every membership change of the user reaches this edge, the first
    // listing's included.
    let user = identity.user_id.to_string();
    backends.chat_interest.add(Kind::Users, [user]).await;
    // Join the rooms of a first listing, then list again and leave what is gone: a removal
    // committed between the listing and the join would otherwise be undone by the join
    // (its event found the socket not yet in the room). Additions need no second look:
    // their events reach the socket through its user room.
    let mut listed = room_ids(identity, backends).await;
    for wait in LISTING_RETRIES {
        if listed.is_some() {
            break;
        }
        tokio::time::sleep(wait).await;
        listed = room_ids(identity, backends).await;
    }
    let listed = listed.ok_or(ChatUnavailable)?;
    // Their events reach this edge before the socket is in them, as they would reach it
    // once it is.
    backends
        .chat_interest
        .add(Kind::Rooms, listed.iter().cloned())
        .await;
    socket.join(listed.iter().map(|id| chat_room(id)).collect::<Vec<_>>());
    if let Some(current) = room_ids(identity, backends).await {
        let gone: Vec<String> = listed
            .difference(&current)
            .map(|id| chat_room(id))
            .collect();
        if !gone.is_empty() {
            socket.leave(gone);
        }
    }
    Ok(())
}

/// chat-svc did not list a user's rooms.
#[derive(Debug)]
pub struct ChatUnavailable;

/// Every room id of the user, page by page; `None` if chat-svc did not answer.
async fn room_ids(identity: &Identity, backends: &Backends) -> Option<HashSet<String>> {
    let mut ids = HashSet::new();
    let mut page_token = None;
    loop {
        let request = pb::ListRoomIdsRequest {
            user_id: identity.user_id.to_string(),
            page_size: Some(5_000),
            page_token: page_token.take(),
        };
        match backends
            .chat
            .clone()
            .list_room_ids(backends.request(request))
            .await
        {
            Ok(page) => {
                let page = page.into_inner();
                ids.extend(page.room_ids);
                match page.next_page_token {
                    Some(next) => page_token = Some(next),
                    None => return Some(ids),
                }
            }
            Err(status) => {
                tracing::warn!(%status, "cannot list the rooms of a connecting user");
                return None;
            }
        }
    }
}
