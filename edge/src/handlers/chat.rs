//! `/chat`: rooms and membership. Each socket is in the socketioxide room of every chat room
//! of its user, so room events reach it without a join.

use parley_proto::chat::v1 as pb;
use serde::Deserialize;
use serde_json::{Value, json};
use socketioxide::extract::{Extension, SocketRef, State, TryData};
use tracing::Instrument;
use uuid::Uuid;

use super::{Decoded, Raw, answer, decoded};
use crate::{auth::Identity, backends::Backends, error::ApiError, reply::Reply, wire};

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
    register_messages(socket);

    // Join the rooms of a first listing, then list again and leave what is gone: a removal
    // committed between the listing and the join would otherwise be undone by the join
    // (its event found the socket not yet in the room). Additions need no second look:
    // their events reach the socket through its user room.
    let Some(listed) = room_ids(identity, backends).await else {
        // The socket cannot receive its rooms' events: let the client reconnect rather than
        // stay connected and deaf.
        crate::resync::one(socket.clone());
        return;
    };
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
}

/// Every room id of the user, page by page; `None` if chat-svc did not answer.
async fn room_ids(
    identity: &Identity,
    backends: &Backends,
) -> Option<std::collections::HashSet<String>> {
    let mut ids = std::collections::HashSet::new();
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

fn create_room_request(payload: CreateRoom, me: &Identity) -> pb::CreateRoomRequest {
    pb::CreateRoomRequest {
        acting_user_id: me.user_id.to_string(),
        name: payload.name,
        is_group: payload.is_group,
        member_ids: payload.member_ids.iter().map(Uuid::to_string).collect(),
        is_public: payload.is_public,
    }
}

async fn create_room(
    reply: Reply,
    TryData(raw): TryData<Value>,
    Extension(me): Extension<Identity>,
    State(backends): State<Backends>,
) {
    answer(reply, raw, move |payload: CreateRoom| async move {
        let request = create_room_request(payload, &me);
        let response = backends
            .chat
            .clone()
            .create_room(backends.request(request))
            .await?;
        Ok(room_data(response.into_inner().room))
    })
    .await;
}

fn list_rooms_request(payload: ListRooms, me: &Identity) -> pb::ListRoomsRequest {
    pb::ListRoomsRequest {
        acting_user_id: me.user_id.to_string(),
        limit: payload.limit,
        cursor: payload.cursor,
    }
}

async fn list_rooms(
    reply: Reply,
    TryData(raw): TryData<Value>,
    Extension(me): Extension<Identity>,
    State(backends): State<Backends>,
) {
    answer(reply, raw, move |payload: ListRooms| async move {
        let request = list_rooms_request(payload, &me);
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

fn get_room_request(payload: ByRoom, me: &Identity) -> pb::GetRoomRequest {
    pb::GetRoomRequest {
        acting_user_id: me.user_id.to_string(),
        room_id: payload.room_id.to_string(),
    }
}

async fn get_room(
    reply: Reply,
    TryData(raw): TryData<Value>,
    Extension(me): Extension<Identity>,
    State(backends): State<Backends>,
) {
    answer(reply, raw, move |payload: ByRoom| async move {
        let request = get_room_request(payload, &me);
        let response = backends
            .chat
            .clone()
            .get_room(backends.request(request))
            .await?;
        Ok(room_data(response.into_inner().room))
    })
    .await;
}

fn add_members_request(payload: AddMembers, me: &Identity) -> pb::AddMembersRequest {
    pb::AddMembersRequest {
        acting_user_id: me.user_id.to_string(),
        room_id: payload.room_id.to_string(),
        user_ids: payload.user_ids.iter().map(Uuid::to_string).collect(),
    }
}

async fn add_members(
    reply: Reply,
    TryData(raw): TryData<Value>,
    Extension(me): Extension<Identity>,
    State(backends): State<Backends>,
) {
    answer(reply, raw, move |payload: AddMembers| async move {
        let request = add_members_request(payload, &me);
        let response = backends
            .chat
            .clone()
            .add_members(backends.request(request))
            .await?;
        Ok(room_data(response.into_inner().room))
    })
    .await;
}

fn remove_member_request(payload: RemoveMember, me: &Identity) -> pb::RemoveMemberRequest {
    pb::RemoveMemberRequest {
        acting_user_id: me.user_id.to_string(),
        room_id: payload.room_id.to_string(),
        user_id: payload.user_id.to_string(),
    }
}

async fn remove_member(
    reply: Reply,
    TryData(raw): TryData<Value>,
    Extension(me): Extension<Identity>,
    State(backends): State<Backends>,
) {
    answer(reply, raw, move |payload: RemoveMember| async move {
        let request = remove_member_request(payload, &me);
        backends
            .chat
            .clone()
            .remove_member(backends.request(request))
            .await?;
        Ok(json!({}))
    })
    .await;
}

fn join_room_request(payload: ByRoom, me: &Identity) -> pb::JoinRoomRequest {
    pb::JoinRoomRequest {
        acting_user_id: me.user_id.to_string(),
        room_id: payload.room_id.to_string(),
    }
}

async fn join_room(
    reply: Reply,
    TryData(raw): TryData<Value>,
    Extension(me): Extension<Identity>,
    State(backends): State<Backends>,
) {
    answer(reply, raw, move |payload: ByRoom| async move {
        let request = join_room_request(payload, &me);
        let response = backends
            .chat
            .clone()
            .join_room(backends.request(request))
            .await?;
        Ok(room_data(response.into_inner().room))
    })
    .await;
}

fn leave_room_request(payload: ByRoom, me: &Identity) -> pb::LeaveRoomRequest {
    pb::LeaveRoomRequest {
        acting_user_id: me.user_id.to_string(),
        room_id: payload.room_id.to_string(),
    }
}

async fn leave_room(
    reply: Reply,
    TryData(raw): TryData<Value>,
    Extension(me): Extension<Identity>,
    State(backends): State<Backends>,
) {
    answer(reply, raw, move |payload: ByRoom| async move {
        let request = leave_room_request(payload, &me);
        backends
            .chat
            .clone()
            .leave_room(backends.request(request))
            .await?;
        Ok(json!({}))
    })
    .await;
}

/// The socketioxide room of one socket, so that an event can skip the socket that caused it.
pub fn own_socket(socket_id: &str) -> String {
    format!("socket:{socket_id}")
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SendMessage {
    chat_room_id: Option<Uuid>,
    receiver_id: Option<Uuid>,
    content: String,
    message_type: Option<MessageType>,
    client_msg_id: Option<String>,
    reply_to_id: Option<Uuid>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
enum MessageType {
    Text,
    Image,
    File,
    System,
    Call,
}

impl From<MessageType> for pb::MessageType {
    fn from(kind: MessageType) -> Self {
        match kind {
            MessageType::Text => pb::MessageType::Text,
            MessageType::Image => pb::MessageType::Image,
            MessageType::File => pb::MessageType::File,
            MessageType::System => pb::MessageType::System,
            MessageType::Call => pb::MessageType::Call,
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GetHistory {
    room_id: Uuid,
    limit: Option<u32>,
    before: Option<Uuid>,
    after: Option<Uuid>,
    offset: Option<u32>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MarkRead {
    room_id: Uuid,
    message_id: Option<Uuid>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Typing {
    room_id: Uuid,
    is_typing: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EditMessage {
    message_id: Uuid,
    content: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ByMessage {
    message_id: Uuid,
}

#[derive(Deserialize)]
struct Sync {
    rooms: std::collections::HashMap<Uuid, u64>,
    limit: Option<u32>,
}

/// Registers the message events on a `/chat` socket.
pub fn register_messages(socket: &SocketRef) {
    socket.join(own_socket(&socket.id.to_string()));
    socket.on("send-message", send_message);
    socket.on("get-history", get_history);
    socket.on("mark-read", mark_read);
    socket.on("typing", typing);
    socket.on("typing-start", typing_start);
    socket.on("typing-stop", typing_stop);
    socket.on("edit-message", edit_message);
    socket.on("delete-message", delete_message);
    socket.on("sync", sync);
}

/// `origin_socket_id`: the socket that sent it, which the message's events skip.
fn send_message_request(
    payload: SendMessage,
    me: &Identity,
    origin_socket_id: String,
) -> Result<pb::SendMessageRequest, ApiError> {
    let target = match (payload.chat_room_id, payload.receiver_id) {
        (Some(room), None) => pb::send_message_request::Target::RoomId(room.to_string()),
        (None, Some(receiver)) => {
            pb::send_message_request::Target::ReceiverId(receiver.to_string())
        }
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid(
                "payload",
                "give chatRoomId or receiverId, not both",
            ));
        }
        (None, None) => {
            return Err(ApiError::invalid(
                "chatRoomId",
                "chatRoomId or receiverId is required",
            ));
        }
    };
    Ok(pb::SendMessageRequest {
        acting_user_id: me.user_id.to_string(),
        target: Some(target),
        content: payload.content,
        message_type: payload
            .message_type
            .map_or(pb::MessageType::Text, Into::into)
            .into(),
        client_msg_id: payload.client_msg_id,
        reply_to_id: payload.reply_to_id.map(|id| id.to_string()),
        origin_socket_id: Some(origin_socket_id),
    })
}

async fn send_message(
    reply: Reply,
    TryData(raw): TryData<Value>,
    Extension(me): Extension<Identity>,
    State(backends): State<Backends>,
) {
    let socket = reply.socket().clone();
    let wants_ack = reply.wants_ack();
    // Read before parsing the rest, so that a refused send can still name its clientMsgId.
    let client_msg_id = raw
        .as_ref()
        .ok()
        .and_then(|payload| payload.get("clientMsgId"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let span = super::event_span(&reply, &raw);
    let outcome = super::run(raw, move |payload: SendMessage| async move {
        let request = send_message_request(payload, &me, socket.id.to_string())?;
        let response = backends
            .chat
            .clone()
            .send_message(backends.request(request))
            .await?;
        Ok(json!({ "message": response.into_inner().message.map(wire::Message::from) }))
    })
    .instrument(span.clone())
    .await;
    super::record_outcome(&span, &outcome);
    if let (Err(error), false) = (&outcome, wants_ack) {
        let payload = json!({ "error": error.message, "code": error.code.as_str(), "clientMsgId": client_msg_id });
        if let Err(send_error) = reply.socket().emit("message-error", &payload) {
            tracing::debug!(%send_error, "cannot emit message-error");
        }
    }
    reply.send(outcome);
}

fn get_history_request(
    payload: GetHistory,
    me: &Identity,
) -> Result<pb::GetHistoryRequest, ApiError> {
    use pb::get_history_request::Cursor;
    let cursor = match (payload.before, payload.after, payload.offset) {
        (Some(before), None, None) => Some(Cursor::BeforeMessageId(before.to_string())),
        (None, Some(after), None) => Some(Cursor::AfterMessageId(after.to_string())),
        (None, None, Some(offset)) => Some(Cursor::Offset(offset)),
        (None, None, None) => None,
        _ => {
            return Err(ApiError::invalid(
                "payload",
                "give at most one of before, after and offset",
            ));
        }
    };
    Ok(pb::GetHistoryRequest {
        acting_user_id: me.user_id.to_string(),
        room_id: payload.room_id.to_string(),
        limit: payload.limit,
        cursor,
    })
}

async fn get_history(
    reply: Reply,
    TryData(raw): TryData<Value>,
    Extension(me): Extension<Identity>,
    State(backends): State<Backends>,
) {
    answer(reply, raw, move |payload: GetHistory| async move {
        let request = get_history_request(payload, &me)?;
        let response = backends
            .chat
            .clone()
            .get_history(backends.request(request))
            .await?
            .into_inner();
        let messages: Vec<wire::Message> = response.messages.into_iter().map(Into::into).collect();
        Ok(json!({ "messages": messages, "hasMore": response.has_more }))
    })
    .await;
}

fn mark_read_request(payload: MarkRead, me: &Identity) -> pb::MarkReadRequest {
    pb::MarkReadRequest {
        acting_user_id: me.user_id.to_string(),
        room_id: payload.room_id.to_string(),
        message_id: payload.message_id.map(|id| id.to_string()),
    }
}

async fn mark_read(
    reply: Reply,
    TryData(raw): TryData<Value>,
    Extension(me): Extension<Identity>,
    State(backends): State<Backends>,
) {
    answer(reply, raw, move |payload: MarkRead| async move {
        let request = mark_read_request(payload, &me);
        let response = backends.chat.clone().mark_read(backends.request(request)).await?.into_inner();
        Ok(json!({ "roomId": response.room_id, "messageId": response.message_id, "unreadCount": response.unread_count }))
    })
    .await;
}

fn typing_request(me: &Identity, room: Uuid, is_typing: bool) -> pb::TypingRequest {
    pb::TypingRequest {
        acting_user_id: me.user_id.to_string(),
        room_id: room.to_string(),
        is_typing,
    }
}

async fn send_typing(backends: &Backends, request: pb::TypingRequest) -> Result<Value, ApiError> {
    backends
        .chat
        .clone()
        .typing(backends.request(request))
        .await?;
    Ok(json!({}))
}

async fn typing(
    reply: Reply,
    TryData(raw): TryData<Value>,
    Extension(me): Extension<Identity>,
    State(backends): State<Backends>,
) {
    answer(reply, raw, move |payload: Typing| async move {
        let request = typing_request(&me, payload.room_id, payload.is_typing);
        send_typing(&backends, request).await
    })
    .await;
}

async fn typing_start(
    reply: Reply,
    TryData(raw): TryData<Value>,
    Extension(me): Extension<Identity>,
    State(backends): State<Backends>,
) {
    answer(reply, raw, move |payload: ByRoom| async move {
        send_typing(&backends, typing_request(&me, payload.room_id, true)).await
    })
    .await;
}

async fn typing_stop(
    reply: Reply,
    TryData(raw): TryData<Value>,
    Extension(me): Extension<Identity>,
    State(backends): State<Backends>,
) {
    answer(reply, raw, move |payload: ByRoom| async move {
        send_typing(&backends, typing_request(&me, payload.room_id, false)).await
    })
    .await;
}

fn edit_message_request(payload: EditMessage, me: &Identity) -> pb::EditMessageRequest {
    pb::EditMessageRequest {
        acting_user_id: me.user_id.to_string(),
        message_id: payload.message_id.to_string(),
        content: payload.content,
    }
}

async fn edit_message(
    reply: Reply,
    TryData(raw): TryData<Value>,
    Extension(me): Extension<Identity>,
    State(backends): State<Backends>,
) {
    answer(reply, raw, move |payload: EditMessage| async move {
        let request = edit_message_request(payload, &me);
        let response = backends
            .chat
            .clone()
            .edit_message(backends.request(request))
            .await?;
        Ok(json!({ "message": response.into_inner().message.map(wire::Message::from) }))
    })
    .await;
}

fn delete_message_request(payload: ByMessage, me: &Identity) -> pb::DeleteMessageRequest {
    pb::DeleteMessageRequest {
        acting_user_id: me.user_id.to_string(),
        message_id: payload.message_id.to_string(),
    }
}

async fn delete_message(
    reply: Reply,
    TryData(raw): TryData<Value>,
    Extension(me): Extension<Identity>,
    State(backends): State<Backends>,
) {
    answer(reply, raw, move |payload: ByMessage| async move {
        let request = delete_message_request(payload, &me);
        backends
            .chat
            .clone()
            .delete_message(backends.request(request))
            .await?;
        Ok(json!({}))
    })
    .await;
}

fn sync_request(payload: Sync, me: &Identity) -> pb::SyncRequest {
    pb::SyncRequest {
        acting_user_id: me.user_id.to_string(),
        rooms: payload
            .rooms
            .into_iter()
            .map(|(room, seq)| (room.to_string(), seq))
            .collect(),
        limit: payload.limit,
    }
}

async fn sync(
    reply: Reply,
    TryData(raw): TryData<Value>,
    Extension(me): Extension<Identity>,
    State(backends): State<Backends>,
) {
    answer(reply, raw, move |payload: Sync| async move {
        let request = sync_request(payload, &me);
        let response = backends
            .chat
            .clone()
            .sync(backends.request(request))
            .await?
            .into_inner();
        let rooms: Vec<Value> = response
            .rooms
            .into_iter()
            .map(|room| {
                let messages: Vec<wire::Message> =
                    room.messages.into_iter().map(Into::into).collect();
                json!({ "roomId": room.room_id, "messages": messages, "hasMore": room.has_more })
            })
            .collect();
        Ok(json!({ "rooms": rooms }))
    })
    .await;
}

/// docs/API.md's client → server events of `/chat`, aliases included.
pub const EVENTS: [&str; 18] = [
    "create-room",
    "list-rooms",
    "get-room",
    "add-members",
    "remove-member",
    "join-room",
    "join-user",
    "leave-room",
    "leave-user",
    "send-message",
    "get-history",
    "mark-read",
    "typing",
    "typing-start",
    "typing-stop",
    "edit-message",
    "delete-message",
    "sync",
];

/// What the handler of `event` does with its payload before calling chat-svc, with the same
/// functions; `None` for an event `/chat` does not have. For the fuzz targets.
pub fn decode(event: &str, raw: Raw, me: &Identity, socket_id: &str) -> Option<Decoded> {
    Some(match event {
        "create-room" => decoded(raw, |payload| Ok(create_room_request(payload, me))),
        "list-rooms" => decoded(raw, |payload| Ok(list_rooms_request(payload, me))),
        "get-room" => decoded(raw, |payload| Ok(get_room_request(payload, me))),
        "add-members" => decoded(raw, |payload| Ok(add_members_request(payload, me))),
        "remove-member" => decoded(raw, |payload| Ok(remove_member_request(payload, me))),
        "join-room" | "join-user" => decoded(raw, |payload| Ok(join_room_request(payload, me))),
        "leave-room" | "leave-user" => decoded(raw, |payload| Ok(leave_room_request(payload, me))),
        "send-message" => decoded(raw, |payload| {
            send_message_request(payload, me, socket_id.to_owned())
        }),
        "get-history" => decoded(raw, |payload| get_history_request(payload, me)),
        "mark-read" => decoded(raw, |payload| Ok(mark_read_request(payload, me))),
        "typing" => decoded(raw, |payload: Typing| {
            Ok(typing_request(me, payload.room_id, payload.is_typing))
        }),
        "typing-start" => decoded(raw, |payload: ByRoom| {
            Ok(typing_request(me, payload.room_id, true))
        }),
        "typing-stop" => decoded(raw, |payload: ByRoom| {
            Ok(typing_request(me, payload.room_id, false))
        }),
        "edit-message" => decoded(raw, |payload| Ok(edit_message_request(payload, me))),
        "delete-message" => decoded(raw, |payload| Ok(delete_message_request(payload, me))),
        "sync" => decoded(raw, |payload| Ok(sync_request(payload, me))),
        _ => return None,
    })
}
