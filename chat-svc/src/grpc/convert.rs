//! Every conversion of chat-svc's rows and rules into protobuf messages, in one place, so
//! that answers and events show a room, a message or a user the same way.

use std::collections::HashMap;

use parley_common::time::to_timestamp;
use parley_proto::{
    calls::v1::CallLog, chat::v1 as pb, friends::v1 as friends, media::v1 as media,
};
use prost::Message as _;

use crate::{
    domain::{AttachmentId, AttachmentKind, MessageId, MessageType, Role, RoomId, UserId},
    messages::ReadState,
    repo::{Attachment, AttachmentRef, Member, Message, Room},
};

/// A room as clients see it, its members named by `profiles`.
pub fn room(room: &Room, members: &[Member], profiles: &HashMap<UserId, pb::User>) -> pb::Room {
    pb::Room {
        id: room.id.to_string(),
        name: room.name.clone(),
        is_group: room.is_group,
        is_public: room.is_public,
        created_at: Some(to_timestamp(room.created_at)),
        members: members
            .iter()
            .map(|member| pb::Member {
                user: Some(user_or_unknown(profiles, member.user_id)),
                role: role(member.role).into(),
                joined_at: Some(to_timestamp(member.joined_at)),
            })
            .collect(),
    }
}

pub fn role(role: Role) -> pb::Role {
    match role {
        Role::Owner => pb::Role::Owner,
        Role::Admin => pb::Role::Admin,
        Role::Member => pb::Role::Member,
    }
}

/// A message as clients see it, its sender named by `profiles`; in a direct room it names
/// its receiver. Its attachments carry no URLs yet: they are signed for the reader
/// (`attachment_urls`), never stored.
pub fn message(
    message: &Message,
    profiles: &HashMap<UserId, pb::User>,
    receiver: Option<UserId>,
) -> pb::Message {
    pb::Message {
        id: message.id.to_string(),
        room_id: message.room_id.to_string(),
        seq: u64::try_from(message.seq).unwrap_or_default(),
        content: message.content.clone().unwrap_or_default(),
        message_type: message_type(message.message_type).into(),
        sender: Some(user_or_unknown(profiles, message.sender_id)),
        created_at: Some(to_timestamp(message.created_at)),
        edited_at: message.edited_at.map(to_timestamp),
        reply_to_id: message.reply_to_id.map(|id| id.to_string()),
        client_msg_id: message.client_msg_id.clone(),
        receiver_id: receiver.map(|id| id.to_string()),
        deleted: message.deleted_at.is_some(),
        // Per reader: set by the reads that know who reads (`Messages::render_all`).
        sender_blocked: false,
        // A tombstone shows none, whatever was read.
        attachments: if message.deleted_at.is_some() {
            Vec::new()
        } else {
            message.attachments.iter().map(attachment).collect()
        },
        // A tombstone shows no call either (its column is cleared on delete anyway).
        call: if message.deleted_at.is_some() {
            None
        } else {
            message.call.as_deref().and_then(call_log)
        },
    }
}

/// A stored call log. Only chat-svc writes the column, from a log it decoded, so a row that
/// does not decode is a bug: logged, and the message shown without its details.
fn call_log(stored: &[u8]) -> Option<CallLog> {
    CallLog::decode(stored)
        .inspect_err(|error| tracing::error!(%error, "a stored call log does not decode"))
        .ok()
}

/// An attachment as clients see it, without URLs.
pub fn attachment(attachment: &Attachment) -> media::Attachment {
    media::Attachment {
        id: attachment.attachment_id.to_string(),
        kind: attachment_kind(attachment.kind).into(),
        name: attachment.name.clone(),
        size: u64::try_from(attachment.size).unwrap_or_default(),
        mime_type: attachment.mime_type.clone(),
        width: attachment.width.and_then(|width| u32::try_from(width).ok()),
        height: attachment
            .height
            .and_then(|height| u32::try_from(height).ok()),
        thumbhash: attachment.thumbhash.clone().unwrap_or_default(),
        has_thumbnail: attachment.has_thumbnail,
        has_preview: attachment.has_preview,
        url: String::new(),
        thumbnail_url: None,
        preview_url: None,
        url_expires_at: None,
        room_id: attachment.room_id.to_string(),
    }
}

