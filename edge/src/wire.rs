//! The JSON shapes clients receive, built from the services' protobuf messages: camelCase
//! keys, ids as strings, times as RFC 3339 UTC with milliseconds, enums as their upper-case
//! names. Each derives its JSON Schema too (`edge schema`): ids are `format: uuid`, and a
//! field left out when empty is optional, any other `Option` a required `null`able one.

use std::collections::HashMap;

use base64::{Engine as _, engine::general_purpose::STANDARD as BASE64};
use chrono::SecondsFormat;
use parley_common::time::from_timestamp;
use parley_proto::{
    calls::v1 as calls, chat::v1 as chat, friends::v1 as friends, media::v1 as media,
    presence::v1 as presence,
};
use prost_types::Timestamp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::protocol_schema::absent_not_null;

/// A time as clients see it, e.g. `2026-11-25T18:04:05.120Z`; `None` for a missing or
/// impossible value.
pub fn time(timestamp: Option<&Timestamp>) -> Option<String> {
    from_timestamp(timestamp?).map(|time| time.to_rfc3339_opts(SecondsFormat::Millis, true))
}

/// Every protobuf item of an answer in its client shape.
pub fn all<T: From<P>, P>(items: Vec<P>) -> Vec<T> {
    items.into_iter().map(T::from).collect()
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct User {
    #[schemars(with = "Uuid")]
    pub id: String,
    pub username: String,
    /// The avatar URL of the user's token (`picture`); `null` without one.
    pub avatar: Option<String>,
}

impl From<friends::User> for User {
    fn from(user: friends::User) -> Self {
        Self {
            id: user.id,
            username: user.username,
            avatar: user.avatar,
        }
    }
}

/// A user that a service answer must carry; an empty one if it (wrongly) does not.
pub fn user(user: Option<friends::User>) -> User {
    user.map(User::from).unwrap_or_else(|| User {
        id: String::new(),
        username: String::new(),
        avatar: None,
    })
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FriendRequest {
    #[schemars(with = "Uuid")]
    pub id: String,
    pub from: User,
    pub to: User,
    pub created_at: Option<String>,
}

impl From<friends::FriendRequest> for FriendRequest {
    fn from(request: friends::FriendRequest) -> Self {
        Self {
            created_at: time(request.created_at.as_ref()),
            id: request.id,
            from: user(request.from_user),
            to: user(request.to_user),
        }
    }
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Friend {
    pub user: User,
    /// When the two became friends.
    pub since: Option<String>,
}

impl From<friends::Friend> for Friend {
    fn from(friend: friends::Friend) -> Self {
        Self {
            since: time(friend.since.as_ref()),
            user: user(friend.user),
        }
    }
}

impl From<chat::User> for User {
    fn from(user: chat::User) -> Self {
        Self {
            id: user.id,
            username: user.username,
            avatar: user.avatar,
        }
    }
}

/// A member of a room.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Member {
    pub user: Option<User>,
    pub role: Role,
    pub joined_at: Option<String>,
}

/// A member's role: the creator of a group is its `OWNER`, others join as `MEMBER`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Role {
    Owner,
    Admin,
    Member,
}

impl Role {
    /// A role this edge does not know yet shows as `MEMBER`, the one with the fewest rights.
    fn from_proto(role: i32) -> Self {
        match chat::Role::try_from(role) {
            Ok(chat::Role::Owner) => Self::Owner,
            Ok(chat::Role::Admin) => Self::Admin,
            _ => Self::Member,
        }
    }
}

/// A room; `members` is left out when the answer does not carry them.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Room {
    #[schemars(with = "Uuid")]
    pub id: String,
    /// `null` for a direct room.
    pub name: Option<String>,
    pub is_group: bool,
    pub is_public: bool,
    pub created_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(transform = absent_not_null)]
    pub members: Option<Vec<Member>>,
}

impl Room {
    fn empty() -> Self {
        Self {
            id: String::new(),
            name: None,
            is_group: false,
            is_public: false,
            created_at: None,
            members: None,
        }
    }
}

