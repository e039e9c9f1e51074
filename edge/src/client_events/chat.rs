//! `/chat`: rooms, membership and messages.

use std::collections::HashMap;

use parley_proto::chat::v1 as pb;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::{Caller, Event, Raw, ids, nothing, rpc, unary};
use crate::{
    error::{ApiError, ErrorCode},
    server_events::chat::MESSAGE_ERROR,
    wire::{self, MessageAnswer, MessageType, RoomAnswer},
};

/// docs/API.md's client → server events of `/chat`.
pub(super) fn events() -> Vec<Event> {
    vec![
        unary(
            &["create-room"],
            |room: CreateRoom, caller| {
                Ok(pb::CreateRoomRequest {
                    acting_user_id: caller.user_id(),
                    name: room.name,
                    is_group: room.is_group,
                    member_ids: ids(&room.member_ids),
                    is_public: room.is_public,
                })
            },
            rpc!(chat.create_room),
            |answer| RoomAnswer::from(answer.room),
        ),
        unary(
            &["list-rooms"],
            |page: ListRooms, caller| {
                Ok(pb::ListRoomsRequest {
                    acting_user_id: caller.user_id(),
                    limit: page.limit,
                    cursor: page.cursor,
                })
            },
            rpc!(chat.list_rooms),
            |answer| RoomPage {
                rooms: wire::all(answer.rooms),
                next_cursor: answer.next_cursor,
            },
        ),
        unary(
            &["get-room"],
            |room: ByRoom, caller| {
                Ok(pb::GetRoomRequest {
                    acting_user_id: caller.user_id(),
                    room_id: room.room_id.to_string(),
                })
            },
            rpc!(chat.get_room),
            |answer| RoomAnswer::from(answer.room),
        ),
        unary(
            &["add-members"],
            |members: AddMembers, caller| {
                Ok(pb::AddMembersRequest {
                    acting_user_id: caller.user_id(),
                    room_id: members.room_id.to_string(),
                    user_ids: ids(&members.user_ids),
                })
            },
            rpc!(chat.add_members),
            |answer| RoomAnswer::from(answer.room),
        ),
        unary(
            &["remove-member"],
            |member: RemoveMember, caller| {
                Ok(pb::RemoveMemberRequest {
                    acting_user_id: caller.user_id(),
                    room_id: member.room_id.to_string(),
                    user_id: member.user_id.to_string(),
                })
            },
            rpc!(chat.remove_member),
            nothing,
        ),
        unary(
            &["join-room", "join-user"],
            |room: ByRoom, caller| {
                Ok(pb::JoinRoomRequest {
                    acting_user_id: caller.user_id(),
                    room_id: room.room_id.to_string(),
                })
            },
            rpc!(chat.join_room),
            |answer| RoomAnswer::from(answer.room),
        ),
        unary(
            &["leave-room", "leave-user"],
            |room: ByRoom, caller| {
                Ok(pb::LeaveRoomRequest {
                    acting_user_id: caller.user_id(),
                    room_id: room.room_id.to_string(),
                })
            },
            rpc!(chat.leave_room),
            nothing,
        ),
        unary(
            &["send-message"],
            send_message_request,
            rpc!(chat.send_message),
            |answer| MessageAnswer::from(answer.message),
        )
        .failure_reported_as(MESSAGE_ERROR, message_error),
        unary(
            &["get-history"],
            get_history_request,
            rpc!(chat.get_history),
            |answer| History {
                messages: wire::all(answer.messages),
                has_more: answer.has_more,
            },
        ),
        unary(
            &["mark-read"],
            |read: MarkRead, caller| {
                Ok(pb::MarkReadRequest {
                    acting_user_id: caller.user_id(),
                    room_id: read.room_id.to_string(),
                    message_id: read.message_id.map(|id| id.to_string()),
                })
            },
            rpc!(chat.mark_read),
            |answer| ReadPointer {
                room_id: answer.room_id,
                message_id: answer.message_id,
                unread_count: answer.unread_count,
            },
        ),
        unary(
            &["typing"],
            |typing: Typing, caller| Ok(typing_request(caller, typing.room_id, typing.is_typing)),
            rpc!(chat.typing),
            nothing,
        ),
        unary(
            &["typing-start"],
            |room: ByRoom, caller| Ok(typing_request(caller, room.room_id, true)),
            rpc!(chat.typing),
            nothing,
        ),
        unary(
            &["typing-stop"],
            |room: ByRoom, caller| Ok(typing_request(caller, room.room_id, false)),
            rpc!(chat.typing),
            nothing,
        ),
        unary(
            &["edit-message"],
            |edit: EditMessage, caller| {
                Ok(pb::EditMessageRequest {
                    acting_user_id: caller.user_id(),
                    message_id: edit.message_id.to_string(),
                    content: edit.content,
                })
            },
            rpc!(chat.edit_message),
            |answer| MessageAnswer::from(answer.message),
        ),
        unary(
            &["delete-message"],
            |message: ByMessage, caller| {
                Ok(pb::DeleteMessageRequest {
                    acting_user_id: caller.user_id(),
                    message_id: message.message_id.to_string(),
                })
            },
            rpc!(chat.delete_message),
            nothing,
        ),
        unary(
            &["sync"],
            |sync: Sync, caller| {
                Ok(pb::SyncRequest {
                    acting_user_id: caller.user_id(),
                    rooms: sync
                        .rooms
                        .into_iter()
                        .map(|(room, seq)| (room.to_string(), seq))
                        .collect(),
                    limit: sync.limit,
                })
            },
            rpc!(chat.sync),
            |answer| Synced {
                rooms: answer
                    .rooms
                    .into_iter()
                    .map(|room| SyncedRoom {
                        room_id: room.room_id,
                        messages: wire::all(room.messages),
                        has_more: room.has_more,
                    })
                    .collect(),
            },
        ),
    ]
}