pub fn attachment_kind(kind: AttachmentKind) -> media::AttachmentKind {
    match kind {
        AttachmentKind::Image => media::AttachmentKind::Image,
        AttachmentKind::File => media::AttachmentKind::File,
    }
}

/// The kind a request names; `None` when unspecified or unknown.
pub fn attachment_kind_of(raw: i32) -> Option<AttachmentKind> {
    match media::AttachmentKind::try_from(raw).ok()? {
        media::AttachmentKind::Image => Some(AttachmentKind::Image),
        media::AttachmentKind::File => Some(AttachmentKind::File),
        media::AttachmentKind::Unspecified => None,
    }
}

/// An attachment media-svc resolved (`id`, as asked), to be stored as the `position`th of
/// `message`. A kind media-svc did not name is a file: never shown inline.
pub fn resolved_attachment(
    id: AttachmentId,
    resolved: media::Attachment,
    message: MessageId,
    room: RoomId,
    position: i16,
) -> Attachment {
    Attachment {
        attachment_id: id,
        message_id: message,
        room_id: room,
        position,
        kind: attachment_kind_of(resolved.kind).unwrap_or(AttachmentKind::File),
        name: resolved.name,
        size: i64::try_from(resolved.size).unwrap_or(i64::MAX),
        mime_type: resolved.mime_type,
        width: resolved.width.and_then(|width| i32::try_from(width).ok()),
        height: resolved
            .height
            .and_then(|height| i32::try_from(height).ok()),
        thumbhash: Some(resolved.thumbhash).filter(|hash| !hash.is_empty()),
        has_thumbnail: resolved.has_thumbnail,
        has_preview: resolved.has_preview,
    }
}

pub fn attachment_ref(found: &AttachmentRef) -> pb::AttachmentRef {
    pb::AttachmentRef {
        attachment_id: found.attachment_id.to_string(),
        message_id: found.message_id.to_string(),
        room_id: found.room_id.to_string(),
        message_deleted: found.message_deleted,
    }
}

pub fn message_type(message_type: MessageType) -> pb::MessageType {
    match message_type {
        MessageType::Text => pb::MessageType::Text,
        MessageType::Image => pb::MessageType::Image,
        MessageType::File => pb::MessageType::File,
        MessageType::Call => pb::MessageType::Call,
        MessageType::System => pb::MessageType::System,
    }
}

/// The type a client asked for; an unknown or unspecified one is text.
pub fn message_type_of(raw: i32) -> MessageType {
    match pb::MessageType::try_from(raw).unwrap_or(pb::MessageType::Text) {
        pb::MessageType::Text | pb::MessageType::Unspecified => MessageType::Text,
        pb::MessageType::Image => MessageType::Image,
        pb::MessageType::File => MessageType::File,
        pb::MessageType::Call => MessageType::Call,
        pb::MessageType::System => MessageType::System,
    }
}

pub fn read_state(read: ReadState) -> pb::MarkReadResponse {
    pb::MarkReadResponse {
        room_id: read.room.to_string(),
        message_id: read.message.map(|id| id.to_string()),
        unread_count: read.unread_count,
    }
}

/// A user as friends-svc knows them, as chat messages show them.
pub fn user(user: friends::User) -> pb::User {
    pb::User {
        id: user.id,
        username: user.username,
        avatar: user.avatar,
    }
}

/// A user's profile, or a placeholder naming only the id.
pub fn user_or_unknown(profiles: &HashMap<UserId, pb::User>, id: UserId) -> pb::User {
    profiles.get(&id).cloned().unwrap_or_else(|| pb::User {
        id: id.to_string(),
        username: String::new(),
        avatar: None,
    })
}