impl From<chat::Room> for Room {
    fn from(room: chat::Room) -> Self {
        let members = (!room.members.is_empty()).then(|| {
            room.members
                .into_iter()
                .map(|member| Member {
                    role: Role::from_proto(member.role),
                    joined_at: time(member.joined_at.as_ref()),
                    user: member.user.map(User::from),
                })
                .collect()
        });
        Self {
            created_at: time(room.created_at.as_ref()),
            id: room.id,
            name: room.name,
            is_group: room.is_group,
            is_public: room.is_public,
            members,
        }
    }
}

/// A room in `list-rooms`: the room's fields plus what the caller has not read.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RoomSummary {
    #[serde(flatten)]
    pub room: Room,
    /// The room's newest seq minus the caller's read pointer (deleted messages count).
    pub unread_count: u32,
    /// `null` in a room without messages.
    pub last_message: Option<Message>,
}

impl From<chat::RoomSummary> for RoomSummary {
    fn from(summary: chat::RoomSummary) -> Self {
        Self {
            // A summary the service (wrongly) sent without its room shows an empty one, as
            // `user` does for a missing user, so that a room always has its fields.
            room: summary.room.map_or_else(Room::empty, Room::from),
            unread_count: summary.unread_count,
            last_message: summary.last_message.map(Message::from),
        }
    }
}

/// A message; a deleted one keeps its place (`deleted: true`) without content.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    #[schemars(with = "Uuid")]
    pub id: String,
    #[schemars(with = "Uuid")]
    pub room_id: String,
    /// 1 for a room's first message, one more for each next one, without gaps.
    pub seq: u64,
    /// The text, or the caption of a message with attachments; empty once deleted.
    pub content: String,
    pub message_type: MessageType,
    pub sender: Option<User>,
    /// When it was stored.
    pub timestamp: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(transform = absent_not_null)]
    pub edited_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(transform = absent_not_null)]
    #[schemars(with = "Option<Uuid>")]
    pub reply_to_id: Option<String>,
    /// The sender's idempotency key of the send that stored it.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(transform = absent_not_null)]
    pub client_msg_id: Option<String>,
    /// The other member of a direct room.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(transform = absent_not_null)]
    #[schemars(with = "Option<Uuid>")]
    pub receiver_id: Option<String>,
    pub deleted: bool,
    /// The reader blocked the sender (history, `sync`, `list-rooms`); absent otherwise.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub sender_blocked: bool,
    /// The files of an `IMAGE`/`FILE` message, in the order sent; absent when there are none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
    /// How the call of a `CALL` message went; absent on other types and on a tombstone.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(transform = absent_not_null)]
    pub call: Option<CallLog>,
}

/// What a message is: `TEXT` (the default), `IMAGE` or `FILE` (with attachments, or
/// text); `SYSTEM` and `CALL` are written by the server only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MessageType {
    Text,
    Image,
    File,
    System,
    Call,
}

impl MessageType {
    /// A type this edge does not know yet shows as `TEXT`.
    fn from_proto(kind: i32) -> Self {
        match chat::MessageType::try_from(kind) {
            Ok(chat::MessageType::Image) => Self::Image,
            Ok(chat::MessageType::File) => Self::File,
            Ok(chat::MessageType::System) => Self::System,
            Ok(chat::MessageType::Call) => Self::Call,
            _ => Self::Text,
        }
    }
}

impl From<MessageType> for chat::MessageType {
    fn from(kind: MessageType) -> Self {
        match kind {
            MessageType::Text => Self::Text,
            MessageType::Image => Self::Image,
            MessageType::File => Self::File,
            MessageType::System => Self::System,
            MessageType::Call => Self::Call,
        }
    }
}

impl From<chat::Message> for Message {
    fn from(message: chat::Message) -> Self {
        Self {
            message_type: MessageType::from_proto(message.message_type),
            timestamp: time(message.created_at.as_ref()),
            edited_at: time(message.edited_at.as_ref()),
            sender: message.sender.map(User::from),
            id: message.id,
            room_id: message.room_id,
            seq: message.seq,
            content: message.content,
            reply_to_id: message.reply_to_id,
            client_msg_id: message.client_msg_id,
            receiver_id: message.receiver_id,
            deleted: message.deleted,
            sender_blocked: message.sender_blocked,
            attachments: all(message.attachments),
            call: message.call.map(CallLog::from),
        }
    }
}