/// `create-room`'s payload.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
struct CreateRoom {
    /// 1–100 characters; a direct room has none.
    name: Option<String>,
    is_group: bool,
    /// At most 100 users besides the caller; a direct room names exactly one.
    #[serde(default)]
    member_ids: Vec<Uuid>,
    is_public: Option<bool>,
}

/// `list-rooms`' payload.
#[derive(Deserialize, JsonSchema)]
struct ListRooms {
    /// 1–100 rooms per page, 50 by default.
    limit: Option<u32>,
    /// The `nextCursor` of the previous page.
    cursor: Option<String>,
}

/// The payload of the events about one room.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
struct ByRoom {
    room_id: Uuid,
}

/// `add-members`' payload.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
struct AddMembers {
    room_id: Uuid,
    /// At most 100.
    user_ids: Vec<Uuid>,
}

/// `remove-member`'s payload.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
struct RemoveMember {
    room_id: Uuid,
    user_id: Uuid,
}

/// `send-message`'s payload: to a room (`chatRoomId`) or a person (`receiverId`, their
/// direct room), not both.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
struct SendMessage {
    chat_room_id: Option<Uuid>,
    receiver_id: Option<Uuid>,
    /// 1–4000 characters; required without `attachmentIds`, with them an optional caption.
    content: Option<String>,
    /// `TEXT` by default; a client may not send `SYSTEM` or `CALL`.
    message_type: Option<MessageType>,
    /// 1–128 characters: a retry with the same id in the same room returns the stored
    /// message.
    client_msg_id: Option<String>,
    /// A message of the same room.
    reply_to_id: Option<Uuid>,
    /// 1–10 of the caller's completed uploads for that room.
    attachment_ids: Option<Vec<Uuid>>,
}

/// `get-history`'s payload: at most one of `before`, `after` and `offset`.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
struct GetHistory {
    room_id: Uuid,
    /// 1–100 messages, 50 by default.
    limit: Option<u32>,
    /// Older than this message, newest first.
    before: Option<Uuid>,
    /// Newer than this message, oldest first.
    after: Option<Uuid>,
    /// 0–10000 messages back from the newest.
    offset: Option<u32>,
}

/// `mark-read`'s payload.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
struct MarkRead {
    room_id: Uuid,
    /// The newest message read; the room's newest without it.
    message_id: Option<Uuid>,
}

