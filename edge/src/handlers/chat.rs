//! `/chat`: rooms and membership. Each socket is in the socketioxide room of every chat room
//! of its user, so room events reach it without a join.

use parley_proto::chat::v1 as pb;
use serde::Deserialize;
use serde_json::{Value, json};
use socketioxide::extract::{Extension, SocketRef, State, TryData};
use uuid::Uuid;

use super::answer;
use crate::{auth::Identity, backends::Backends, reply::Reply, wire};

/// The socketioxide room of a chat room on `/chat`.
pub fn chat_room(room_id: &str) -> String {
    format!("room:{room_id}")
}

/// Puts a new socket in its user's rooms and registers the `/chat` events.
pub async fn connected(socket: &SocketRef, identity: &Identity, backends: &Backends) {
    socket.on("create-room", create_room);
    socket.on("list-rooms", list_rooms);
    socket.on("get-room", get_room);
    socket.on("add-members", add_members);
    socket.on("remove-member", remove_member);
    for event in ["join-room", "join-user"] {
        socket.on(event, join_room);
    }
    for event in ["leave-room", "leave-user"] {
        socket.on(event, leave_room);
    }

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
                let rooms: Vec<String> = page.room_ids.iter().map(|id| chat_room(id)).collect();
                socket.join(rooms);
                match page.next_page_token {
                    Some(next) => page_token = Some(next),
                    None => break,
                }
            }
            Err(status) => {
                // The socket cannot receive its rooms' events: let the client reconnect
                // rather than stay connected and deaf.
                tracing::warn!(%status, "cannot list the rooms of a connecting user");
                let _ = socket.clone().disconnect();
                break;
            }
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateRoom {
    name: Option<String>,
    is_group: bool,
    #[serde(default)]
    member_ids: Vec<Uuid>,
    is_public: Option<bool>,
}

#[derive(Deserialize)]
struct ListRooms {
    limit: Option<u32>,
    cursor: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ByRoom {
    room_id: Uuid,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AddMembers {
    room_id: Uuid,
    user_ids: Vec<Uuid>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RemoveMember {
    room_id: Uuid,
    user_id: Uuid,
}

fn room_data(room: Option<pb::Room>) -> Value {
    json!({ "room": room.map(wire::Room::from) })
}

async fn create_room(
    reply: Reply,
    TryData(raw): TryData<Value>,
    Extension(me): Extension<Identity>,
    State(backends): State<Backends>,
) {
    answer(reply, raw, move |payload: CreateRoom| async move {
        let request = pb::CreateRoomRequest {
            acting_user_id: me.user_id.to_string(),
            name: payload.name,
            is_group: payload.is_group,
            member_ids: payload.member_ids.iter().map(Uuid::to_string).collect(),
            is_public: payload.is_public,
        };
        let response = backends
            .chat
            .clone()
            .create_room(backends.request(request))
            .await?;
        Ok(room_data(response.into_inner().room))
    })
    .await;
}

async fn list_rooms(
    reply: Reply,
    TryData(raw): TryData<Value>,
    Extension(me): Extension<Identity>,
    State(backends): State<Backends>,
) {
    answer(reply, raw, move |payload: ListRooms| async move {
        let request = pb::ListRoomsRequest {
            acting_user_id: me.user_id.to_string(),
            limit: payload.limit,
            cursor: payload.cursor,
        };
        let response = backends
            .chat
            .clone()
            .list_rooms(backends.request(request))
            .await?
            .into_inner();
        let rooms: Vec<wire::RoomSummary> = response.rooms.into_iter().map(Into::into).collect();
        Ok(json!({ "rooms": rooms, "nextCursor": response.next_cursor }))
    })
    .await;
}

async fn get_room(
    reply: Reply,
    TryData(raw): TryData<Value>,
    Extension(me): Extension<Identity>,
    State(backends): State<Backends>,
) {
    answer(reply, raw, move |payload: ByRoom| async move {
        let request = pb::GetRoomRequest {
            acting_user_id: me.user_id.to_string(),
            room_id: payload.room_id.to_string(),
        };
        let response = backends
            .chat
            .clone()
            .get_room(backends.request(request))
            .await?;
        Ok(room_data(response.into_inner().room))
    })
    .await;
}

async fn add_members(
    reply: Reply,
    TryData(raw): TryData<Value>,
    Extension(me): Extension<Identity>,
    State(backends): State<Backends>,
) {
    answer(reply, raw, move |payload: AddMembers| async move {
        let request = pb::AddMembersRequest {
            acting_user_id: me.user_id.to_string(),
            room_id: payload.room_id.to_string(),
            user_ids: payload.user_ids.iter().map(Uuid::to_string).collect(),
        };
        let response = backends
            .chat
            .clone()
            .add_members(backends.request(request))
            .await?;
        Ok(room_data(response.into_inner().room))
    })
    .await;
}

async fn remove_member(
    reply: Reply,
    TryData(raw): TryData<Value>,
    Extension(me): Extension<Identity>,
    State(backends): State<Backends>,
) {
    answer(reply, raw, move |payload: RemoveMember| async move {
        let request = pb::RemoveMemberRequest {
            acting_user_id: me.user_id.to_string(),
            room_id: payload.room_id.to_string(),
            user_id: payload.user_id.to_string(),
        };
        backends
            .chat
            .clone()
            .remove_member(backends.request(request))
            .await?;
        Ok(json!({}))
    })
    .await;
}

async fn join_room(
    reply: Reply,
    TryData(raw): TryData<Value>,
    Extension(me): Extension<Identity>,
    State(backends): State<Backends>,
) {
    answer(reply, raw, move |payload: ByRoom| async move {
        let request = pb::JoinRoomRequest {
            acting_user_id: me.user_id.to_string(),
            room_id: payload.room_id.to_string(),
        };
        let response = backends
            .chat
            .clone()
            .join_room(backends.request(request))
            .await?;
        Ok(room_data(response.into_inner().room))
    })
    .await;
}

async fn leave_room(
    reply: Reply,
    TryData(raw): TryData<Value>,
    Extension(me): Extension<Identity>,
    State(backends): State<Backends>,
) {
    answer(reply, raw, move |payload: ByRoom| async move {
        let request = pb::LeaveRoomRequest {
            acting_user_id: me.user_id.to_string(),
            room_id: payload.room_id.to_string(),
        };
        backends
            .chat
            .clone()
            .leave_room(backends.request(request))
            .await?;
        Ok(json!({}))
    })
    .await;
}