/// The details of a `CALL` message (docs/API.md "/calls"): written once, when the call ended.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CallLog {
    #[schemars(with = "Uuid")]
    pub call_id: String,
    pub media: Media,
    pub outcome: CallOutcome,
    pub end_reason: EndReason,
    #[schemars(with = "Uuid")]
    pub caller_id: String,
    #[schemars(with = "Uuid")]
    pub callee_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(transform = absent_not_null)]
    pub started_at: Option<String>,
    /// Absent for a call that never connected.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(transform = absent_not_null)]
    pub connected_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(transform = absent_not_null)]
    pub ended_at: Option<String>,
    /// From `connectedAt` to `endedAt`; 0 for a call that never connected.
    pub duration_ms: u64,
}

impl From<calls::CallLog> for CallLog {
    fn from(log: calls::CallLog) -> Self {
        Self {
            media: Media::from_proto(log.media),
            outcome: CallOutcome::from_proto(log.outcome),
            end_reason: EndReason::from_proto(log.end_reason),
            started_at: time(log.started_at.as_ref()),
            connected_at: time(log.connected_at.as_ref()),
            ended_at: time(log.ended_at.as_ref()),
            call_id: log.call_id,
            caller_id: log.caller_id,
            callee_id: log.callee_id,
            duration_ms: log.duration_ms,
        }
    }
}

/// A call's media.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Media {
    Audio,
    Video,
}

impl Media {
    /// A media this edge does not know yet shows as `AUDIO`, the media every call has.
    pub fn from_proto(media: i32) -> Self {
        match calls::Media::try_from(media) {
            Ok(calls::Media::Video) => Self::Video,
            _ => Self::Audio,
        }
    }
}

impl From<Media> for calls::Media {
    fn from(media: Media) -> Self {
        match media {
            Media::Audio => Self::Audio,
            Media::Video => Self::Video,
        }
    }
}

/// How a call went, as its `CALL` message tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CallOutcome {
    Answered,
    Missed,
    Declined,
    Busy,
    Canceled,
    Failed,
}

impl CallOutcome {
    /// An outcome this edge does not know yet shows as `FAILED`.
    fn from_proto(outcome: i32) -> Self {
        match calls::CallOutcome::try_from(outcome) {
            Ok(calls::CallOutcome::Answered) => Self::Answered,
            Ok(calls::CallOutcome::Missed) => Self::Missed,
            Ok(calls::CallOutcome::Declined) => Self::Declined,
            Ok(calls::CallOutcome::Busy) => Self::Busy,
            Ok(calls::CallOutcome::Canceled) => Self::Canceled,
            _ => Self::Failed,
        }
    }
}

/// Why a call ended (docs/API.md "`/calls`", `endReason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EndReason {
    Hangup,
    Declined,
    Missed,
    Busy,
    Canceled,
    ConnectionLost,
    IceFailed,
    Replaced,
}

impl EndReason {
    /// A reason this edge does not know yet shows as `HANGUP`.
    pub fn from_proto(reason: i32) -> Self {
        match calls::EndReason::try_from(reason) {
            Ok(calls::EndReason::Declined) => Self::Declined,
            Ok(calls::EndReason::Missed) => Self::Missed,
            Ok(calls::EndReason::Busy) => Self::Busy,
            Ok(calls::EndReason::Canceled) => Self::Canceled,
            Ok(calls::EndReason::ConnectionLost) => Self::ConnectionLost,
            Ok(calls::EndReason::IceFailed) => Self::IceFailed,
            Ok(calls::EndReason::Replaced) => Self::Replaced,
            _ => Self::Hangup,
        }
    }
}

/// A stored file as a reader sees it, with URLs signed for them (docs/API.md
/// "Attachments"). What the service left unset (the dimensions and variants of a non-image)
/// is absent rather than `null`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Attachment {
    #[schemars(with = "Uuid")]
    pub id: String,
    pub kind: AttachmentKind,
    /// The cleaned file name.
    pub name: String,
    /// The size of the file as served, in bytes.
    pub size: u64,
    /// The type read from the stored bytes, never the uploader's word.
    pub mime_type: String,
    /// As displayed (after the photo's orientation).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(transform = absent_not_null)]
    pub width: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(transform = absent_not_null)]
    pub height: Option<u32>,
    /// Standard base64 (with padding) of the ThumbHash bytes, as JavaScript's `atob` reads it.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(transform = absent_not_null)]
    pub thumbhash: Option<String>,
    pub url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(transform = absent_not_null)]
    pub thumbnail_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(transform = absent_not_null)]
    pub preview_url: Option<String>,
    pub url_expires_at: Option<String>,
}