/// `typing`'s payload.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
struct Typing {
    room_id: Uuid,
    /// `true` lasts 6 s unless sent again.
    is_typing: bool,
}

/// `edit-message`'s payload.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
struct EditMessage {
    message_id: Uuid,
    content: String,
}

/// The payload of the events about one message.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
struct ByMessage {
    message_id: Uuid,
}

/// `sync`'s payload.
#[derive(Deserialize, JsonSchema)]
struct Sync {
    /// The last seq seen in each room (at most 100 rooms).
    rooms: HashMap<Uuid, u64>,
    /// 1–100 messages per room, 100 by default.
    limit: Option<u32>,
}

/// `list-rooms`' ack: most recently active first.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
struct RoomPage {
    rooms: Vec<wire::RoomSummary>,
    /// The `cursor` of the next page; `null` on the last.
    next_cursor: Option<String>,
}

/// `get-history`'s ack: newest first (oldest first with `after`).
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
struct History {
    messages: Vec<wire::Message>,
    has_more: bool,
}

/// `mark-read`'s ack: the caller's read pointer.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
struct ReadPointer {
    #[schemars(with = "Uuid")]
    room_id: String,
    /// `null` in a room without messages.
    #[schemars(with = "Option<Uuid>")]
    message_id: Option<String>,
    unread_count: u32,
}

/// `sync`'s ack.
#[derive(Serialize, JsonSchema)]
struct Synced {
    /// The rooms with what was missed, oldest first; rooms the caller left are left out.
    rooms: Vec<SyncedRoom>,
}

/// What a room missed.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
struct SyncedRoom {
    #[schemars(with = "Uuid")]
    room_id: String,
    messages: Vec<wire::Message>,
    /// More than `limit` (or than the call's 500) were missed: call again.
    has_more: bool,
}

/// `message-error`: a failed `send-message` sent without an ack callback.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageError {
    /// The error's message.
    error: String,
    code: ErrorCode,
    /// The send's `clientMsgId`; `null` without one.
    client_msg_id: Option<String>,
}

/// Where a message (or an upload for one) goes: a room, or a person (their DM room).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PostTarget {
    Room(Uuid),
    Receiver(Uuid),
}

impl PostTarget {
    /// The one of `chatRoomId` and `receiverId` a payload gives.
    pub(super) fn of(
        chat_room_id: Option<Uuid>,
        receiver_id: Option<Uuid>,
    ) -> Result<Self, ApiError> {
        match (chat_room_id, receiver_id) {
            (Some(room), None) => Ok(Self::Room(room)),
            (None, Some(receiver)) => Ok(Self::Receiver(receiver)),
            (Some(_), Some(_)) => Err(ApiError::invalid(
                "payload",
                "give chatRoomId or receiverId, not both",
            )),
            (None, None) => Err(ApiError::invalid(
                "chatRoomId",
                "chatRoomId or receiverId is required",
            )),
        }
    }
}

impl From<PostTarget> for pb::send_message_request::Target {
    fn from(target: PostTarget) -> Self {
        match target {
            PostTarget::Room(room) => Self::RoomId(room.to_string()),
            PostTarget::Receiver(receiver) => Self::ReceiverId(receiver.to_string()),
        }
    }
}

/// The message's events skip the socket that sent it (`origin_socket_id`).
fn send_message_request(
    payload: SendMessage,
    caller: &Caller<'_>,
) -> Result<pb::SendMessageRequest, ApiError> {
    let target = PostTarget::of(payload.chat_room_id, payload.receiver_id)?;
    // How many attachments a message may carry is chat-svc's setting
    // (`PARLEY_MAX_ATTACHMENTS`), so only an empty list is refused here.
    let (content, attachment_ids) = match (payload.content, payload.attachment_ids) {
        (_, Some(ids)) if ids.is_empty() => {
            return Err(ApiError::invalid(
                "attachmentIds",
                "give at least one id, or leave attachmentIds out",
            ));
        }
        (caption, Some(ids)) => (caption.unwrap_or_default(), ids),
        (Some(content), None) => (content, Vec::new()),
        (None, None) => {
            return Err(ApiError::invalid(
                "content",
                "is required in a message without attachmentIds",
            ));
        }
    };
    Ok(pb::SendMessageRequest {
        acting_user_id: caller.user_id(),
        target: Some(target.into()),
        content,
        message_type: payload
            .message_type
            .map_or(pb::MessageType::Text, Into::into)
            .into(),
        client_msg_id: payload.client_msg_id,
        reply_to_id: payload.reply_to_id.map(|id| id.to_string()),
        origin_socket_id: Some(caller.socket_id.to_owned()),
        attachment_ids: ids(&attachment_ids),
    })
}

/// `message-error` of a refused send: the error, and the payload's `clientMsgId` if it
/// has one (even when the payload itself is refused).
fn message_error(raw: &Raw, error: &ApiError) -> MessageError {
    let client_msg_id = raw
        .as_ref()
        .ok()
        .and_then(|payload| payload.get("clientMsgId"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    MessageError {
        error: error.message.clone(),
        code: error.code,
        client_msg_id,
    }
}

fn get_history_request(
    payload: GetHistory,
    caller: &Caller<'_>,
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
        acting_user_id: caller.user_id(),
        room_id: payload.room_id.to_string(),
        limit: payload.limit,
        cursor,
    })
}

fn typing_request(caller: &Caller<'_>, room: Uuid, is_typing: bool) -> pb::TypingRequest {
    pb::TypingRequest {
        acting_user_id: caller.user_id(),
        room_id: room.to_string(),
        is_typing,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::client_events::tests::{built, refusal};

    #[test]
    fn a_message_with_attachments_passes_them_on_in_order_with_an_optional_caption() {
        let room = Uuid::from_u128(1);
        let (first, second) = (Uuid::from_u128(2), Uuid::from_u128(3));
        let uncaptioned = built(
            send_message_request,
            json!({ "chatRoomId": room, "messageType": "IMAGE", "attachmentIds": [second, first] }),
        )
        .expect("accepted");
        assert_eq!(
            uncaptioned.attachment_ids,
            [second.to_string(), first.to_string()]
        );
        assert_eq!(uncaptioned.content, "");
        assert_eq!(uncaptioned.message_type(), pb::MessageType::Image);

        let captioned = built(
            send_message_request,
            json!({ "chatRoomId": room, "content": "our cat", "messageType": "FILE", "attachmentIds": [first] }),
        )
        .expect("accepted");
        assert_eq!(captioned.content, "our cat");
        assert_eq!(captioned.attachment_ids, [first.to_string()]);

        let null_caption = built(
            send_message_request,
            json!({ "chatRoomId": room, "content": null, "attachmentIds": [first] }),
        )
        .expect("accepted");
        assert_eq!(null_caption.content, "");
    }

    #[test]
    fn without_attachments_a_message_still_needs_its_content() {
        let room = Uuid::from_u128(1);
        assert_eq!(
            refusal(built(send_message_request, json!({ "chatRoomId": room }))),
            "content: is required in a message without attachmentIds"
        );
        let text = built(
            send_message_request,
            json!({ "chatRoomId": room, "content": "hi" }),
        )
        .expect("accepted");
        assert!(text.attachment_ids.is_empty());
        assert_eq!(text.message_type(), pb::MessageType::Text);
    }

    #[test]
    fn attachment_ids_are_uuids_and_not_an_empty_list() {
        let room = Uuid::from_u128(1);
        assert_eq!(
            refusal(built(
                send_message_request,
                json!({ "chatRoomId": room, "content": "hi", "attachmentIds": [] })
            )),
            "attachmentIds: give at least one id, or leave attachmentIds out"
        );
        let message = refusal(built(
            send_message_request,
            json!({ "chatRoomId": room, "attachmentIds": [Uuid::from_u128(2), 7] }),
        ));
        assert!(message.starts_with("attachmentIds[1]: "), "{message}");
        let message = refusal(built(
            send_message_request,
            json!({ "chatRoomId": room, "attachmentIds": "a-uuid" }),
        ));
        assert!(message.starts_with("attachmentIds: "), "{message}");
    }
}