impl From<media::Attachment> for Attachment {
    fn from(attachment: media::Attachment) -> Self {
        Self {
            kind: AttachmentKind::from_proto(attachment.kind),
            thumbhash: (!attachment.thumbhash.is_empty())
                .then(|| BASE64.encode(&attachment.thumbhash)),
            url_expires_at: time(attachment.url_expires_at.as_ref()),
            id: attachment.id,
            name: attachment.name,
            size: attachment.size,
            mime_type: attachment.mime_type,
            width: attachment.width,
            height: attachment.height,
            url: attachment.url,
            thumbnail_url: attachment.thumbnail_url,
            preview_url: attachment.preview_url,
        }
    }
}

/// An attachment's kind: a JPEG, PNG, GIF or WebP image that decodes, or any other file
/// (served as a download only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AttachmentKind {
    Image,
    File,
}

impl AttachmentKind {
    /// Anything but an image is a file.
    fn from_proto(kind: i32) -> Self {
        match media::AttachmentKind::try_from(kind) {
            Ok(media::AttachmentKind::Image) => Self::Image,
            _ => Self::File,
        }
    }
}

impl From<AttachmentKind> for media::AttachmentKind {
    fn from(kind: AttachmentKind) -> Self {
        match kind {
            AttachmentKind::Image => Self::Image,
            AttachmentKind::File => Self::File,
        }
    }
}

/// One attachment's fresh URLs in `get-attachment-urls`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AttachmentUrls {
    pub url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(transform = absent_not_null)]
    pub thumbnail_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(transform = absent_not_null)]
    pub preview_url: Option<String>,
    pub expires_at: Option<String>,
}

impl From<chat::AttachmentUrls> for AttachmentUrls {
    fn from(urls: chat::AttachmentUrls) -> Self {
        Self {
            expires_at: time(urls.expires_at.as_ref()),
            url: urls.url,
            thumbnail_url: urls.thumbnail_url,
            preview_url: urls.preview_url,
        }
    }
}

/// Where and how to PUT a file's bytes, from `create-upload`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Upload {
    #[schemars(with = "Uuid")]
    pub id: String,
    /// `PUT`.
    pub method: String,
    pub url: String,
    /// The headers the PUT must carry.
    pub headers: HashMap<String, String>,
    /// When `url` stops working.
    pub expires_at: Option<String>,
    /// The room the upload is for (the DM room when it was asked for by `receiverId`).
    #[schemars(with = "Uuid")]
    pub room_id: String,
}

impl From<media::Upload> for Upload {
    fn from(upload: media::Upload) -> Self {
        Self {
            expires_at: time(upload.expires_at.as_ref()),
            id: upload.id,
            method: upload.method,
            url: upload.url,
            headers: upload.headers,
            room_id: upload.room_id,
        }
    }
}

/// `get-media-config`: the limits a client should respect before it uploads.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MediaConfig {
    pub max_upload_bytes: u64,
    /// The most attachments one message carries.
    pub max_attachments: u32,
    /// The MIME types that become `IMAGE` attachments.
    pub image_types: Vec<String>,
    pub quota: Option<UserQuota>,
}

/// The caller's storage: what they store and upload, and the limits (0: unlimited).
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserQuota {
    pub used_bytes: u64,
    pub limit_bytes: u64,
    pub used_today_bytes: u64,
    pub daily_limit_bytes: u64,
}

impl From<media::GetConfigResponse> for MediaConfig {
    fn from(config: media::GetConfigResponse) -> Self {
        Self {
            max_upload_bytes: config.max_upload_bytes,
            max_attachments: config.max_attachments,
            image_types: config.image_types,
            quota: config.quota.map(|quota| UserQuota {
                used_bytes: quota.used_bytes,
                limit_bytes: quota.limit_bytes,
                used_today_bytes: quota.used_today_bytes,
                daily_limit_bytes: quota.daily_limit_bytes,
            }),
        }
    }
}

/// A status as friends see it (`INVISIBLE` only ever to its own user).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    Online,
    Away,
    DoNotDisturb,
    Invisible,
    Offline,
}

impl Status {
    /// A status this edge does not know yet shows as `OFFLINE`.
    pub fn from_proto(status: i32) -> Self {
        match presence::Status::try_from(status) {
            Ok(presence::Status::Online) => Self::Online,
            Ok(presence::Status::Away) => Self::Away,
            Ok(presence::Status::DoNotDisturb) => Self::DoNotDisturb,
            Ok(presence::Status::Invisible) => Self::Invisible,
            _ => Self::Offline,
        }
    }
}

/// `friend-status-changed`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FriendStatusChanged {
    #[schemars(with = "Uuid")]
    pub user_id: String,
    pub status: Status,
    /// The time of the latest change friends could see.
    pub last_seen: Option<String>,
}

impl From<presence::FriendStatusChanged> for FriendStatusChanged {
    fn from(changed: presence::FriendStatusChanged) -> Self {
        Self {
            status: Status::from_proto(changed.status),
            last_seen: time(changed.last_seen.as_ref()),
            user_id: changed.user_id,
        }
    }
}

/// One entry of `friends-status`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FriendStatus {
    #[schemars(with = "Uuid")]
    pub user_id: String,
    pub username: String,
    pub status: Status,
    /// The time of the latest change friends could see.
    pub last_seen: Option<String>,
    /// Whether one of the friend's sessions is live.
    pub is_online: bool,
}

impl From<presence::FriendStatus> for FriendStatus {
    fn from(friend: presence::FriendStatus) -> Self {
        Self {
            status: Status::from_proto(friend.status),
            last_seen: time(friend.last_seen.as_ref()),
            user_id: friend.user_id,
            username: friend.username,
            is_online: friend.is_online,
        }
    }
}

/// `heartbeat`'s ack and `heartbeat-ack`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HeartbeatAck {
    pub server_time: Option<String>,
}

/// `{ room }`: the ack of the events that answer a room, and `room-created`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct RoomAnswer {
    pub room: Option<Room>,
}

impl From<Option<chat::Room>> for RoomAnswer {
    fn from(room: Option<chat::Room>) -> Self {
        Self {
            room: room.map(Room::from),
        }
    }
}

/// `{ message }`: the ack of `send-message` and `edit-message`, and `message-updated`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct MessageAnswer {
    pub message: Option<Message>,
}

impl From<Option<chat::Message>> for MessageAnswer {
    fn from(message: Option<chat::Message>) -> Self {
        Self {
            message: message.map(Message::from),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_have_milliseconds_and_a_z() {
        let timestamp = Timestamp {
            seconds: 1_764_093_845,
            nanos: 120_000_000,
        };
        assert_eq!(
            time(Some(&timestamp)).as_deref(),
            Some("2025-11-25T18:04:05.120Z")
        );
        assert_eq!(time(None), None);
    }

    fn at(seconds: i64) -> Option<Timestamp> {
        Some(Timestamp { seconds, nanos: 0 })
    }

    fn photo() -> media::Attachment {
        media::Attachment {
            id: "a1".into(),
            kind: media::AttachmentKind::Image.into(),
            name: "cat.jpg".into(),
            size: 52_000,
            mime_type: "image/jpeg".into(),
            width: Some(1200),
            height: Some(1600),
            // Bytes whose standard base64 differs from the URL-safe one, and is padded.
            thumbhash: vec![0xfb, 0xff, 0x01, 0x00],
            has_thumbnail: true,
            has_preview: true,
            url: "https://media.example/o".into(),
            thumbnail_url: Some("https://media.example/t".into()),
            preview_url: Some("https://media.example/p".into()),
            url_expires_at: at(1_764_097_200),
            room_id: "r1".into(),
        }
    }

    #[test]
    fn an_image_attachment_has_its_dimensions_thumbhash_and_variant_urls() {
        assert_eq!(
            serde_json::to_value(Attachment::from(photo())).expect("serializes"),
            serde_json::json!({
                "id": "a1",
                "kind": "IMAGE",
                "name": "cat.jpg",
                "size": 52_000,
                "mimeType": "image/jpeg",
                "width": 1200,
                "height": 1600,
                "thumbhash": "+/8BAA==",
                "url": "https://media.example/o",
                "thumbnailUrl": "https://media.example/t",
                "previewUrl": "https://media.example/p",
                "urlExpiresAt": "2025-11-25T19:00:00.000Z",
            })
        );
    }

    #[test]
    fn a_file_attachment_leaves_out_what_only_images_have() {
        let file = media::Attachment {
            kind: media::AttachmentKind::File.into(),
            name: "notes.pdf".into(),
            mime_type: "application/pdf".into(),
            width: None,
            height: None,
            thumbhash: Vec::new(),
            has_thumbnail: false,
            has_preview: false,
            thumbnail_url: None,
            preview_url: None,
            ..photo()
        };
        assert_eq!(
            serde_json::to_value(Attachment::from(file)).expect("serializes"),
            serde_json::json!({
                "id": "a1",
                "kind": "FILE",
                "name": "notes.pdf",
                "size": 52_000,
                "mimeType": "application/pdf",
                "url": "https://media.example/o",
                "urlExpiresAt": "2025-11-25T19:00:00.000Z",
            })
        );
        let unknown_kind = media::Attachment {
            kind: 99,
            ..photo()
        };
        assert_eq!(Attachment::from(unknown_kind).kind, AttachmentKind::File);
    }

    fn message(attachments: Vec<media::Attachment>) -> chat::Message {
        chat::Message {
            id: "m1".into(),
            room_id: "r1".into(),
            seq: 3,
            content: String::new(),
            message_type: chat::MessageType::Image.into(),
            created_at: at(1_764_093_845),
            attachments,
            ..chat::Message::default()
        }
    }

    #[test]
    fn a_message_lists_its_attachments_in_order_and_only_when_it_has_some() {
        let second = media::Attachment {
            id: "a2".into(),
            ..photo()
        };
        let json = serde_json::to_value(Message::from(message(vec![photo(), second])))
            .expect("serializes");
        let ids: Vec<&str> = json["attachments"]
            .as_array()
            .map(|attachments| {
                attachments
                    .iter()
                    .filter_map(|a| a["id"].as_str())
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(ids, ["a1", "a2"]);
        assert_eq!(json["messageType"], "IMAGE");
        assert_eq!(json["content"], "");

        let text = serde_json::to_value(Message::from(message(Vec::new()))).expect("serializes");
        assert!(text.get("attachments").is_none(), "{text}");
    }

    #[test]
    fn a_call_message_carries_its_log_in_camel_case_without_what_is_absent() {
        let log = calls::CallLog {
            call_id: "c1".into(),
            media: calls::Media::Video.into(),
            outcome: calls::CallOutcome::Answered.into(),
            end_reason: calls::EndReason::Hangup.into(),
            caller_id: "u1".into(),
            callee_id: "u2".into(),
            started_at: at(1_764_093_845),
            connected_at: Some(Timestamp {
                seconds: 1_764_093_848,
                nanos: 250_000_000,
            }),
            ended_at: at(1_764_094_100),
            duration_ms: 251_750,
        };
        let call = chat::Message {
            message_type: chat::MessageType::Call.into(),
            content: "Video call · 4:11".into(),
            call: Some(log.clone()),
            ..message(Vec::new())
        };
        let json = serde_json::to_value(Message::from(call)).expect("serializes");
        assert_eq!(json["messageType"], "CALL");
        assert_eq!(
            json["call"],
            serde_json::json!({
                "callId": "c1",
                "media": "VIDEO",
                "outcome": "ANSWERED",
                "endReason": "HANGUP",
                "callerId": "u1",
                "calleeId": "u2",
                "startedAt": "2025-11-25T18:04:05.000Z",
                "connectedAt": "2025-11-25T18:04:08.250Z",
                "endedAt": "2025-11-25T18:08:20.000Z",
                "durationMs": 251_750,
            })
        );

        let missed = calls::CallLog {
            media: calls::Media::Audio.into(),
            outcome: calls::CallOutcome::Missed.into(),
            end_reason: calls::EndReason::Missed.into(),
            connected_at: None,
            duration_ms: 0,
            ..log
        };
        let json = serde_json::to_value(CallLog::from(missed)).expect("serializes");
        assert_eq!(json["media"], "AUDIO");
        assert_eq!(json["outcome"], "MISSED");
        assert_eq!(json["endReason"], "MISSED");
        assert_eq!(json["durationMs"], 0);
        assert!(json.get("connectedAt").is_none(), "{json}");

        let text = serde_json::to_value(Message::from(message(Vec::new()))).expect("serializes");
        assert!(text.get("call").is_none(), "{text}");
    }

    #[test]
    fn every_end_reason_and_outcome_has_its_name() {
        use calls::{CallOutcome as O, EndReason as R};
        use serde_json::json;
        let reasons = [
            (R::Hangup, "HANGUP"),
            (R::Declined, "DECLINED"),
            (R::Missed, "MISSED"),
            (R::Busy, "BUSY"),
            (R::Canceled, "CANCELED"),
            (R::ConnectionLost, "CONNECTION_LOST"),
            (R::IceFailed, "ICE_FAILED"),
            (R::Replaced, "REPLACED"),
        ];
        for (reason, name) in reasons {
            assert_eq!(json!(EndReason::from_proto(reason.into())), json!(name));
        }
        let outcomes = [
            (O::Answered, "ANSWERED"),
            (O::Missed, "MISSED"),
            (O::Declined, "DECLINED"),
            (O::Busy, "BUSY"),
            (O::Canceled, "CANCELED"),
            (O::Failed, "FAILED"),
        ];
        for (outcome, name) in outcomes {
            assert_eq!(json!(CallOutcome::from_proto(outcome.into())), json!(name));
        }
    }

    #[test]
    fn fresh_urls_name_their_expiry() {
        let urls = chat::AttachmentUrls {
            url: "https://media.example/o".into(),
            thumbnail_url: None,
            preview_url: Some("https://media.example/p".into()),
            expires_at: at(1_764_097_200),
        };
        assert_eq!(
            serde_json::to_value(AttachmentUrls::from(urls)).expect("serializes"),
            serde_json::json!({
                "url": "https://media.example/o",
                "previewUrl": "https://media.example/p",
                "expiresAt": "2025-11-25T19:00:00.000Z",
            })
        );
    }

    #[test]
    fn an_upload_says_where_and_how_to_put_the_bytes() {
        let upload = media::Upload {
            id: "u1".into(),
            method: "PUT".into(),
            url: "https://media.example/media/v1/u/u1?e=1&k=a&s=x".into(),
            headers: HashMap::from([("content-length".to_owned(), "52000".to_owned())]),
            expires_at: at(1_764_097_200),
            room_id: "r1".into(),
        };
        assert_eq!(
            serde_json::to_value(Upload::from(upload)).expect("serializes"),
            serde_json::json!({
                "id": "u1",
                "method": "PUT",
                "url": "https://media.example/media/v1/u/u1?e=1&k=a&s=x",
                "headers": { "content-length": "52000" },
                "expiresAt": "2025-11-25T19:00:00.000Z",
                "roomId": "r1",
            })
        );
    }

    #[test]
    fn the_media_config_carries_the_callers_quota() {
        let config = media::GetConfigResponse {
            max_upload_bytes: 104_857_600,
            max_attachments: 10,
            image_types: vec!["image/jpeg".into(), "image/png".into()],
            quota: Some(media::Quota {
                used_bytes: 5,
                limit_bytes: 10_737_418_240,
                used_today_bytes: 5,
                daily_limit_bytes: 0,
            }),
        };
        assert_eq!(
            serde_json::to_value(MediaConfig::from(config)).expect("serializes"),
            serde_json::json!({
                "maxUploadBytes": 104_857_600,
                "maxAttachments": 10,
                "imageTypes": ["image/jpeg", "image/png"],
                "quota": {
                    "usedBytes": 5,
                    "limitBytes": 10_737_418_240_u64,
                    "usedTodayBytes": 5,
                    "dailyLimitBytes": 0,
                },
            })
        );
    }

    #[test]
    fn a_user_without_avatar_shows_null() {
        let user = User::from(friends::User {
            id: "id".into(),
            username: "alice".into(),
            avatar: None,
        });
        assert_eq!(
            serde_json::to_value(user).expect("serializes"),
            serde_json::json!({"id": "id", "username": "alice", "avatar": null})
        );
    }
}
